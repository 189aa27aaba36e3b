"""The model registry: ``@register_model`` builders, ``create_model(name, ...)``, ``list_models()``."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from typing import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


class ModelNotFoundError(ValueError):
    """An unknown model name or builder option; the message lists what is known."""


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``builder`` under its function name; a second builder of the same name is an error."""
    name = builder.__name__
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered by {_REGISTRY[name].__module__}")
    _REGISTRY[name] = builder
    return builder


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted, optionally filtered by a shell-style ``pattern`` (``'tsm_*'``)."""
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def model_options(name: str) -> list[str]:
    """Keyword options the builder of ``name`` accepts (besides ``num_classes`` and ``num_frames``)."""
    if name not in _REGISTRY:
        create_model(name, num_classes=1, num_frames=1)
    return [k for k in inspect.signature(_REGISTRY[name]).parameters if k not in ("num_classes", "num_frames")]


def create_model(name: str, num_classes: int | tuple[int, ...], num_frames: int | None = None, **options) -> nn.Module:
    """Build the registered model ``name``; ``options`` are its builder's keyword arguments.

    ``num_frames`` is the clip length the model is built for; it may be left out for models that
    work at any length (Inception-I3D: ``create_model("i3d", num_classes=400, in_channels=3)``), and
    the builder's default applies. The model stays on the CPU in float32; moving, compiling and
    wrapping are the caller's business.
    """
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ModelNotFoundError(f"unknown model {name!r}{hint} Known models: {', '.join(list_models())}")
    builder = _REGISTRY[name]
    accepted = inspect.signature(builder).parameters
    for key in options:
        if key not in accepted:
            allowed = [k for k in accepted if k not in ("num_classes", "num_frames")]
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelNotFoundError(f"model {name!r} has no option {key!r}{hint} Options: {', '.join(allowed)}")
    if num_frames is None:
        default = accepted["num_frames"].default if "num_frames" in accepted else inspect.Parameter.empty
        if default is inspect.Parameter.empty:
            raise ModelNotFoundError(f"model {name!r} is built for a clip length: pass num_frames")
        num_frames = default
    return builder(num_classes=num_classes, num_frames=num_frames, **options)
