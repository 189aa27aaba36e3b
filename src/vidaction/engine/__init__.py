"""vidaction.engine."""
