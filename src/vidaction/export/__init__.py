"""Export of trained networks to ONNX, TorchScript and ``torch.export`` ExportedPrograms, with the
preprocessing and post-processing they need written beside them (docs/export.md).

- :mod:`.source`: a training checkpoint or weights file -> :class:`ExportSource` (network, task,
  records) and the graph's input and output specs;
- :mod:`.layers` and :mod:`.prepare`: export-friendly equivalents of the operators that do not
  export or trace wrong, swapped into a copy of the network (:func:`export_graph`, :func:`traceable`);
- :mod:`.writers`: :func:`export_model` writes a format and its sidecar ``FILE.json``;
- :mod:`.check`: the file read back (:func:`load_exported`) and compared with PyTorch.

Shapes: recognition ``clip (N, C, T, H, W) -> scores (N, K)``; detection ``features (N, C, T[, H,
W])`` or ``clip (N, C, T, H, W)``, ``mask (N, T) -> segments (N, L, 2), scores (N, L, K)``.
"""

from vidaction.export.check import Parity, eager_outputs, example_inputs, load_exported, parity
from vidaction.export.prepare import export_graph, traceable
from vidaction.export.source import ExportError, ExportSource, TensorSpec, load_export_source
from vidaction.export.writers import FORMATS, ExportResult, export_model

__all__ = ["FORMATS", "ExportError", "ExportResult", "ExportSource", "Parity", "TensorSpec", "eager_outputs",
           "example_inputs", "export_graph", "export_model", "load_export_source", "load_exported", "parity",
           "traceable"]
