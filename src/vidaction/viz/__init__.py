"""vidaction.viz."""
