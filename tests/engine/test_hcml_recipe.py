"""HCML recipes: joint training (hcml), the progressive self-supervised phase with frozen lower levels
(hcml_progressive), self-supervised pre-training then fine-tuning (hcml_pretrain); checkpoints
reload deployed. The joint and progressive runs are trained once per session (tests/engine/conftest.py)."""

import shutil
from dataclasses import replace

import pytest
import torch

from vidaction.config import ConfigError
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.experiment import run_test, run_training
from vidaction.engine.tasks.recognition import load_trained_model
from vidaction.models import load_pretrained
from vidaction.models.backbones.r2plus1d import R2Plus1D


def _clip(cfg):
    return torch.randn(2, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size)


def test_joint_training_logs_every_term_and_reloads_deployed(hcml_joint_run):
    cfg, run, metrics = hcml_joint_run
    assert metrics["num_videos"] > 0
    logged = (run / "metrics.jsonl").read_text()
    for term in ("reconstruct", "contrastive_res3", "contrastive_res4", "ce"):
        assert f'"{term}"' in logged
    model, _, _ = load_trained_model(run / "last.pt")
    assert isinstance(model, R2Plus1D) and not hasattr(model, "flows")
    tested = run_test(replace(cfg, train=replace(cfg.train, checkpoint=str(run / "last.pt"))))
    assert tested["top1"] == pytest.approx(metrics["top1"])


def test_hcml_recipes_need_prime_motion_blocks(motion_dataset, tmp_path, hcml_config):
    for recipe in ("hcml", "hcml_progressive", "hcml_pretrain"):
        with pytest.raises(ConfigError, match="model.options.motion=pmb"):
            run_training(hcml_config(motion_dataset, tmp_path / recipe, motion=None, recipe=recipe))


def test_prediction_steps_reach_the_predictors(motion_dataset, tmp_path, hcml_config):
    # 16 frames: res3 predicts res2's 16-step sequence, at most 15 steps ahead (0, the default: all 15).
    with pytest.raises(ConfigError, match="contrastive level res3 predicts res2, which has 16 time steps for a "
                                          "16-frame clip: at most 15 steps ahead, got steps=16"):
        run_training(hcml_config(motion_dataset, tmp_path / "run", num_frames=16, prediction_steps=16))
    with pytest.raises(ConfigError, match="recipe.prediction_steps must be >= 0"):
        hcml_config(motion_dataset, tmp_path / "run", prediction_steps=-1)


def test_feature_maps_smaller_than_the_search_window_fail_at_build_time(motion_dataset, tmp_path, hcml_config):
    cfg = hcml_config(motion_dataset, tmp_path / "run", num_frames=16, input_size=64)
    cfg = replace(cfg, model=replace(cfg.model, options={"motion": "pmb"}))
    with pytest.raises(ConfigError, match=r"motion level res3: a 64x64 input gives 8x8 feature maps, smaller than "
                                          r"the cost volume's 13x13 search window"):
        run_training(cfg)


def _changed(before, after, prefix, exclude=None):
    return any(not torch.equal(before[k], after[k]) for k in before
               if k.startswith(prefix) and not (exclude and k.startswith(exclude)))


# r2d_tiny has one bottleneck per stage: the prime motion blocks (and their g of Z = F + g(P)) are
# layer1.1 (res2), layer2.1 (res3) and layer3.1 (res4).
G = {level: f"backbone.layer{index}.1.g." for index, level in enumerate(("res2", "res3", "res4"), 1)}


def _g_is_live(state, prefix):
    return all(state[prefix + name].abs().sum() > 0 for name in ("0.weight", "1.weight"))


def _motion_responds_to_the_level_below(backbone, clip):
    """Whether each level's motion features change when the level below's are perturbed inside its block."""
    blocks = backbone.eval().motion_blocks()
    levels = list(blocks)
    responds = {}
    with torch.no_grad():
        for previous, current in zip(levels, levels[1:]):
            features = []
            for scale in (0.0, 1.0):
                handle = blocks[previous].fuse.register_forward_hook(
                    lambda module, inputs, output, scale=scale: output + scale * torch.randn(
                        output.shape, generator=torch.Generator().manual_seed(0)))
                backbone(clip)
                handle.remove()
                features.append(backbone.motion_features()[current].clone())
            responds[current] = not torch.allclose(*features, atol=1e-4)
    return responds


