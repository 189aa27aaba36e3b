"""Models: the registry (``create_model``, ``create_model_from_arch``, ``list_models``), backbones,
attention blocks, the detector, HCML's and GAF's wrappers, weights."""

from vidaction.models import backbones, detector, generative  # noqa: F401  (registers the builders)
from vidaction.models.motion import hcml  # noqa: F401  (registers the builder)
from vidaction.models.pretrained import LoadReport, load_pretrained
from vidaction.models.registry import (ModelNotFoundError, create_model, create_model_from_arch, list_models,
                                       register_model)

__all__ = ["LoadReport", "ModelNotFoundError", "create_model", "create_model_from_arch", "list_models",
           "load_pretrained", "register_model"]
