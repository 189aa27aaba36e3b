"""vidaction.models.layers."""