def test_progressive_stages_freeze_lower_levels_then_train_jointly(hcml_progressive_run, tmp_path):
    cfg, out, metrics = hcml_progressive_run
    assert metrics["top1"] >= 0 and metrics["epochs"] == 1
    states = [load_checkpoint(out / f"level{i}" / "last.pt")["model"] for i in range(3)]
    joint = load_checkpoint(out / "joint" / "last.pt")["model"]
    level0, level1, level2 = states
    # Level 1 trains res3 (layer2), its predictor and g of level 0 (res2's fusion, which its loss reaches);
    # what computes P^0, everything up to level 0 but that g, stays as level 0 left it.
    for key, value in level0.items():
        if key.startswith(("backbone.conv1", "backbone.bn1", "backbone.layer1.", "flows.")) and \
                not key.startswith(G["res2"]):
            assert torch.equal(value, level1[key]) and torch.equal(value, level2[key]), key
    assert _changed(level0, level1, "backbone.layer2.", exclude=G["res3"])
    assert _changed(level0, level1, "predictors.res3.")
    assert _changed(level0, level1, G["res2"]) and not _changed(level1, level2, G["res2"])
    assert not _changed(level0, level1, "backbone.layer3.") and not _changed(level0, level1, "backbone.fc.")
    # Level 2 trains res4 (layer3) and res3's g; what computes P^1 (layer2 but its g) stays fixed.
    assert not _changed(level1, level2, "backbone.layer2.", exclude=G["res3"]) and _changed(level1, level2, G["res3"])
    assert _changed(level1, level2, "backbone.layer3.", exclude=G["res4"])
    assert _changed(level1, level2, "predictors.res4.")
    # Each level's g: no stage trains it before the next level's, and none of them is ever zero.
    assert not _changed(level0, level2, G["res4"]) and not _changed(level0, level1, G["res3"])
    for state in (*states, joint):
        assert all(_g_is_live(state, prefix) for prefix in G.values())
    # After every stage each level's motion features depend on the level below's (Z = F + g(P)).
    clip = _clip(cfg)
    for index in range(3):
        backbone = load_trained_model(out / f"level{index}" / "last.pt")[0]
        assert _motion_responds_to_the_level_below(backbone, clip) == {"res3": True, "res4": True}, index
    # Self-supervised stages log only their own term and keep no classifier accuracy.
    history = load_checkpoint(out / "level1" / "last.pt")["history"]
    assert "train_acc" not in history[0] and "val_contrastive_res3" in history[0]
    assert "val_reconstruct" not in history[0]
    # The joint phase starts from the last stage and updates everything, the classifier and res4's g included.
    assert _changed(level2, joint, "backbone.fc.") and _changed(level2, joint, "backbone.conv1")
    assert _changed(level2, joint, G["res4"])
    # Run again (in a copy: the session's run stays as it was): finished stages are reused, not retrained.
    again = tmp_path / "again"
    shutil.copytree(out, again)
    log = []
    run_training(replace(cfg, train=replace(cfg.train, out_dir=str(again))), log=log.append)
    assert sum("reusing the finished stage" in line for line in log) == 3


def test_pretrain_then_fine_tune_from_the_deployed_backbone(hcml_progressive_run, hcml_config, motion_dataset,
                                                            tmp_path):
    # Levels 0 and 1 are the progressive run's (the same stages); the pre-training trains level 2 on them.
    progressive_cfg, progressive, _ = hcml_progressive_run
    out = tmp_path / "ssl"
    for level in ("level0", "level1"):
        shutil.copytree(progressive / level, out / level)
    lines = []
    metrics = run_training(replace(progressive_cfg, recipe=replace(progressive_cfg.recipe, name="hcml_pretrain"),
                                   train=replace(progressive_cfg.train, out_dir=str(out))), log=lines.append)
    assert sum("reusing the finished stage" in line for line in lines) == 2
    assert metrics["pretrained"] == str(out / "pretrained.pt") and "best_loss" in metrics
    assert not (out / "joint").exists()
    model = load_trained_model(out / "level2" / "last.pt")[0]
    report = load_pretrained(model, out / "pretrained.pt", strict=True)
    assert report.clean
    # The exported backbone carries every level's motion into the next one: g != 0 and, for res2 and res3,
    # trained by the stage of the level above.
    exported = load_checkpoint(out / "pretrained.pt")["model"]
    level0 = load_checkpoint(out / "level0" / "last.pt")["model"]
    for level, prefix in G.items():
        assert _g_is_live(exported, prefix.removeprefix("backbone.")), level
    assert _changed(level0, {f"backbone.{k}": v for k, v in exported.items()}, G["res2"])
    assert _changed(level0, {f"backbone.{k}": v for k, v in exported.items()}, G["res3"])
    assert _motion_responds_to_the_level_below(model, _clip(progressive_cfg)) == {"res3": True, "res4": True}
    fine_tune = hcml_config(motion_dataset, tmp_path / "fine", recipe="standard")
    fine_tune = replace(fine_tune, model=replace(fine_tune.model, pretrained=str(out / "pretrained.pt")))
    lines = []
    run_training(fine_tune, log=lines.append)
    assert any("0 missing, 0 unexpected" in line for line in lines)


