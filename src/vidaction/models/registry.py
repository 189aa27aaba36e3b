"""The model registry: ``@register_model`` builders, ``create_model(name, ...)``, ``list_models()``.

Every module ``create_model`` returns carries ``model.arch = {"name": name, "kwargs": {...}}``: the
arguments it was built with (``num_classes``, ``num_frames`` where the builder takes one, and the
options), as plain JSON (tuples become lists), so that a checkpoint holding it rebuilds its network
with :func:`create_model_from_arch` without guessing. ``arch`` is a plain attribute, not a buffer:
state dicts do not change, and ``copy.deepcopy`` keeps it.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from typing import Any, Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_BUILT_FOR = ("num_classes", "num_frames")


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
    return [k for k in inspect.signature(_builder(name)).parameters if k not in _BUILT_FOR]


def create_model(name: str, num_classes: int | tuple[int, ...], num_frames: int | None = None, **options) -> nn.Module:
    """Build the registered model ``name``; ``options`` are its builder's keyword arguments.

    ``num_frames`` is the clip length the model is built for; it may be left out for models that
    work at any length (Inception-I3D: ``create_model("i3d", num_classes=400, in_channels=3)``), and
    the builder's default applies; builders without a ``num_frames`` argument (the detector
    ``afsd``) take none. The model stays on the CPU in float32; moving, compiling and wrapping are
    the caller's business. The returned module's ``arch`` rebuilds it (module docstring).
    """
    builder = _builder(name)
    accepted = inspect.signature(builder).parameters
    for key in options:
        if key not in accepted:
            allowed = [k for k in accepted if k not in _BUILT_FOR]
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelNotFoundError(f"model {name!r} has no option {key!r}{hint} Options: {', '.join(allowed)}")
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if "num_frames" in accepted:
        if num_frames is None:
            num_frames = accepted["num_frames"].default
            if num_frames is inspect.Parameter.empty:
                raise ModelNotFoundError(f"model {name!r} is built for a clip length: pass num_frames")
        kwargs["num_frames"] = num_frames
    elif num_frames is not None:
        raise ModelNotFoundError(f"model {name!r} works at any clip length: it takes no num_frames")
    kwargs.update(options)
    arch = {"name": name, "kwargs": {key: _plain(value, key) for key, value in kwargs.items()}}
    model = builder(**kwargs)
    model.arch = arch
    return model


def create_model_from_arch(arch: dict) -> nn.Module:
    """Rebuild the network a ``model.arch`` record describes (``{"name": ..., "kwargs": {...}}``)."""
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str) or not isinstance(arch.get("kwargs"), dict):
        raise ValueError(f"an arch record is {{'name': str, 'kwargs': dict}}, got {arch!r}")
    return create_model(arch["name"], **arch["kwargs"])


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ModelNotFoundError(f"unknown model {name!r}{hint} Known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def _plain(value: Any, key: str) -> Any:
    """``value`` as JSON data (tuples and lists as lists); anything else cannot be recorded in ``arch``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(item, key) for item in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(item, key) for k, item in value.items()}
    raise ValueError(f"option {key!r} is a {type(value).__name__}: model options must be plain data "
                     "(numbers, strings, lists, dicts) so that model.arch can rebuild the model")
