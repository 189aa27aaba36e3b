"""vidaction.models.backbones."""
