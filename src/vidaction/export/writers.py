"""Writing an exported network: ONNX, TorchScript or a ``torch.export`` ExportedProgram, each with
what running it needs (:func:`export_metadata`) in a JSON sidecar ``FILE.json`` and inside the file
(ONNX ``metadata_props``, one entry per sidecar key, JSON-encoded; ``vidaction.json`` among the
extra files of TorchScript and ExportedProgram archives).

ONNX is written by the TorchScript-based exporter, ``torch.onnx.export(..., dynamo=False)``, opset
17: with the export-friendly layers of :mod:`vidaction.export.layers` it exports every model kind
with the same parity as the ``torch.export``-based exporter, 8-40 times faster (measured in
docs/export.md#exporter). Every format traces :func:`~vidaction.export.prepare.export_graph` on a
random example input under :func:`~vidaction.export.prepare.traceable`: a batch of 1, or of 2 with
``dynamic_batch`` (the batch axis then stays free; ``torch.export`` would fix an axis of size 1).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from vidaction import __version__
from vidaction.export.check import Parity, as_outputs, example_inputs, parity
from vidaction.export.prepare import export_graph, traceable
from vidaction.export.source import ExportError, ExportSource, TensorSpec

FORMATS = ("onnx", "torchscript", "exported-program")
ONNX_OPSET = 17
EXPORTERS = {
    "onnx": f"torch.onnx.export(dynamo=False) (TorchScript-based), opset {ONNX_OPSET}",
    "torchscript": "torch.jit.trace",
    "exported-program": "torch.export.export",
}
PREPROCESSING = {
    "recognition": "RGB frames of one clip (num_frames, sampled as in training), short side resized to "
                   "resize_short, centre crop to the input's H x W; values x / 255, then (x - mean) / std "
                   "per channel; float32 (N, C, T, H, W)",
    "detection": "one window of the video's input steps: features made as the training features were "
                 "(preprocessing.features), (N, C, T[, H, W]), or frames at fps, resized and centre-cropped, "
                 "x / 255 then (x - mean) / std; mask (N, T) bool, True on each window's valid steps, a prefix "
                 "that holds at least the first step (padding at the end)",
}
POSTPROCESSING = {
    "recognition": "scores are raw logits, each head's classes side by side (head_sizes); softmax per head for "
                   "probabilities; average the logits of a video's clips and crops before it",
    "detection": "in the graph: AFSD's decoding, segments [centre - d_left, centre + d_right] of the refined "
                 "distances in window steps clamped to the valid steps, scores (softmax(coarse) + "
                 "softmax(refined)) / 2 * sigmoid(quality) without background, 0 at padded locations. In "
                 "Python, not exported: keep (location, class) pairs whose score > score_threshold; seconds = "
                 "time_offset + (window_start + step) * seconds_per_step (1 / fps of the input steps); per-class "
                 "Gaussian soft-NMS over all windows of a video (nms_sigma, nms_top_k per class, scores below "
                 "nms_score_threshold dropped); the best max_detections (0: all). vidaction.evaluation.postprocess"
                 ".window_candidates and merge_video_detections do it",
}


@dataclass
class ExportResult:
    """What :func:`export_model` wrote: the file, its sidecar and metadata, and its :class:`Parity`
    with PyTorch on a random input (``None`` unchecked)."""

    path: Path
    sidecar: Path
    metadata: dict
    parity: Parity | None


def export_model(source: ExportSource, fmt: str, out: str | Path, frames: int | None = None, size: int | None = None,
                 dynamic_batch: bool = False, check: bool = True) -> ExportResult:
    """Export ``source``'s network as ``fmt`` (one of ``FORMATS``) to ``out`` and its sidecar to
    ``out + ".json"``; with ``check``, read the file back and compare it with PyTorch on a random
    batch (of 3 with ``dynamic_batch``, a size the export did not see)."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = Path(out)
    if fmt == "exported-program" and path.suffix != ".pt2":
        raise ExportError(f"an ExportedProgram is a .pt2 archive (torch.export.load reads no other name): "
                          f"--out {path.with_name(path.name + '.pt2')}")
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = "batch" if dynamic_batch else 1
    inputs = source.input_specs(frames, size, batch)
    example = example_inputs(inputs, 2 if dynamic_batch else 1)
    graph = export_graph(source.model)
    with torch.no_grad(), traceable(), _quiet():
        try:
            outputs = source.output_specs(as_outputs(graph(*example)), batch)
        except ValueError as exc:
            shapes = ", ".join(f"{spec.name} {tuple(spec.shape)}" for spec in inputs)
            raise ExportError(f"the network does not take {shapes}: {exc}") from exc
        metadata = export_metadata(source, fmt, path, inputs, outputs, dynamic_batch)
        WRITERS[fmt](graph, example, inputs, outputs, dynamic_batch, path, metadata)
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_text(json.dumps(metadata, indent=1) + "\n")
    checked = parity(path, fmt, source, inputs, 3 if dynamic_batch else 1) if check else None
    return ExportResult(path, sidecar, metadata, checked)