def test_staged_resume_must_name_a_stage_checkpoint(motion_dataset, tmp_path, hcml_config):
    cfg = hcml_config(motion_dataset, tmp_path / "run", recipe="hcml_pretrain", level_epochs=1)
    cfg = replace(cfg, train=replace(cfg.train, resume=str(tmp_path / "elsewhere" / "last.pt")))
    with pytest.raises(ConfigError, match="a staged recipe resumes one of its stages"):
        run_training(cfg)


def test_visualize_flow_draws_the_estimated_flow_per_level(hcml_joint_run, motion_dataset, tmp_path):
    from vidaction.cli.main import main

    _, run, _ = hcml_joint_run
    assert '"reconstruct_res3"' in (run / "metrics.jsonl").read_text()
    video = next((motion_dataset / "videos").rglob("*.mp4"))
    model, _, _ = load_trained_model(run / "last.pt", deploy=False)
    assert hasattr(model, "flows") and hasattr(model, "deploy")
    assert main(["visualize-flow", str(run / "last.pt"), str(video), "--out", str(tmp_path / "flow.png")]) == 0
    assert (tmp_path / "flow.png").stat().st_size > 1000


def test_nan_in_a_self_supervised_term_stops_before_the_update(tmp_path):
    from torch.utils.data import DataLoader

    from vidaction.config import OptimConfig, ScheduleConfig, TrainConfig
    from vidaction.data.dataset import collate_clips
    from vidaction.engine.batches import ClipBatches
    from vidaction.engine.evaluators import ObjectiveEvaluator
    from vidaction.engine.loop import NonFiniteLossError, TrainingLoop
    from vidaction.engine.objectives import HCMLStageObjective
    from vidaction.models import create_model
    from vidaction.models.motion.hcml import HCMLNet

    torch.manual_seed(0)
    net = HCMLNet(create_model("r2d_tiny", num_classes=2, num_frames=8, motion="pmb", motion_max_displacement=1))
    clips = torch.randn(4, 3, 8, 48, 48)
    clips[2] = float("nan")
    items = [{"clip": clips[i], "label": 0, "index": i} for i in range(4)]
    stage = net.progressive_stages()[1]
    objective = HCMLStageObjective(stage.loss, 4)
    trainer = TrainingLoop(net, objective, ObjectiveEvaluator(objective), ClipBatches(reports_accuracy=False),
                           TrainConfig(out_dir=str(tmp_path), progress=False, tensorboard=False), OptimConfig(),
                           ScheduleConfig(epochs=1), DataLoader(items, batch_size=2, collate_fn=collate_clips), None,
                           trainable=stage.trainable)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(NonFiniteLossError, match=r"\(contrastive_res3=nan\) at epoch 1, step 2"):
        trainer.fit()
    saved = load_checkpoint(tmp_path / "interrupted.pt")["model"]
    for key, value in saved.items():
        if not key.startswith(("backbone.layer2.", "predictors.res3.", G["res2"])):
            assert torch.equal(value, before[key]), key
    assert all(torch.isfinite(v.float()).all() for v in saved.values())


def test_efficacy_command_probes_one_motion_level(hcml_joint_run, capsys):
    import json

    from vidaction.cli.main import main
    from vidaction.evaluation.efficacy import efficacy_score

    _, run, _ = hcml_joint_run
    config, checkpoint = str(run / "config.yaml"), f"checkpoint={run / 'last.pt'}"
    capsys.readouterr()
    assert main(["efficacy", config, checkpoint, "level=2", "train.progress=false"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["level"] == "res3" and result["channels"] == 16
    assert result["train_videos"] + result["test_videos"] == 64
    assert 0 <= result["test_accuracy"] <= 1
    assert result["score"] == pytest.approx(efficacy_score(result["train_accuracy"], result["test_accuracy"]))
    assert main(["efficacy", config, checkpoint, "level=4"]) == 2
    assert "level=4: this model's motion levels are 1 = res2, 2 = res3, 3 = res4" in capsys.readouterr().err
