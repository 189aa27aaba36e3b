"""Training that survives being killed: results independent of the number of data workers, checkpoints
inside an epoch, ``kill -9`` of a real ``vidaction train`` at a random moment (also while it writes a
checkpoint) then resume giving the uninterrupted run's weights bit for bit, and a full disk."""

import errno
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.processes import TORCHRUN
from vidaction.config import config_from_dict, save_config
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.experiment import run_training
from vidaction.engine.loop import TrainingLoop
from vidaction.io import FileWriteError

VIDACTION = [sys.executable, "-m", "vidaction.cli.main"]
# The subprocess dies at its Nth checkpoint write, the temporary file written, before the rename.
DIE_WHILE_WRITING = r'''
import os
import signal
import sys

import vidaction.io as io

real_write, writes = io.atomic_write, []


def dying_write(path, write):
    writes.append(path)
    if len(writes) < int(sys.argv[1]):
        return real_write(path, write)

    def write_then_die(stream):
        write(stream)
        stream.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    return real_write(path, write_then_die)


io.atomic_write = dying_write
from vidaction.cli.main import main

sys.exit(main(sys.argv[2:]))
'''


def recognition_config(motion_dataset, out_dir, workers=2, epochs=2, **extra):
    return config_from_dict({
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": 4, "input_size": 24,
                 "resize_short": 28, "batch_size": 8, "num_workers": workers, "pin_memory": False},
        "model": {"name": "tsm_tiny", "dropout": 0.5},
        "optim": {"name": "adamw", "lr": 0.01}, "schedule": {"epochs": epochs, "warmup_epochs": 0},
        "train": {"out_dir": str(out_dir), "progress": False, "tensorboard": False, "log_every": 1,
                  "checkpoint_every_steps": 1, "seed": 3},
        **extra})


def weights(path):
    return load_checkpoint(path)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def with_train(cfg, **train):
    return replace(cfg, train=replace(cfg.train, **train))


def test_the_number_of_workers_does_not_change_the_result(motion_dataset, tmp_path):
    run_training(recognition_config(motion_dataset, tmp_path / "w0", workers=0))
    run_training(recognition_config(motion_dataset, tmp_path / "w2", workers=2))
    assert_same_weights(weights(tmp_path / "w0" / "last.pt"), weights(tmp_path / "w2" / "last.pt"))


