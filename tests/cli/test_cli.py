"""The command line end to end on tiny synthetic data: train, test, infer, errors, help."""

import json
import subprocess
import sys

import pytest
import torch

from vidaction.cli.main import COMMANDS, main
from vidaction.data.synthetic import MOTION_CLASSES


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "vidaction.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_describes_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"] if command else ["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: vidaction" in out
    if command is None:
        assert all(name in out for name in COMMANDS)


def tiny_overrides(motion_dataset, out_dir, epochs=2):
    return [f"data.root={motion_dataset / 'videos'}", f"data.annotations={motion_dataset / 'annotations'}",
            "data.num_frames=4", "data.input_size=24", "data.resize_short=28", "data.batch_size=8",
            "data.num_workers=0", "data.pin_memory=false", "data.flip=false", "model.name=tsm_tiny",
            "model.dropout=0", "optim.name=adamw", "optim.lr=0.01", f"schedule.epochs={epochs}",
            "train.tensorboard=false", "train.progress=false", f"train.out_dir={out_dir}"]


@pytest.fixture(scope="module")
def trained(motion_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = out / "cfg.yaml"
    config.write_text("data:\n  format: ucf101\n")
    proc = run_cli("train", config, *tiny_overrides(motion_dataset, out))
    return config, out, json.loads(proc.stdout.strip().splitlines()[-1])


def test_train_prints_metrics_json_and_fills_the_run_folder(trained):
    _, out, metrics = trained
    assert {"top1", "top5", "mean_class_acc", "best_top1"} <= metrics.keys()
    for name in ("config.yaml", "classes.txt", "last.pt", "best.pt", "metrics.jsonl", "curves.png", "confusion.png"):
        assert (out / name).is_file(), name


def test_test_command_reproduces_validation_metrics(trained, motion_dataset):
    config, out, metrics = trained
    proc = run_cli("test", config, f"checkpoint={out / 'last.pt'}", *tiny_overrides(motion_dataset, out)[:-1])
    again = json.loads(proc.stdout.strip().splitlines()[-1])
    assert again["top1"] == pytest.approx(metrics["top1"])
    three = run_cli("test", config, f"checkpoint={out / 'last.pt'}", "data.test_crops=3", "data.test_clips=2",
                    *tiny_overrides(motion_dataset, out)[:-1])
    assert json.loads(three.stdout.strip().splitlines()[-1])["num_videos"] == metrics["num_videos"]


def test_infer_top_k_and_bad_video(trained, motion_dataset, tmp_path):
    _, out, _ = trained
    video = motion_dataset / "videos" / "rotate_cw" / "v_rotate_cw_g01_c01.mp4"
    proc = run_cli("infer", out / "best.pt", video, "--topk", "3", "--json")
    result = json.loads(proc.stdout)
    assert len(result["topk"]) == 3 and result["topk"][0]["label"] in MOTION_CLASSES
    assert sum(item["score"] for item in result["topk"]) <= 1.0 + 1e-6
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    bad = run_cli("infer", out / "best.pt", text, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "notes.txt" in bad.stderr


def test_resume_from_last_checkpoint(trained, motion_dataset, tmp_path):
    config, out, _ = trained
    overrides = tiny_overrides(motion_dataset, tmp_path / "resumed", epochs=3)
    proc = run_cli("train", config, *overrides, f"train.resume={out / 'last.pt'}")
    assert "resumed from" in proc.stderr
    history = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]


@pytest.mark.parametrize("args, message", [
    (["train", "CONFIG", "optim.lrr=0.1"], "unknown config key optim.lrr; did you mean 'optim.lr'"),
    (["train", "CONFIG", "model.name=tsm_r05"], "unknown model 'tsm_r05'; did you mean 'tsm_r50'"),
    (["train", "CONFIG", "data.annotations=/nonexistent"], "classInd.txt: annotation file not found"),
    (["flops", "tsm_r51"], "unknown model 'tsm_r51'"),
    (["infer", "/nonexistent.pt", "/nonexistent.mp4"], "checkpoint not found"),
])
def test_user_errors_are_one_line(args, message, trained, motion_dataset):
    config, out, _ = trained
    args = [str(config) if a == "CONFIG" else a for a in args]
    extra = tiny_overrides(motion_dataset, out / "err") if args[0] == "train" else []
    if args[0] == "train":
        extra = [o for o in extra if not any(o.startswith(a.split("=")[0] + "=") for a in args[2:])]
    proc = run_cli(*args, *extra, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and message in proc.stderr


def test_list_models_and_flops():
    assert "tsm_r50" in run_cli("list-models").stdout.split()
    out = run_cli("flops", "tsm_tiny", "--frames", "4", "--size", "32", "--num-classes", "5").stdout
    assert "params" in out and "MACs" in out


def test_convert_checkpoint(tmp_path):
    from vidaction.models import create_model

    model = create_model("tsm_tiny", num_classes=3, num_frames=2)
    official = {"state_dict": {"module.base_model." + k.replace("conv1.", "conv1.net.") if k.startswith("layer")
                               else ("module.new_fc." + k[3:] if k.startswith("fc.") else "module.base_model." + k): v
                               for k, v in model.state_dict().items()}}
    torch.save(official, tmp_path / "tsm.pth")
    out = run_cli("convert-checkpoint", tmp_path / "tsm.pth", tmp_path / "ours.pt", "--arch", "tsm_tiny",
                  "--num-classes", "3", "--num-frames", "2").stdout
    assert "0 missing, 0 unexpected" in out
    assert torch.load(tmp_path / "ours.pt")["format"] == "vidaction"


def test_make_synthetic(tmp_path):
    out = run_cli("make-synthetic", "--out", tmp_path / "s", "--videos-per-class", "2", "--size", "32",
                  "--frames", "6").stdout
    assert "synthetic motion dataset" in out
    assert (tmp_path / "s" / "annotations" / "classInd.txt").read_text().count("\n") == len(MOTION_CLASSES)


@pytest.mark.slow
def test_torchrun_two_cpu_processes(motion_dataset, tmp_path):
    import os
    from pathlib import Path

    config = tmp_path / "cfg.yaml"
    config.write_text("data:\n  format: ucf101\n")
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--nproc_per_node=2", "-m", "vidaction.cli.main", "train", str(config),
                           *tiny_overrides(motion_dataset, tmp_path / "run", epochs=1)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and json.loads(lines[0])["num_videos"] == 32
    assert (tmp_path / "run" / "last.pt").is_file()


def test_visualize_attention(trained, motion_dataset, tmp_path):
    config, out, _ = trained
    video = motion_dataset / "videos" / "approach" / "v_approach_g01_c01.mp4"
    overrides = [o for o in tiny_overrides(motion_dataset, tmp_path / "w3", epochs=1)]
    too_small = run_cli("train", config, *overrides, "model.options.attention=w3", check=False)
    assert too_small.returncode == 2 and "Traceback" not in too_small.stderr
    assert "layer1: a 24x24 input gives 6x6 feature maps, smaller than the 7x7 spatial kernel" in too_small.stderr
    run_cli("train", config, *overrides, "model.options.attention=w3", "model.options.refine=true",
            "model.options.attention_options.spatial_kernel=1")
    png = tmp_path / "att.png"
    assert "wrote" in run_cli("visualize-attention", tmp_path / "w3" / "last.pt", video, "--out", png).stdout
    from PIL import Image

    assert Image.open(png).size[0] > 400
    plain = run_cli("visualize-attention", out / "last.pt", video, "--out", png, check=False)
    assert plain.returncode == 2 and "has no attention blocks" in plain.stderr
    no_gaf = run_cli("visualize-features", out / "last.pt", video, "--out", png, check=False)
    assert no_gaf.returncode == 2 and "has no GAF attention: train model.name=gaf_i3d" in no_gaf.stderr


def test_mfr_recipe_trains_teacher_then_student(trained, motion_dataset, tmp_path):
    config, plain_run, _ = trained
    overrides = tiny_overrides(motion_dataset, tmp_path / "mfr", epochs=1)
    w3 = ["model.options.attention=w3", "model.options.refine=true", "recipe.name=mfr", "recipe.mimic_weight=0.5",
          "model.options.attention_options.spatial_kernel=1"]
    proc = run_cli("train", config, *overrides, *w3, "train.log_every=1")
    assert "MFR stage 1" in proc.stderr + proc.stdout and "MFR stage 2" in proc.stderr + proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1])["epochs"] == 1
    for stage in ("teacher", "student"):
        assert (tmp_path / "mfr" / stage / "best.pt").is_file()
    steps = [json.loads(line) for line in (tmp_path / "mfr" / "student" / "metrics.jsonl").read_text().splitlines()]
    student_steps = [s for s in steps if s["kind"] == "train_step"]
    assert student_steps and all(s["mimic"] > 0 and "ce" in s for s in student_steps)
    mismatch = run_cli("train", config, *tiny_overrides(motion_dataset, tmp_path / "bad", epochs=1), *w3,
                       f"recipe.teacher={plain_run / 'last.pt'}", check=False)
    assert mismatch.returncode == 2
    assert "not the student's architecture; differing keys: layer1.0.attention" in mismatch.stderr


@pytest.mark.slow
def test_demo_table_with_attention_rows(tmp_path):
    proc = run_cli("demo", "--data-dir", tmp_path / "data", "--out", tmp_path / "runs", "--videos-per-class", "4",
                   "--epochs", "1", "--models", "tsn_tiny", "tsm_tiny+w3", "tsm_tiny+w3+mfr", "--no-progress")
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["tsn_tiny", "tsm_tiny+w3", "tsm_tiny+w3+mfr"]
    assert "recipe.teacher" not in proc.stderr and (tmp_path / "runs" / "tsm_tiny+w3+mfr" / "student" / "best.pt").is_file()
    assert not (tmp_path / "runs" / "tsm_tiny+w3+mfr" / "teacher").exists()
    assert (tmp_path / "runs" / "curves.png").is_file()
    bad = run_cli("demo", "--data-dir", tmp_path / "data", "--out", tmp_path / "runs", "--videos-per-class", "4",
                  "--epochs", "1", "--models", "tsm_tiny+se", check=False)
    assert bad.returncode == 2 and "unknown suffix 'se'" in bad.stderr


@pytest.mark.slow
def test_hcml_demo_suite_rows(tmp_path):
    proc = run_cli("demo", "--suite", "hcml", "--data-dir", tmp_path / "data", "--out", tmp_path / "runs",
                   "--videos-per-class", "4", "--epochs", "1", "--no-progress")
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["r2d_tiny", "r2d_tiny+pmb", "r2d_tiny+pmb+ssl"]
    assert (tmp_path / "runs" / "r2d_tiny+pmb+ssl" / "joint" / "last.pt").is_file()
    assert (tmp_path / "runs" / "r2d_tiny+pmb+ssl" / "level1" / "last.pt").is_file()
