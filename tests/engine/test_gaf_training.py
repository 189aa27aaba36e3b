"""GAF's alternating training on tiny synthetic features (step 1: the CVAE alone; step 2: attention and
detector with the CVAE frozen), its checkpoints and guards, and the recognition variant."""

from dataclasses import replace

import pytest
import torch

from vidaction.demo.recipes import detection_demo_config, detection_row_overrides
from vidaction.config import DetectionLossConfig, GAFConfig, OptimConfig, config_from_dict
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.batches import DetectionInputs
from vidaction.engine.experiment import run_training
from vidaction.engine.loop import NonFiniteLossError, TrainingLoop
from vidaction.engine.objectives import GAFObjective
from vidaction.engine.tasks.detection import load_trained_detector
from vidaction.models.detector import afsd_detector

def changed(before, after, prefix):
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_alternating_steps_update_their_own_parts(detection_dataset, tmp_path, gaf_config):
    metrics = run_training(gaf_config(detection_dataset, tmp_path / "it", epochs=1))
    assert 0.0 <= metrics["average_mAP"] <= 1.0
    logged = (tmp_path / "it" / "metrics.jsonl").read_text()
    for term in ("reconstruction", "kl", "clf_ai", "clf_nai", "reg_ai", "reg_nai", "representation"):
        assert f'"{term}"' in logged
    state = load_checkpoint(tmp_path / "it" / "last.pt")
    assert {"cvae_optimizer", "cvae_scheduler", "cvae_scaler"} <= state.keys()
    # The CVAE's optimiser is the authors' Adam(lr=1e-3, betas=(0.8, 0.999)) without weight decay.
    for group in state["cvae_optimizer"]["param_groups"]:
        assert (group["initial_lr"], group["betas"], group["weight_decay"]) == (1e-3, (0.8, 0.999), 0.0)
    model, _, _ = load_trained_detector(tmp_path / "it" / "last.pt")
    assert model.attention is not None and model.attention.cvae is not None

    # Per-epoch alternation: epoch 1 updates only the CVAE, epoch 2 only the rest.
    cfg = gaf_config(detection_dataset, tmp_path / "ep", epochs=2, alternate="epoch")
    original = TrainingLoop.train_one_epoch
    snapshots = []

    def record(self, epoch):
        snapshots.append({k: v.clone() for k, v in self.model.state_dict().items()})
        return original(self, epoch)

    TrainingLoop.train_one_epoch = record
    try:
        run_training(cfg)
    finally:
        TrainingLoop.train_one_epoch = original
    final = load_checkpoint(tmp_path / "ep" / "last.pt")["model"]
    start, after_first = snapshots
    assert changed(start, after_first, "attention.cvae.")
    assert not changed(start, after_first, "attention.attention_heads.") and not changed(start, after_first, "head.")
    assert not changed(after_first, final, "attention.cvae.")
    assert changed(after_first, final, "attention.attention_heads.") and changed(after_first, final, "head.")


def test_the_cvae_optimiser_defaults_to_the_authors_and_the_demo_keeps_it(tmp_path):
    expected = OptimConfig(name="adam", lr=1e-3, betas=[0.8, 0.999], weight_decay=0.0, grad_clip=0.0)
    assert GAFConfig().cvae_optim == expected
    assert config_from_dict({"task": "detection"}).gaf.cvae_optim == expected
    assert detection_demo_config(tmp_path, detection_row_overrides("afsd+gaf")).gaf.cvae_optim == expected


def test_the_representation_loss_reaches_the_features_unless_detached(small_gaf):
    """Step 2's objective on a detector whose input features carry a gradient (the backbone's path):
    with the default (the authors'), L_R adds w_e * d/df mean((X_R - f)^2) to the features' gradient;
    with ``gaf.representation_detach_features`` that part is absent and all else is equal."""
    torch.manual_seed(0)
    net = afsd_detector(2, input_channels=8, channels=16, proposal_channels=16, frame_channels=16, num_levels=3,
                        norm_groups=8, attention="gaf", attention_options=dict(small_gaf, attention_channels=16))
    x, mask = torch.randn(2, 8, 32), torch.ones(2, 32, dtype=torch.bool)
    targets = [(torch.tensor([[4.0, 20.0]]), torch.tensor([1])), (torch.tensor([[10.0, 14.0]]), torch.tensor([0]))]
    results = {}
    for detach in (False, True):
        objective = GAFObjective(DetectionLossConfig(), GAFConfig(representation_detach_features=detach), epochs=1)
        features = x.clone().requires_grad_()
        torch.manual_seed(1)
        total, _, terms = objective.loss(net, DetectionInputs(features, mask), targets)
        total.backward()
        results[detach] = (features.grad, terms["representation"].detach(),
                           net.attention.last_output.frame[0].reconstruction.detach(), objective.representation_weight())
        net.zero_grad(set_to_none=True)
    (attached, loss_a, reconstruction, weight), (detached, loss_d, _, _) = results[False], results[True]
    assert torch.equal(loss_a, loss_d) and loss_a > 0
    assert torch.allclose(attached - detached, -2 * weight * (reconstruction - x) / x.numel(), atol=1e-6)
    assert (attached - detached).abs().sum() > 0