def test_a_checkpoint_inside_an_epoch_resumes_at_the_next_batch(motion_dataset, tmp_path, monkeypatch):
    straight = recognition_config(motion_dataset, tmp_path / "straight")
    run_training(straight)
    original = TrainingLoop._save

    def stop_mid_epoch(self, name, **extra):
        original(self, name, **extra)
        if self.global_step == 6:  # epoch 2, batch 2 of 4
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainingLoop, "_save", stop_mid_epoch)
    cut = recognition_config(motion_dataset, tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        run_training(cut)
    monkeypatch.setattr(TrainingLoop, "_save", original)
    state = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert (state["epoch"], state["global_step"], state["epoch_progress"]["batches"]) == (1, 6, 2)
    run_training(with_train(cut, auto_resume=True))
    assert_same_weights(weights(tmp_path / "straight" / "last.pt"), weights(tmp_path / "cut" / "last.pt"))
    ours = load_checkpoint(tmp_path / "cut" / "last.pt")["history"]
    assert ours == load_checkpoint(tmp_path / "straight" / "last.pt")["history"]


def start_and_kill(command, out_dir, steps, rng, cwd):
    """Start ``command``, wait until it logged ``steps`` training steps, kill its process group with
    SIGKILL a random moment later; the steps it had logged."""
    proc = subprocess.Popen(command, cwd=cwd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = Path(out_dir) / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and log.read_text().count('"train_step"') >= steps:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before step {steps}: {proc.stderr.read()[-2000:]!r}"
    time.sleep(rng.uniform(0.0, 0.3))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return log.read_text().count('"train_step"')


KILLED_RUNS = ["recognition", "detection", "gaf", "mfr"]
# Trials per kind of run; benchmarks/fault_tolerance.py raises it for a longer soak.
KILL_TRIALS = int(os.environ.get("VIDACTION_KILL_TRIALS", "1"))


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(KILL_TRIALS))
@pytest.mark.parametrize("kind", KILLED_RUNS)
def test_kill_9_at_a_random_moment_then_resume_is_bit_exact(kind, trial, motion_dataset, detection_dataset,
                                                           feature_config, gaf_config, tmp_path):
    rng = random.Random(100 * trial + KILLED_RUNS.index(kind))
    if kind == "recognition":
        make = lambda out: recognition_config(motion_dataset, out)  # noqa: E731
    elif kind == "mfr":
        make = lambda out: recognition_config(motion_dataset, out, epochs=1, recipe={"name": "mfr"})  # noqa: E731
    else:
        build = feature_config if kind == "detection" else gaf_config
        make = lambda out: with_train(build(detection_dataset, out), checkpoint_every_steps=1, seed=3)  # noqa: E731
    straight, cut = make(tmp_path / "straight"), make(tmp_path / "cut")
    run_training(straight)
    save_config(cut, tmp_path / "cut.yaml")
    killed_dir = tmp_path / "cut" / ("student" if kind == "mfr" else "")
    total = load_checkpoint(tmp_path / "straight" / killed_dir.relative_to(tmp_path / "cut") / "last.pt")["global_step"]
    steps = rng.randint(1, total - 1)
    start_and_kill([*VIDACTION, "train", str(tmp_path / "cut.yaml")], killed_dir, steps, rng, tmp_path)
    teacher = (tmp_path / "cut" / "teacher" / "last.pt").read_bytes() if kind == "mfr" else None
    run_training(with_train(cut, auto_resume=True))
    if kind == "mfr":  # stage 2 resumed; stage 1 was not trained again
        assert (tmp_path / "cut" / "teacher" / "last.pt").read_bytes() == teacher
    for sub in (["teacher", "student"] if kind == "mfr" else [""]):
        assert_same_weights(weights(tmp_path / "straight" / sub / "last.pt"), weights(tmp_path / "cut" / sub / "last.pt"))


@pytest.mark.slow
def test_killed_while_writing_a_checkpoint_then_resume_is_bit_exact(motion_dataset, tmp_path):
    straight, cut = (recognition_config(motion_dataset, tmp_path / name) for name in ("straight", "cut"))
    run_training(straight)
    save_config(cut, tmp_path / "cut.yaml")
    script = tmp_path / "die_while_writing.py"
    script.write_text(DIE_WHILE_WRITING)
    proc = subprocess.run([sys.executable, str(script), "5", "train", str(tmp_path / "cut.yaml")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert list((tmp_path / "cut").glob(".last.pt.*.tmp")), "the run did not die while writing"
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["global_step"] == 4  # the previous checkpoint, whole
    run_training(with_train(cut, auto_resume=True))
    assert_same_weights(weights(tmp_path / "straight" / "last.pt"), weights(tmp_path / "cut" / "last.pt"))


def test_a_full_disk_stops_with_the_previous_checkpoint_intact(motion_dataset, tmp_path, monkeypatch):
    import vidaction.io as io

    cfg = recognition_config(motion_dataset, tmp_path / "run", workers=0)
    real_save = torch.save

    def full_disk(obj, stream, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("global_step") == 3:
            stream.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, stream, *args, **kwargs)

    monkeypatch.setattr(io.torch, "save", full_disk)
    with pytest.raises(FileWriteError, match=r"cannot write .*last\.pt: No space left on device \(the previous "
                                             r"last\.pt is intact\)"):
        run_training(cfg)
    monkeypatch.setattr(io.torch, "save", real_save)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["global_step"] == 2
    assert not list((tmp_path / "run").glob(".*.tmp")) and not (tmp_path / "run" / "interrupted.pt").exists()
    run_training(with_train(cfg, auto_resume=True))
    assert load_checkpoint(tmp_path / "run" / "last.pt")["global_step"] == 8


def test_an_unwritable_run_folder_is_named(motion_dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FileWriteError, match=r"cannot write the run folder .*file/run"):
        run_training(recognition_config(motion_dataset, blocker / "run", workers=0))


# Rank 1 raises in its second training step; the others must not wait for it forever.
RAISE_ON_RANK_1 = r'''
import os
import sys

from vidaction.engine.objectives.base import Objective

real_step = Objective.train_step


def failing_step(self, runner, *args):
    if os.environ["RANK"] == "1" and runner.step == 1:
        raise RuntimeError("injected failure on rank 1 at step 2")
    return real_step(self, runner, *args)


Objective.train_step = failing_step
from vidaction.cli.main import main

sys.exit(main(sys.argv[1:]))
'''


def ddp_config(motion_dataset, out_dir):
    cfg = recognition_config(motion_dataset, out_dir, workers=0)
    return replace(cfg, data=replace(cfg.data, batch_size=4))


def worker_of_rank(parent: int, rank: str) -> int:
    """The pid of torchrun's worker process with ``RANK=rank``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no worker with RANK={rank} under {parent}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_torchrun_restarts_a_killed_rank_and_the_run_ends_as_if_uninterrupted(motion_dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("straight", "cut"):
        save_config(ddp_config(motion_dataset, tmp_path / name), tmp_path / f"{name}.yaml")
    done = subprocess.run([*TORCHRUN, "-m", "vidaction.cli.main", "train", str(tmp_path / "straight.yaml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    proc = subprocess.Popen([*TORCHRUN, "--max-restarts=1", "-m", "vidaction.cli.main", "train",
                             str(tmp_path / "cut.yaml")], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        log, deadline = tmp_path / "cut" / "metrics.jsonl", time.monotonic() + 120
        while not (log.is_file() and log.read_text().count('"train_step"') >= 5) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.02)
        os.kill(worker_of_rank(proc.pid, "1"), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:  # never leave a group behind to hold the machine
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert "auto-resume: continuing from" in stdout and "resumed from" in stderr
    assert_same_weights(weights(tmp_path / "straight" / "last.pt"), weights(tmp_path / "cut" / "last.pt"))


@pytest.mark.slow
def test_a_rank_that_raises_stops_every_rank_with_the_error_named(motion_dataset, tmp_path):
    save_config(ddp_config(motion_dataset, tmp_path / "run"), tmp_path / "cfg.yaml")
    script = tmp_path / "raise_on_rank_1.py"
    script.write_text(RAISE_ON_RANK_1)
    start = time.monotonic()
    proc = subprocess.run([*TORCHRUN, str(script), "train", str(tmp_path / "cfg.yaml")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0 and time.monotonic() - start < 120
    assert "injected failure on rank 1 at step 2" in proc.stdout + proc.stderr