def export_metadata(source: ExportSource, fmt: str, path: Path, inputs: Sequence[TensorSpec],
                    outputs: Sequence[TensorSpec], dynamic_batch: bool) -> dict:
    """The sidecar: the network, its inputs and outputs, and how to prepare and read them."""
    return {
        "vidaction_version": __version__,
        "file": path.name,
        "format": fmt,
        "exporter": f"{EXPORTERS[fmt]}, torch {torch.__version__}",
        "task": source.task,
        "arch": getattr(source.model, "arch", None),
        "class_names": list(source.class_names),
        "inputs": [asdict(spec) for spec in inputs],
        "outputs": [asdict(spec) for spec in outputs],
        "dynamic_batch": dynamic_batch,
        "preprocessing": {**source.preprocessing, "how": PREPROCESSING[source.task]},
        "postprocessing": {**source.postprocessing, "how": POSTPROCESSING[source.task]},
    }


def _names(specs: Sequence[TensorSpec]) -> list[str]:
    return [spec.name for spec in specs]


def write_onnx(graph: nn.Module, example: Sequence[Tensor], inputs: Sequence[TensorSpec],
               outputs: Sequence[TensorSpec], dynamic_batch: bool, path: Path, metadata: dict) -> None:
    import onnx

    names = _names(inputs) + _names(outputs)
    buffer = io.BytesIO()
    torch.onnx.export(graph, tuple(example), buffer, dynamo=False, opset_version=ONNX_OPSET,
                      input_names=_names(inputs), output_names=_names(outputs),
                      dynamic_axes={name: {0: "batch"} for name in names} if dynamic_batch else None)
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(path))


def write_torchscript(graph: nn.Module, example: Sequence[Tensor], inputs: Sequence[TensorSpec],
                      outputs: Sequence[TensorSpec], dynamic_batch: bool, path: Path, metadata: dict) -> None:
    traced = torch.jit.trace(graph, tuple(example), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"vidaction.json": json.dumps(metadata)})


def write_exported_program(graph: nn.Module, example: Sequence[Tensor], inputs: Sequence[TensorSpec],
                           outputs: Sequence[TensorSpec], dynamic_batch: bool, path: Path, metadata: dict) -> None:
    batch = torch.export.Dim("batch", min=1)
    shapes = tuple({0: batch} for _ in example) if dynamic_batch else None
    program = torch.export.export(graph, tuple(example), dynamic_shapes=shapes)
    torch.export.save(program, str(path), extra_files={"vidaction.json": json.dumps(metadata)})


WRITERS = {"onnx": write_onnx, "torchscript": write_torchscript, "exported-program": write_exported_program}


@contextmanager
def _quiet() -> Iterator[None]:
    """Tracing's expected warnings: shape checks read as constants (fixed for the exported input
    size), the deprecation notices of ``torch.jit.trace`` and the TorchScript-based exporter, and
    that exporter's note that strided slices (``mask[:, ::stride]``) are not constant-folded, and
    ``torch.export``'s note that the attributes a forward leaves for pictures (``last_masks``,
    ``last_motion``, ``last_output``) are not kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        warnings.filterwarnings("ignore", "The tensor attributes .* were assigned during export", UserWarning)
        yield
