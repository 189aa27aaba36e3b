"""Every model kind exported to ONNX (run by onnxruntime on the CPU) and TorchScript, and the two
kinds whose ExportedProgram needed a replacement also to an ExportedProgram (the slowest format to
write and read back, 2-6 s a kind): GAF's classifier on TSM (its scores-only forward, and the shift)
and the detector with GAF (the mask check and the boundary pooling). The batch axis is free: on a
batch of 3 (the export saw 2) the file gives the PyTorch eval outputs within 1e-4. One export per
kind and format."""

import json

import onnx
import onnxruntime
import pytest
import torch

from tests.export.conftest import KINDS
from vidaction.evaluation.postprocess import decode_windows
from vidaction.export import example_inputs, export_model, load_exported

EXPORTED_PROGRAM_KINDS = ("gaf_tsm", "afsd_gaf")
SUFFIX = {"onnx": ".onnx", "torchscript": ".ts", "exported-program": ".pt2"}
CASES = [(kind, fmt) for kind in KINDS for fmt in ("onnx", "torchscript")] + \
        [(kind, "exported-program") for kind in EXPORTED_PROGRAM_KINDS]


@torch.no_grad()
def pytorch_outputs(source, inputs):
    if source.task == "detection":
        return list(decode_windows(source.model(*inputs)))
    return [source.model(*inputs)]


@pytest.mark.parametrize("kind, fmt", CASES)
def test_exported_file_gives_the_pytorch_outputs_on_another_batch_size(kind, fmt, source_of, tmp_path_factory):
    source, options = source_of(kind)
    path = tmp_path_factory.mktemp("export") / f"{kind}{SUFFIX[fmt]}"
    result = export_model(source, fmt, path, dynamic_batch=True, check=False, **options)
    specs = source.input_specs(**options)
    inputs = example_inputs(specs, batch=3, seed=1)
    expected = pytorch_outputs(source, inputs)
    got = load_exported(path, fmt)(*inputs)
    assert [tuple(g.shape) for g in got] == [tuple(e.shape) for e in expected]
    assert max(float((g - e).abs().max()) for g, e in zip(got, expected)) <= 1e-4
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar == result.metadata and sidecar["dynamic_batch"] and sidecar["class_names"] == ["a", "b", "c"]
    assert [spec["shape"][0] for spec in sidecar["inputs"] + sidecar["outputs"]] == ["batch"] * len(specs + expected)
    if fmt == "onnx":
        meta = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
        assert {key: json.loads(value) for key, value in meta.custom_metadata_map.items()} == sidecar


def test_a_fixed_batch_export_has_batch_one(source_of, tmp_path):
    source, options = source_of("tsm")
    result = export_model(source, "onnx", tmp_path / "tsm.onnx", **options)
    graph = onnx.load(str(result.path)).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 4, 32, 32]
    assert result.metadata["inputs"][0]["shape"] == [1, 3, 4, 32, 32] and not result.metadata["dynamic_batch"]
    assert result.parity.max_abs_diff <= 1e-4 and result.parity.max_abs_output > 0.1
