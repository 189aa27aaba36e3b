"""Models: the registry (``create_model``, ``list_models``), backbones, attention blocks, weights."""

from vidaction.models import backbones, generative  # noqa: F401  (registers the builders)
from vidaction.models.pretrained import LoadReport, load_pretrained
from vidaction.models.registry import ModelNotFoundError, create_model, list_models, register_model

__all__ = ["LoadReport", "ModelNotFoundError", "create_model", "list_models", "load_pretrained", "register_model"]
