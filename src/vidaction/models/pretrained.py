"""Load weights from official TSM checkpoints, torchvision ResNets and our own checkpoints.

Official TSM checkpoints (``{'state_dict': ...}``) name parameters
``module.base_model.layer1.0.conv1.net.weight`` (``conv1`` wrapped by the shift as ``.net``) and
``module.new_fc.weight``; torchvision ImageNet ResNets ``layer1.0.conv1.weight`` and ``fc.weight``.
Our ResNets use torchvision's names, so conversion strips the TSM wrappers and maps ``new_fc`` to
``fc``. TSM-MobileNetV2 (:mod:`~vidaction.models.backbones.mobilenet_v2_tsm`) keeps TSM's flat
``features.N.conv.M`` names: torchvision's nested ``features.N.conv.A.B`` groups and ``classifier.1``
are renamed to them, the TSM online demo's ``classifier`` to ``fc``. A classifier of another size
is skipped with a note (fine-tuning); any other shape mismatch is reported, never loaded. Our own
checkpoints of a training-time wrapper (HCML's backbone with its side branches) give the backbone's
weights, so an HCML run can initialise a fine-tuning run.

Every file is read by :func:`load_torch_file` with ``torch.load(weights_only=True)``: tensors and plain
data (dict, list, tuple, str, int, float, bool, None) only, never code. A file holding other Python
objects is refused (:class:`UnsafeCheckpointError`) unless it is read inside
:func:`trusted_checkpoints` (the command line's ``--trust-checkpoint``), for checkpoints written by
vidaction before its checkpoints held plain data only (NumPy RNG states).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from vidaction.io import atomic_torch_save
from vidaction.models.hub import is_weights_name

CLASSIFIER_PREFIX = "fc."
# Training-time wrappers (HCML's HCMLNet) hold the network as ``backbone.*`` beside side branches;
# weights loaded from their checkpoints are the backbone's alone.
TRAINING_WRAPPER_PREFIX = "backbone."
# Whether checkpoints are read with full unpickling: set only inside ``trusted_checkpoints``.
_trusted = False


class UnsafeCheckpointError(ValueError):
    """A file holding Python objects other than tensors and plain data: loading it could run code."""


@contextmanager
def trusted_checkpoints(trust: bool = True) -> Iterator[None]:
    """Within the block (process-wide), read checkpoints with full unpickling when ``trust`` is set.

    UNSAFE: unpickling runs whatever code the file names. Only for files you trust, such as
    checkpoints written by vidaction before its checkpoints held plain data only; the command
    line's ``--trust-checkpoint``.
    """
    global _trusted
    previous, _trusted = _trusted, trust
    try:
        yield
    finally:
        _trusted = previous


def load_torch_file(path: str | Path, mmap: bool = False) -> Any:
    """The contents of a ``torch.save`` file on the CPU, read with ``weights_only=True`` (full
    unpickling inside :func:`trusted_checkpoints`); ``mmap`` maps the tensors from the file.

    Raises ``FileNotFoundError`` for a missing or unreadable file and :class:`UnsafeCheckpointError`,
    naming the first forbidden object, for a file holding anything but tensors and plain data.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not _trusted, mmap=mmap)
    except pickle.UnpicklingError as exc:
        forbidden = re.search(r"GLOBAL [\w.]+", str(exc))
        if forbidden is None or _trusted:
            raise FileNotFoundError(f"{path}: not a loadable weights file ({_first_reason(exc)})") from exc
        raise UnsafeCheckpointError(
            f"{path} holds Python objects other than tensors and plain data ({forbidden.group()}); refusing to "
            "load it. If you trust this file (a checkpoint written by vidaction before 2026-12), pass "
            "--trust-checkpoint") from exc
    except (RuntimeError, EOFError) as exc:
        raise FileNotFoundError(f"{path}: not a loadable weights file ({_first_reason(exc)})") from exc