def test_gaf_run_resumes_exactly(detection_dataset, tmp_path, monkeypatch, gaf_config):
    straight = run_training(gaf_config(detection_dataset, tmp_path / "a", epochs=2))
    original = TrainingLoop.train_one_epoch

    def stop(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(TrainingLoop, "train_one_epoch", stop)
    cfg = gaf_config(detection_dataset, tmp_path / "b", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg)
    monkeypatch.setattr(TrainingLoop, "train_one_epoch", original)
    resumed = run_training(replace(cfg, train=replace(cfg.train, resume=str(tmp_path / "b" / "last.pt"))))
    assert resumed["average_mAP"] == pytest.approx(straight["average_mAP"])
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_ablation_switches_remove_their_terms(detection_dataset, tmp_path, gaf_config):
    run_training(gaf_config(detection_dataset, tmp_path / "ai", epochs=1, nonaction=False,
                                      reconstruction=False))
    logged = (tmp_path / "ai" / "metrics.jsonl").read_text()
    assert '"clf_ai"' in logged and '"clf_nai"' not in logged and '"kl"' not in logged
    model, _, _ = load_trained_detector(tmp_path / "ai" / "last.pt")
    assert model.attention.cvae is None and "cvae_optimizer" not in load_checkpoint(tmp_path / "ai" / "last.pt")


def test_nan_kl_stops_and_collapse_is_warned(detection_dataset, tmp_path, monkeypatch, capsys, gaf_config):
    import vidaction.engine.objectives.gaf as gaf_engine

    def nan_kl(outputs, beta):
        total, terms = real_cvae_loss(outputs, beta)
        terms["kl"] = terms["kl"] * float("nan")
        return total + terms["kl"], terms

    real_cvae_loss = gaf_engine.cvae_loss
    monkeypatch.setattr(gaf_engine, "cvae_loss", nan_kl)
    with pytest.raises(NonFiniteLossError, match=r"\(kl=nan\) at epoch 1, step 1: stopped before updating"):
        run_training(gaf_config(detection_dataset, tmp_path / "nan", epochs=1))
    monkeypatch.setattr(gaf_engine, "cvae_loss", real_cvae_loss)

    original = GAFObjective.build_optimizers

    def collapse_attention(self, model, *args):
        for head in model.attention.attention_heads:
            last = [m for m in head.modules() if isinstance(m, torch.nn.Conv1d)][-1]
            torch.nn.init.constant_(last.bias, -50.0)
            torch.nn.init.zeros_(last.weight)
            last.requires_grad_(False)
        original(self, model, *args)

    monkeypatch.setattr(GAFObjective, "build_optimizers", collapse_attention)
    metrics = run_training(gaf_config(detection_dataset, tmp_path / "collapse", epochs=1,
                                                reconstruction=False))
    assert all(v == v for k, v in metrics.items() if isinstance(v, float))
    assert "GAF attention collapsed (lambda all 0 or all 1)" in capsys.readouterr().err


def test_gaf_recognition_recipe_on_a_tiny_i3d(motion_dataset, tmp_path, capsys):
    from vidaction.cli.main import main
    from vidaction.config import ConfigError
    from vidaction.engine.experiment import run_training
    from vidaction.engine.tasks.recognition import load_trained_model

    tree = {
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": 8, "input_size": 32,
                 "resize_short": 36, "flip": False, "batch_size": 8, "num_workers": 0, "pin_memory": False},
        "model": {"name": "gaf_i3d", "dropout": 0.0, "options": {"base_width": 8}},
        "optim": {"name": "adamw", "lr": 0.003},
        "schedule": {"epochs": 1},
        "train": {"out_dir": str(tmp_path / "rec"), "progress": False, "tensorboard": False, "log_every": 1},
        "recipe": {"name": "gaf"},
    }
    metrics = run_training(config_from_dict(tree))
    assert 0 <= metrics["top1"] <= 1
    logged = (tmp_path / "rec" / "metrics.jsonl").read_text()
    assert '"clf_ai"' in logged and '"clf_nai"' in logged
    model, _, classes = load_trained_model(tmp_path / "rec" / "last.pt")
    assert model.eval()(torch.randn(1, 3, 8, 32, 32)).shape == (1, len(classes))
    video = next((motion_dataset / "videos").rglob("*.mp4"))
    assert main(["visualize-features", str(tmp_path / "rec" / "last.pt"), str(video), "--out",
                 str(tmp_path / "fig6.png")]) == 0
    assert (tmp_path / "fig6.png").stat().st_size > 5000 and "predicted " in capsys.readouterr().out
    tree["model"] = {"name": "i3d", "options": {"base_width": 8}}
    with pytest.raises(ConfigError, match="recipe.name=gaf trains GAF's recognition loss: use a gaf_\\* model"):
        run_training(config_from_dict(tree))
