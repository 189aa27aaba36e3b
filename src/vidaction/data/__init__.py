"""vidaction.data."""