def _first_reason(exc: BaseException) -> str:
    """The line of torch's message that says what is wrong, without its advice on ``weights_only``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    told = [line for line in lines[1:] if not line.startswith(("Please", "Check the documentation"))]
    return (told or lines or [type(exc).__name__])[0]


@dataclass
class LoadReport:
    """What ``load_pretrained`` did: keys the model lacked or the file lacked, and why."""

    source_format: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = [f"{self.source_format} weights: {self.loaded} tensors loaded, {len(self.missing)} missing, "
                 f"{len(self.unexpected)} unexpected, {len(self.mismatched)} shape mismatches"]
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected),
                            ("mismatched", self.mismatched)):
            if keys:
                shown = ", ".join(keys[:10]) + (f", ... ({len(keys) - 10} more)" if len(keys) > 10 else "")
                lines.append(f"  {title}: {shown}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def read_state_dict(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    """A flat ``{name: tensor}`` and its detected format from a path or an in-memory checkpoint."""
    obj = load_torch_file(source) if isinstance(source, (str, Path)) else source
    if not isinstance(obj, Mapping):
        raise FileNotFoundError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    if obj.get("format") == "vidaction" or ("model" in obj and isinstance(obj["model"], Mapping)):
        state = dict(obj["model"])
        if any(k.startswith(TRAINING_WRAPPER_PREFIX) for k in state):
            state = {k.removeprefix(TRAINING_WRAPPER_PREFIX): v for k, v in state.items()
                     if k.startswith(TRAINING_WRAPPER_PREFIX)}
        return state, "vidaction"
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith(("module.base_model.", "base_model.")) or "new_fc." in k for k in state):
        return _from_tsm(state), "official TSM"
    if "classifier.1.weight" in state:
        return _from_torchvision_mobilenet_v2(state), "torchvision"
    if "classifier.weight" in state and "features.0.0.weight" in state:
        return {re.sub(r"^classifier\.", CLASSIFIER_PREFIX, k): v for k, v in state.items()}, "TSM online demo"
    fc = state.get("fc.weight")
    return state, "torchvision" if fc is not None and fc.shape[0] == 1000 else "state dict"


_NESTED_BLOCK_KEY = re.compile(r"^(features\.\d+\.conv\.)(\d+)\.(\d+)\.(.+)$")
_PLAIN_BLOCK_KEY = re.compile(r"^(features\.\d+\.conv\.)(\d+)\.([a-z_]+)$")


def _from_torchvision_mobilenet_v2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's MobileNetV2 names in TSM's flat layout: a block's ``g`` conv-BN-ReLU6 groups
    ``conv.A.B`` become ``conv.{3A + B}``, the projection conv and BN after them ``conv.A`` (``A >= g``)
    become ``conv.{2g + A}``; ``classifier.1`` (after dropout) is ``fc``."""
    groups: dict[str, int] = {}
    for key in state:
        if nested := _NESTED_BLOCK_KEY.match(key):
            groups[nested[1]] = max(groups.get(nested[1], 0), int(nested[2]) + 1)
    converted = {}
    for key, value in state.items():
        if nested := _NESTED_BLOCK_KEY.match(key):
            key = f"{nested[1]}{3 * int(nested[2]) + int(nested[3])}.{nested[4]}"
        elif plain := _PLAIN_BLOCK_KEY.match(key):
            key = f"{plain[1]}{2 * groups.get(plain[1], 0) + int(plain[2])}.{plain[3]}"
        converted[key.replace("classifier.1.", CLASSIFIER_PREFIX, 1)] = value
    return converted


def _from_tsm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    converted = {}
    for key, value in state.items():
        name = key.removeprefix("module.").removeprefix("base_model.")
        name = name.replace(".net.", ".").replace("new_fc.", CLASSIFIER_PREFIX)
        converted[name] = value
    return converted


