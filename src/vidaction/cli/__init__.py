"""vidaction.cli."""
