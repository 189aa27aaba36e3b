"""The command line end to end on tiny synthetic data: train, test, infer, errors, help. The commands run
in this process (the ``cli`` fixture); one test starts the installed entry points, and the torchrun
test starts two training processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.processes import torchrun_two
from vidaction.cli.main import COMMANDS, main
from vidaction.data.synthetic import MOTION_CLASSES


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
def trained(motion_dataset, tmp_path_factory, cli):
    out = tmp_path_factory.mktemp("run")
    config = out / "cfg.yaml"
    config.write_text("data:\n  format: ucf101\n")
    proc = cli("train", config, *tiny_overrides(motion_dataset, out))
    return config, out, json.loads(proc.stdout.strip().splitlines()[-1])


W3 = ["model.options.attention=w3", "model.options.refine=true", "model.options.attention_options.spatial_kernel=1"]


@pytest.fixture(scope="module")
def mfr_run(trained, motion_dataset, tmp_path_factory, cli):
    """W3's two stages through ``train``: the teacher (TSM + W3 with refinement), then the student."""
    config, _, _ = trained
    out = tmp_path_factory.mktemp("mfr")
    proc = cli("train", config, *tiny_overrides(motion_dataset, out, epochs=1), *W3, "recipe.name=mfr",
               "recipe.mimic_weight=0.5", "train.log_every=1")
    return out, proc


def test_train_prints_metrics_json_and_fills_the_run_folder(trained):
    _, out, metrics = trained
    assert {"top1", "top5", "mean_class_acc", "best_top1"} <= metrics.keys()
    for name in ("config.yaml", "classes.txt", "last.pt", "best.pt", "metrics.jsonl", "curves.png", "confusion.png"):
        assert (out / name).is_file(), name


def test_test_command_reproduces_validation_metrics(trained, motion_dataset, cli):
    config, out, metrics = trained
    proc = cli("test", config, f"checkpoint={out / 'last.pt'}", *tiny_overrides(motion_dataset, out)[:-1])
    again = json.loads(proc.stdout.strip().splitlines()[-1])
    assert again["top1"] == pytest.approx(metrics["top1"])
    three = cli("test", config, f"checkpoint={out / 'last.pt'}", "data.test_crops=3", "data.test_clips=2",
                *tiny_overrides(motion_dataset, out)[:-1])
    assert json.loads(three.stdout.strip().splitlines()[-1])["num_videos"] == metrics["num_videos"]