def _into_wrapped_blocks(state: dict[str, torch.Tensor], own: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename ``layerX.Y.*`` to ``layerX.Y.block.*`` where the model wraps that block (non-local
    models), so plain ImageNet / TSM weights load into them."""
    wrapped = {key.replace(".block.", ".", 1): key for key in own if ".block." in key}
    return {wrapped.get(key, key) if key not in own else key: value for key, value in state.items()}


def load_pretrained(model: nn.Module, source: str | Path | Mapping[str, Any], strict: bool = False) -> LoadReport:
    """Load ``source`` into ``model`` in place and report what matched.

    ``strict=True`` raises ``ValueError`` (with the report) unless every key matched. A wrapper that
    holds its backbone as ``trunk`` (GAF's recognition models) takes a backbone's own weights into
    the trunk: keys without the ``trunk.`` prefix load there. A name of published weights
    (:mod:`vidaction.models.hub`, e.g. ``"tsm_r50.kinetics400_8f"``, or ``"imagenet"`` for the
    model's family) is fetched to torch hub's cache first; 2D ImageNet ResNets are inflated for 3D models.
    """
    if is_weights_name(source):
        source = named_weights(model, source)
    state, source_format = read_state_dict(source)
    trunk = getattr(model, "trunk", None)
    if isinstance(trunk, nn.Module) and state and not any(key.startswith("trunk.") for key in state):
        return load_pretrained(trunk, state, strict)
    own = model.state_dict()
    state = _into_wrapped_blocks(state, own)
    # Models whose classifier is not ``fc`` (Inception-I3D's ``logits``) name its prefix.
    classifier = getattr(model, "classifier_prefix", CLASSIFIER_PREFIX)
    report = LoadReport(source_format)
    usable = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            if key.startswith(classifier):
                report.notes.append(f"classifier {key} {tuple(value.shape)} skipped: the model has "
                                    f"{tuple(own[key].shape)} (a new classifier is trained)")
            else:
                report.mismatched.append(f"{key} {tuple(value.shape)} vs {tuple(own[key].shape)}")
        else:
            usable[key] = value
    skipped_fc = any(note.startswith("classifier") for note in report.notes)
    for key in own:
        if key in state or key.endswith("num_batches_tracked"):
            continue
        if not (skipped_fc and key.startswith(classifier)):
            report.missing.append(key)
    if source_format == "torchvision" and "fc.weight" in usable:
        report.notes.append("ImageNet classifier (1000 classes) loaded as the model's classifier")
    model.load_state_dict(usable, strict=False)
    report.loaded = len(usable)
    if strict and not report.clean:
        raise ValueError(f"checkpoint does not match the model:\n{report}")
    return report


def named_weights(model: nn.Module, name: str) -> Path | dict[str, torch.Tensor]:
    """The verified cached file of published weights ``name`` for ``model`` (downloaded if needed),
    or its 2D ResNet weights inflated to ``model``'s 3D kernels."""
    from vidaction.models.hub import fetch_weights, get_weights

    entry = get_weights(name, getattr(model, "arch", {}).get("name"))
    path = fetch_weights(entry.name)
    if not entry.inflate:
        return path
    from vidaction.models.backbones.video_resnet import inflate_2d_state_dict

    return inflate_2d_state_dict(path, model)


def convert_checkpoint(src: str | Path, dst: str | Path, arch: str, num_classes: int, num_frames: int) -> LoadReport:
    """Load foreign weights into ``arch`` and write them in our format (atomically)."""
    from vidaction.models.registry import create_model

    model = create_model(arch, num_classes=num_classes, num_frames=num_frames)
    report = load_pretrained(model, src)
    atomic_torch_save(weights_record(model), dst)
    return report


def weights_record(model: nn.Module) -> dict:
    """What a vidaction weights file holds: ``{"format": "vidaction", "arch": model.arch, "model":
    state dict, "pretrained_cfg"}``; ``arch`` (:func:`~vidaction.models.registry.create_model`'s
    record) rebuilds the network without guessing."""
    return {"format": "vidaction", "arch": model.arch, "model": model.state_dict(),
            "pretrained_cfg": dict(getattr(model, "pretrained_cfg", {}))}


def model_from_record(record: dict) -> nn.Module:
    """The network of a vidaction weights record, weights loaded: its ``arch`` record, or (files
    written before the records) a registered name with ``num_classes`` and ``num_frames``."""
    from vidaction.models.registry import create_model, create_model_from_arch

    arch = record["arch"]
    if isinstance(arch, dict):
        model = create_model_from_arch(arch)
    else:
        model = create_model(arch, num_classes=record["num_classes"], num_frames=record.get("num_frames"))
    model.load_state_dict(record["model"])
    model.pretrained_cfg = dict(record.get("pretrained_cfg") or getattr(model, "pretrained_cfg", {}))
    return model
