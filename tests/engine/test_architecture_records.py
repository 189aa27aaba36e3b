"""Every checkpoint carries the builder name and arguments of its network (``arch``), so it rebuilds
without its config; checkpoints and weights files written before the records still load."""

import torch

from vidaction.engine.checkpoint import load_checkpoint, save_checkpoint
from vidaction.engine.experiment import run_training
from vidaction.engine.feature_extraction import load_backbone
from vidaction.engine.tasks.detection import load_trained_detector
from vidaction.engine.tasks.recognition import load_trained_model
from vidaction.models import create_model, create_model_from_arch
from vidaction.models.motion.hcml import HCMLNet
from vidaction.models.pretrained import convert_checkpoint


def same_weights(a, b):
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_recognition_checkpoint_rebuilds_from_its_record_and_without_it(hcml_joint_run, tmp_path):
    _, out, _ = hcml_joint_run
    state = load_checkpoint(out / "last.pt")
    assert state["arch"]["name"] == "hcml" and state["arch"]["kwargs"]["backbone"] == "r2d_tiny"
    rebuilt = create_model_from_arch(state["arch"])
    rebuilt.load_state_dict(state["model"])
    whole, _, _ = load_trained_model(out / "last.pt", deploy=False)
    assert isinstance(whole, HCMLNet) and same_weights(whole, rebuilt)
    deployed, _, _ = load_trained_model(out / "last.pt")
    assert deployed.arch["name"] == "r2d_tiny" and same_weights(deployed, rebuilt.deploy())
    old = {k: v for k, v in state.items() if k != "arch"}
    save_checkpoint(tmp_path / "old.pt", old)
    assert same_weights(load_trained_model(tmp_path / "old.pt", deploy=False)[0], rebuilt)


def test_a_detector_checkpoint_rebuilds_from_its_record_and_without_it(detection_dataset, feature_config, tmp_path):
    run_training(feature_config(detection_dataset, tmp_path / "run", epochs=1))
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["arch"]["name"] == "afsd" and state["arch"]["kwargs"]["input_channels"] == 32
    model, _, _ = load_trained_detector(tmp_path / "run" / "last.pt")
    save_checkpoint(tmp_path / "old.pt", {k: v for k, v in state.items() if k != "arch"})
    assert same_weights(load_trained_detector(tmp_path / "old.pt")[0], model)


def test_weights_files_old_and_new_rebuild_their_network(tmp_path):
    torch.manual_seed(0)
    source = create_model("tsm_tiny", num_classes=3, num_frames=4)
    torch.save(source.state_dict(), tmp_path / "foreign.pth")
    convert_checkpoint(tmp_path / "foreign.pth", tmp_path / "ours.pt", "tsm_tiny", 3, 4)
    assert torch.load(tmp_path / "ours.pt")["arch"]["name"] == "tsm_tiny"
    assert same_weights(load_backbone(tmp_path / "ours.pt"), source)
    torch.save({"format": "vidaction", "arch": "tsm_tiny", "num_classes": 3, "num_frames": 4,
                "model": source.state_dict()}, tmp_path / "before_records.pt")
    assert same_weights(load_backbone(tmp_path / "before_records.pt"), source)
