"""``vidaction export`` on the files users have: a recognition run's checkpoint (its preprocessing and
class names in the sidecar and the ONNX metadata, run by the docs' onnxruntime example), a detection
run's checkpoint (its test settings as the post-processing left to the caller), an HCML weights file
(deployed), and the errors a user can fix."""

import json
import re
from pathlib import Path

import pytest
import torch

from vidaction.config import config_from_dict, config_to_dict
from vidaction.engine.checkpoint import save_checkpoint
from vidaction.engine.tasks.recognition import attach_preprocessing, build_model
from vidaction.export import load_export_source, load_exported
from vidaction.models import create_model
from vidaction.models.backbones.r2plus1d import R2Plus1D
from vidaction.models.pretrained import weights_record

DOCS = Path(__file__).parents[2] / "docs" / "export.md"
CLASSES = ["wave", "clap", "jump"]


def save_run(path: Path, cfg, model, class_names) -> Path:
    """``model`` saved as 'vidaction train' saves its checkpoints."""
    return save_checkpoint(path, {"format": "vidaction", "model": model.state_dict(), "config": config_to_dict(cfg),
                                  "class_names": class_names, "pretrained_cfg": model.pretrained_cfg,
                                  "arch": model.arch})


@pytest.fixture(scope="module")
def recognition_run(tmp_path_factory):
    cfg = config_from_dict({"data": {"num_frames": 4, "input_size": 32, "resize_short": 36, "mean": [0.4, 0.5, 0.6],
                                     "std": [0.2, 0.25, 0.3]}, "model": {"name": "tsm_tiny", "dropout": 0.0}})
    torch.manual_seed(0)
    model = build_model(cfg.model, len(CLASSES), cfg.data.num_frames, cfg.data.input_size)
    attach_preprocessing(model, cfg, CLASSES)
    return save_run(tmp_path_factory.mktemp("run") / "best.pt", cfg, model, CLASSES)


def test_a_recognition_checkpoint_exports_with_its_preprocessing_and_runs_as_the_docs_show(recognition_run, cli):
    out = recognition_run.parent / "tsm.onnx"
    result = cli("export", recognition_run, "--format", "onnx", "--out", out, "--dynamic-batch")
    assert "inputs:  clip (batch, 3, 4, 32, 32) float32" in result.stdout
    assert float(re.search(r"PyTorch\| = (\S+) on a random batch of 3", result.stdout).group(1)) <= 1e-4
    sidecar = json.loads(Path(f"{out}.json").read_text())
    assert sidecar["class_names"] == CLASSES and sidecar["arch"]["name"] == "tsm_tiny"
    assert sidecar["preprocessing"]["mean"] == [0.4, 0.5, 0.6] and sidecar["preprocessing"]["std"] == [0.2, 0.25, 0.3]
    assert (sidecar["preprocessing"]["num_frames"], sidecar["preprocessing"]["resize_short"]) == (4, 36)
    assert sidecar["postprocessing"]["head_sizes"] == [3]
    example = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    printed = []
    exec(example.replace('"tsm.onnx"', repr(str(out))), {"print": printed.append})
    assert printed and printed[0] in CLASSES


def test_a_detection_checkpoint_exports_with_its_test_settings(tmp_path, cli):
    cfg = config_from_dict({"task": "detection", "data": {"input": "features", "feature_channels": 16, "window": 24},
                            "model": {"channels": 16, "proposal_channels": 16, "frame_channels": 16, "num_levels": 2,
                                      "norm_groups": 4}, "test": {"score_threshold": 0.05, "nms_sigma": 0.7}})
    torch.manual_seed(0)
    model = create_model("afsd", 2, input_channels=16, channels=16, proposal_channels=16, frame_channels=16,
                         num_levels=2, norm_groups=4)
    model.pretrained_cfg = {"class_names": ["a", "b"], "input": "features", "window": 24, "fps": 25.0}
    checkpoint = save_run(tmp_path / "best.pt", cfg, model, ["a", "b"])
    result = cli("export", checkpoint, "--format", "torchscript", "--out", tmp_path / "afsd.ts")
    assert "inputs:  features (1, 16, 24) float32; mask (1, 24) bool" in result.stdout
    assert "outputs: segments (1, 36, 2) float32; scores (1, 36, 2) float32" in result.stdout
    sidecar = json.loads((tmp_path / "afsd.ts.json").read_text())
    assert sidecar["task"] == "detection" and sidecar["class_names"] == ["a", "b"]
    post = sidecar["postprocessing"]
    assert (post["score_threshold"], post["nms_sigma"], post["nms_top_k"]) == (0.05, 0.7, 5000)
    assert "soft-NMS" in post["how"] and sidecar["preprocessing"]["window"] == 24
    segments, scores = load_exported(tmp_path / "afsd.ts", "torchscript")(
        torch.randn(4, 16, 24), torch.ones(4, 24, dtype=torch.bool))
    assert segments.shape == (4, 36, 2) and bool(((scores >= 0) & (scores <= 1)).all())
    refused = cli("export", checkpoint, "--format", "onnx", "--out", tmp_path / "afsd.onnx", "--size", "32",
                  check=False)
    assert refused.returncode == 2 and "omit --size" in refused.stderr


def test_an_hcml_weights_file_exports_its_deployed_backbone(tmp_path):
    model = create_model("hcml", 3, 8, backbone="r2d_tiny", backbone_options={"motion": "pmb"})
    torch.save(weights_record(model), tmp_path / "hcml.pt")
    source = load_export_source(tmp_path / "hcml.pt")
    assert isinstance(source.model, R2Plus1D) and source.task == "recognition"
    assert source.input_specs(size=32)[0].shape == ["batch", 3, 8, 32, 32]


def test_what_cannot_be_exported_is_explained(recognition_run, tmp_path, cli):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "state.pt")
    result = cli("export", tmp_path / "state.pt", "--format", "onnx", "--out", tmp_path / "x.onnx", check=False)
    assert result.returncode == 2 and "neither a training checkpoint nor a vidaction weights file" in result.stderr
    result = cli("export", recognition_run, "--format", "exported-program", "--out", tmp_path / "x.ep", check=False)
    assert result.returncode == 2 and "--out " + str(tmp_path / "x.ep.pt2") in result.stderr
    result = cli("export", recognition_run, "--format", "onnx", "--out", tmp_path / "x.onnx", "--frames", "6",
                 check=False)
    assert result.returncode == 2 and "does not take clip (1, 3, 6, 32, 32): TSM was built for T=4" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]
