"""Where a run executes, in one place: its device, its process group, its seeds and its run folder.

- :func:`resolve_device`: ``train.device`` (``"auto"``: this process's CUDA device under torchrun,
  ``LOCAL_RANK``, else the CPU).
- :func:`distributed_session`: joins torchrun's process group for the length of a ``with`` block
  and leaves it afterwards, whatever happens inside (nested sessions join once).
- :class:`Runtime`: the device with the CUDA-only switches (AMP, channels_last), moving batches
  and :meth:`Runtime.prepare` putting a model on the device, behind SyncBatchNorm,
  DistributedDataParallel and ``torch.compile`` as configured.
- :func:`seed_everything`, :func:`rng_state`, :func:`set_rng_state`: the Python, NumPy, torch and
  CUDA generators (checkpoints carry them, so a resumed run draws what the uninterrupted one drew).
- :func:`prepare_run_folder`: the run folder with the resolved ``config.yaml`` and ``classes.txt``.
- :func:`log_message`: a line on rank 0 that does not break the progress bars.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from vidaction.config import TrainConfig, save_config
from vidaction.engine import distributed
from vidaction.io import FileWriteError


def log_message(message: str) -> None:
    """Print ``message`` on rank 0 without breaking the progress bars."""
    if distributed.is_main_process():
        tqdm.write(message, file=sys.stderr)


def resolve_device(name: str = "auto") -> torch.device:
    """``name`` as a device; ``"auto"`` is this process's CUDA device (torchrun's ``LOCAL_RANK``) or the CPU."""
    return distributed.local_device() if name == "auto" else torch.device(name)


@contextmanager
def distributed_session() -> Iterator[None]:
    """Join torchrun's process group (gloo on CPU, NCCL on CUDA) for the block; leave it afterwards.
    A session inside another one leaves the group to the outer one.

    A block that ends normally waits for every rank before the group is destroyed, so that no rank
    tears its connections down while another still uses them (a gloo rank that left first was seen
    to abort at exit once, under load); a block that raises leaves at once, as the other ranks may
    never arrive."""
    joined_here = not distributed.is_distributed() and distributed.init_distributed()
    try:
        yield
    except BaseException:
        if joined_here:
            distributed.cleanup()
        raise
    if joined_here:
        distributed.barrier()
        distributed.cleanup()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The generators' states as tensors and plain values, so a checkpoint holding them loads with
    ``torch.load(weights_only=True)``: Python's Mersenne Twister words and NumPy's key as int64 tensors."""
    version, words, gauss_next = random.getstate()
    bit_generator, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = {"python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss_next": gauss_next},
             "numpy": {"bit_generator": str(bit_generator), "key": torch.from_numpy(key.astype(np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s generators; also takes the tuples of checkpoints written before the
    states were plain data (``--trust-checkpoint`` loads those)."""
    python, numpy_state = state["python"], state["numpy"]
    if isinstance(python, dict):
        python = (python["version"], tuple(python["state"].tolist()), python["gauss_next"])
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state["bit_generator"], numpy_state["key"].numpy().astype(np.uint32), numpy_state["pos"],
                       numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    random.setstate(python)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def prepare_run_folder(out_dir: str | Path, cfg: Any, class_names: Sequence[str]) -> Path:
    """Create ``out_dir`` on rank 0 with the resolved ``config.yaml`` and ``classes.txt``; its path."""
    out = Path(out_dir)
    if distributed.is_main_process():
        try:
            out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, out / "config.yaml")
            (out / "classes.txt").write_text("\n".join(class_names) + "\n")
        except OSError as exc:
            raise FileWriteError(exc.errno, f"cannot write the run folder {out}: {exc.strerror or exc}") from exc
    return out


def convert_sync_batchnorm(model: nn.Module, trainable: list[nn.Module] | None
                           ) -> tuple[nn.Module, list[nn.Module] | None]:
    """``model`` with SyncBatchNorm layers, and ``trainable`` as the same-named modules of the
    converted model: the conversion replaces BatchNorm modules, so a trainable BatchNorm listed by
    object (HCML's stages list ``backbone.bn1``) would otherwise be left behind in eval mode."""
    names = None if trainable is None else [_module_name(model, module) for module in trainable]
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return converted, None if names is None else [converted.get_submodule(name) for name in names]


def _module_name(model: nn.Module, module: nn.Module) -> str:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError(f"trainable module {type(module).__name__} is not part of the model")


@dataclass
class Runtime:
    """A device and the switches that apply on it: AMP and channels_last on CUDA only."""

    device: torch.device
    use_amp: bool = False
    channels_last: bool = False

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> "Runtime":
        device = resolve_device(cfg.device)
        cuda = device.type == "cuda"
        return cls(device, cfg.amp and cuda, cfg.channels_last and cuda)

    @property
    def main(self) -> bool:
        return distributed.is_main_process()

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, enabled=self.use_amp)

    def clip_to_device(self, clip: torch.Tensor) -> torch.Tensor:
        """``clip`` on the device, channels-last (3D) when that is on."""
        clip = clip.to(self.device, non_blocking=True)
        if self.channels_last and clip.dim() == 5:
            clip = clip.contiguous(memory_format=torch.channels_last_3d)
        return clip

    def prepare(self, model: nn.Module, trainable: list[nn.Module] | None = None, sync_bn: bool = False,
                compile: bool = False, find_unused_parameters: bool = False
                ) -> tuple[nn.Module, nn.Module, list[nn.Module] | None]:
        """``(model, net, trainable)``: the model on the device (SyncBatchNorm when ``sync_bn`` with
        several CUDA processes), ``net`` what to call (DistributedDataParallel with several
        processes, compiled on request) and ``trainable`` mapped into the converted model."""
        several = distributed.world_size() > 1
        if sync_bn and self.device.type == "cuda" and several:
            model, trainable = convert_sync_batchnorm(model, trainable)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        net: nn.Module = model
        if several:
            net = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                          find_unused_parameters=find_unused_parameters)
        if compile:
            net = torch.compile(net)
        return model, net, trainable
