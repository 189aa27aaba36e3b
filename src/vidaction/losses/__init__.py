"""vidaction.losses."""
