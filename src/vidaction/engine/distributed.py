"""Multi-process training under ``torchrun``: NCCL on CUDA, gloo on CPU."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def init_distributed() -> bool:
    """Join the process group described by torchrun's environment; False when run alone."""
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # torchrun keeps one key-value store across the restarts of a group; without a prefix per attempt
    # a restarted rank would read the addresses its dead predecessors published and never connect.
    store, rank_, size = next(dist.rendezvous("env://"))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(backend=backend, store=dist.PrefixStore(f"vidaction/attempt{attempt}", store),
                            rank=rank_, world_size=size)
    return True


def under_torchrun() -> bool:
    """Whether torchrun (torch.distributed.elastic) started this process, as one of any number."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank; torchrun's RANK before the group is joined or after it is left."""
    return dist.get_rank() if is_distributed() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def local_device() -> torch.device:
    """This process's device: its CUDA device under torchrun, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` (a list of one when run alone)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