def test_infer_top_k_and_bad_video(trained, motion_dataset, tmp_path, cli):
    _, out, _ = trained
    video = motion_dataset / "videos" / "rotate_cw" / "v_rotate_cw_g01_c01.mp4"
    proc = cli("infer", out / "best.pt", video, "--topk", "3", "--json")
    result = json.loads(proc.stdout)
    assert len(result["topk"]) == 3 and result["topk"][0]["label"] in MOTION_CLASSES
    assert sum(item["score"] for item in result["topk"]) <= 1.0 + 1e-6
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    bad = cli("infer", out / "best.pt", text, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "notes.txt" in bad.stderr


def test_resume_from_last_checkpoint(trained, motion_dataset, tmp_path, cli):
    config, out, _ = trained
    overrides = tiny_overrides(motion_dataset, tmp_path / "resumed", epochs=3)
    proc = cli("train", config, *overrides, f"train.resume={out / 'last.pt'}")
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
def test_user_errors_are_one_line(args, message, trained, motion_dataset, cli):
    config, out, _ = trained
    args = [str(config) if a == "CONFIG" else a for a in args]
    extra = tiny_overrides(motion_dataset, out / "err") if args[0] == "train" else []
    if args[0] == "train":
        extra = [o for o in extra if not any(o.startswith(a.split("=")[0] + "=") for a in args[2:])]
    proc = cli(*args, *extra, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and message in proc.stderr
    assert proc.stderr.startswith("vidaction: error: ") and proc.stderr.count("\n") == 1


def test_installed_entry_points_exit_with_the_status_of_the_command(tmp_path):
    """The console script and ``python -m vidaction.cli.main`` in their own interpreters: status 0 with the
    output on stdout; a user error is status 2 and one line on stderr, without a traceback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    listed = subprocess.run([str(Path(sys.executable).with_name("vidaction")), "list-models"], capture_output=True,
                            text=True, timeout=300, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "tsm_r50" in listed.stdout.split()
    missing = subprocess.run([sys.executable, "-m", "vidaction.cli.main", "infer", str(tmp_path / "none.pt"),
                              str(tmp_path / "none.mp4")], capture_output=True, text=True, timeout=300, env=env)
    assert missing.returncode == 2 and missing.stdout == ""
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    assert missing.stderr.startswith("vidaction: error: ") and "checkpoint not found" in missing.stderr


def test_list_models_and_flops(cli):
    assert "tsm_r50" in cli("list-models").stdout.split()
    out = cli("flops", "tsm_tiny", "--frames", "4", "--size", "32", "--num-classes", "5").stdout
    assert "params" in out and "MACs" in out


def test_convert_checkpoint(tmp_path, cli):
    from vidaction.models import create_model

    model = create_model("tsm_tiny", num_classes=3, num_frames=2)
    official = {"state_dict": {"module.base_model." + k.replace("conv1.", "conv1.net.") if k.startswith("layer")
                               else ("module.new_fc." + k[3:] if k.startswith("fc.") else "module.base_model." + k): v
                               for k, v in model.state_dict().items()}}
    torch.save(official, tmp_path / "tsm.pth")
    out = cli("convert-checkpoint", tmp_path / "tsm.pth", tmp_path / "ours.pt", "--arch", "tsm_tiny",
              "--num-classes", "3", "--num-frames", "2").stdout
    assert "0 missing, 0 unexpected" in out
    assert torch.load(tmp_path / "ours.pt")["format"] == "vidaction"


def test_make_synthetic(tmp_path, cli):
    out = cli("make-synthetic", "--out", tmp_path / "s", "--videos-per-class", "2", "--size", "32",
              "--frames", "6").stdout
    assert "synthetic motion dataset" in out
    assert (tmp_path / "s" / "annotations" / "classInd.txt").read_text().count("\n") == len(MOTION_CLASSES)


# The script torchrun starts: ``vidaction`` itself, with each rank's final weights written beside the run.
DDP_TRAIN = r'''
import sys

import torch

from vidaction.cli.main import main
from vidaction.engine import distributed
from vidaction.engine.loop import TrainingLoop

fit = TrainingLoop.fit


def fit_and_keep_the_weights(self):
    metrics = fit(self)
    torch.save(self.model.state_dict(), f"{sys.argv[1]}/rank{distributed.rank()}.weights")
    return metrics


TrainingLoop.fit = fit_and_keep_the_weights
sys.exit(main(sys.argv[2:]))
'''


@pytest.mark.slow
def test_torchrun_two_cpu_processes(motion_dataset, tmp_path):
    """Recognition's DDP test: two gloo processes train from one command; their weights stay identical,
    validation covers every video once, and only rank 0 prints the metrics and writes the run files."""
    config = tmp_path / "cfg.yaml"
    config.write_text("data:\n  format: ucf101\n")
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_TRAIN)
    proc = torchrun_two(script, tmp_path, "train", config, *tiny_overrides(motion_dataset, tmp_path / "run", epochs=1))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and json.loads(lines[0])["num_videos"] == 32
    assert (tmp_path / "run" / "last.pt").is_file()
    a, b = torch.load(tmp_path / "rank0.weights"), torch.load(tmp_path / "rank1.weights")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logged = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in line for line in logged) == 1


def test_visualize_attention(trained, mfr_run, motion_dataset, tmp_path, cli):
    config, out, _ = trained
    video = motion_dataset / "videos" / "approach" / "v_approach_g01_c01.mp4"
    overrides = tiny_overrides(motion_dataset, tmp_path / "w3", epochs=1)
    too_small = cli("train", config, *overrides, "model.options.attention=w3", check=False)
    assert too_small.returncode == 2 and "Traceback" not in too_small.stderr
    assert "layer1: a 24x24 input gives 6x6 feature maps, smaller than the 7x7 spatial kernel" in too_small.stderr
    # MFR's teacher is TSM + W3 with refinement trained by ``train``.
    png = tmp_path / "att.png"
    assert "wrote" in cli("visualize-attention", mfr_run[0] / "teacher" / "last.pt", video, "--out", png).stdout
    from PIL import Image

    assert Image.open(png).size[0] > 400
    plain = cli("visualize-attention", out / "last.pt", video, "--out", png, check=False)
    assert plain.returncode == 2 and "has no attention blocks" in plain.stderr
    no_gaf = cli("visualize-features", out / "last.pt", video, "--out", png, check=False)
    assert no_gaf.returncode == 2 and "has no GAF attention: train model.name=gaf_i3d" in no_gaf.stderr


def test_mfr_recipe_trains_teacher_then_student(trained, mfr_run, motion_dataset, tmp_path, cli):
    config, plain_run, _ = trained
    out, proc = mfr_run
    assert "MFR stage 1" in proc.stderr + proc.stdout and "MFR stage 2" in proc.stderr + proc.stdout
    assert json.loads(proc.stdout.strip().splitlines()[-1])["epochs"] == 1
    for stage in ("teacher", "student"):
        assert (out / stage / "best.pt").is_file()
    steps = [json.loads(line) for line in (out / "student" / "metrics.jsonl").read_text().splitlines()]
    student_steps = [s for s in steps if s["kind"] == "train_step"]
    assert student_steps and all(s["mimic"] > 0 and "ce" in s for s in student_steps)
    mismatch = cli("train", config, *tiny_overrides(motion_dataset, tmp_path / "bad", epochs=1), *W3,
                   "recipe.name=mfr", "recipe.mimic_weight=0.5", f"recipe.teacher={plain_run / 'last.pt'}",
                   check=False)
    assert mismatch.returncode == 2
    assert "not the student's architecture; differing keys: layer1.0.attention" in mismatch.stderr


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """Where the motion demos write (then reuse) their synthetic videos."""
    return tmp_path_factory.mktemp("demo") / "data"


@pytest.mark.slow
def test_demo_table_with_attention_rows(demo_data, tmp_path, cli):
    proc = cli("demo", "--data-dir", demo_data, "--out", tmp_path / "runs", "--videos-per-class", "4",
               "--epochs", "1", "--models", "tsm_tiny+online", "tsm_tiny+w3", "tsm_tiny+w3+mfr", "--no-progress")
    table = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [row[0].strip() for row in table[1:4]] == ["tsm_tiny+online", "tsm_tiny+w3", "tsm_tiny+w3+mfr"]
    # The online row is streamed over the 8 x 1 test videos, frame by frame.
    assert [cell.strip() for cell in table[4]][:3] == ["streamed model", "test videos", "online top-1 %"]
    assert table[5][0].strip() == "tsm_tiny+online" and table[5][1].strip() == "8" and float(table[5][3]) > 0
    assert "recipe.teacher" not in proc.stderr and (tmp_path / "runs" / "tsm_tiny+w3+mfr" / "student" / "best.pt").is_file()
    assert not (tmp_path / "runs" / "tsm_tiny+w3+mfr" / "teacher").exists()
    assert (tmp_path / "runs" / "curves.png").is_file()
    bad = cli("demo", "--data-dir", demo_data, "--out", tmp_path / "runs", "--videos-per-class", "4",
              "--epochs", "1", "--models", "tsm_tiny+se", check=False)
    assert bad.returncode == 2 and "unknown suffix 'se'" in bad.stderr


@pytest.mark.slow
def test_hcml_demo_suite_rows(demo_data, tmp_path, cli):
    proc = cli("demo", "--suite", "hcml", "--data-dir", demo_data, "--out", tmp_path / "runs",
               "--videos-per-class", "4", "--epochs", "1", "--no-progress")
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["r2d_tiny", "r2d_tiny+pmb", "r2d_tiny+pmb+ssl"]
    assert (tmp_path / "runs" / "r2d_tiny+pmb+ssl" / "joint" / "last.pt").is_file()
    assert (tmp_path / "runs" / "r2d_tiny+pmb+ssl" / "level1" / "last.pt").is_file()
