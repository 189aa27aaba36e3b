"""vidaction.models."""
