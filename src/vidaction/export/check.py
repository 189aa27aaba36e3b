"""Parity of an exported file with PyTorch: random inputs of an export's :class:`TensorSpec` list,
the file read back and run (onnxruntime on the CPU, ``torch.jit.load``, ``torch.export.load``), and
the eager network's outputs it must reproduce.

The eager reference is the network as trained, before any export-friendly replacement: a
classifier's ``model(clip)``, a detector's :func:`~vidaction.evaluation.postprocess.decode_windows`
of ``model(inputs, mask)``, both in eval mode without gradients.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from vidaction.evaluation.postprocess import decode_windows
from vidaction.export.source import ExportSource, TensorSpec


def example_inputs(specs: Sequence[TensorSpec], batch: int, seed: int = 0) -> list[Tensor]:
    """Inputs of ``specs`` with a batch of ``batch``: float inputs from N(0, 1), masks of valid
    prefixes (every window whole but the second, valid on its first two thirds)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in specs:
        shape = [batch, *spec.shape[1:]]
        if spec.dtype == "bool":
            mask = torch.ones(shape, dtype=torch.bool)
            mask[1:2, max(1, 2 * shape[1] // 3):] = False
            tensors.append(mask)
        else:
            tensors.append(torch.randn(shape, generator=generator))
    return tensors


def as_outputs(result: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """A graph's output as a list of tensors."""
    return [result] if isinstance(result, Tensor) else list(result)


@torch.no_grad()
def eager_outputs(source: ExportSource, inputs: Sequence[Tensor]) -> list[Tensor]:
    """What the exported graph of ``source`` must compute on ``inputs``: the trained network's
    outputs in PyTorch (module docstring)."""
    model = source.model.eval()
    if source.task == "detection":
        return list(decode_windows(model(*inputs)))
    return [model(*inputs)]


def load_exported(path: str | Path, fmt: str, threads: int = 0) -> Callable[..., list[Tensor]]:
    """``run(*inputs) -> outputs`` of an exported file: onnxruntime's CPU provider for ``"onnx"``
    (``threads`` intra-op threads, 0: its default), ``torch.jit.load`` for ``"torchscript"``,
    ``torch.export.load(...).module()`` otherwise."""
    if fmt == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [entry.name for entry in session.get_inputs()]

        def run(*inputs: Tensor) -> list[Tensor]:
            feed = {name: np.ascontiguousarray(x.numpy()) for name, x in zip(names, inputs)}
            return [torch.from_numpy(out) for out in session.run(None, feed)]
        return run
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path)) if fmt == "torchscript" else torch.export.load(str(path)).module()

    def run_module(*inputs: Tensor) -> list[Tensor]:
        with torch.no_grad():
            return as_outputs(module(*inputs))
    return run_module


class Parity(NamedTuple):
    """``max_abs_diff``: the largest ``|exported - PyTorch|`` over all outputs; ``max_abs_output``: the
    largest ``|PyTorch|``, the scale float32 rounding is relative to."""

    max_abs_diff: float
    max_abs_output: float


def parity(path: str | Path, fmt: str, source: ExportSource, specs: Sequence[TensorSpec], batch: int,
           seed: int = 1) -> Parity:
    """The exported file against PyTorch on random inputs of ``specs`` with a batch of ``batch``."""
    inputs = example_inputs(specs, batch, seed)
    exported = load_exported(path, fmt)(*inputs)
    expected = eager_outputs(source, inputs)
    return Parity(max(float((got.double() - want.double()).abs().max()) for got, want in zip(exported, expected)),
                  max(float(want.abs().max()) for want in expected))
