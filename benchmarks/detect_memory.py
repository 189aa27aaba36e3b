"""Peak memory of ``vidaction detect`` against the video's length: a 1-minute and a 10-minute video.

The detector is the detection demo's AFSD (``src/vidaction/demo/configs/detection.yaml``) with random
weights, trained on nothing, saved as ``vidaction train`` saves it from a tiny synthetic detection set:
``detect`` computes each video's motion-descriptor features as the demo's training features were made
(10 fps, stride 2) and runs the detector on their windows. The long videos are synthetic scenes
(``--size`` pixels square, 10 fps) written to a temporary folder; each ``detect`` runs in its own
process, whose peak resident memory (``VmHWM``) is printed with the wall time.
Streaming decodes and describes a piece of frames at a time, so the two peaks should lie within 10 %
of each other.

Run: python benchmarks/detect_memory.py [--seconds 60 600 --size 64]
Tiny check: python benchmarks/detect_memory.py --seconds 12 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import environment
from vidaction.config import config_to_dict
from vidaction.data.synthetic_detection import make_detection_dataset
from vidaction.data.synthetic_scenes import plan_instances, render_detection_video
from vidaction.data.writer import write_video
from vidaction.demo.recipes import detection_demo_config
from vidaction.engine.checkpoint import save_checkpoint
from vidaction.engine.tasks.detection import detection_parts

FPS = 10.0


def save_demo_detector(folder: Path) -> Path:
    data = make_detection_dataset(folder / "data", num_train=2, num_test=1, min_duration=12.0, max_duration=14.0)
    cfg = detection_demo_config(data, [f"train.out_dir={folder / 'run'}"])
    torch.manual_seed(0)
    parts = detection_parts(cfg, log=lambda _: None)
    return save_checkpoint(folder / "detector.pt", {
        "format": "vidaction", "model": parts.model.state_dict(), "config": config_to_dict(cfg),
        "class_names": list(parts.class_names), "pretrained_cfg": parts.model.pretrained_cfg, "arch": parts.model.arch})


def write_scene(path: Path, seconds: float, size: int) -> Path:
    rng = np.random.default_rng(int(seconds))
    frames = int(seconds * FPS)
    instances, ambiguous = plan_instances(rng, frames, FPS)
    return write_video(path, render_detection_video(rng, instances, ambiguous, frames, FPS, size), fps=FPS)


# Runs the command line and writes the process's peak resident memory (VmHWM, kB) to the file
# descriptor given first. Not
# ru_maxrss: Linux carries the high-water mark of the memory a process had before exec into it, so a
# child started by this (larger) benchmark process would report at least the benchmark's size.
PEAK_OF_MAIN = """
import os, runpy, sys
report = int(sys.argv.pop(1))
sys.argv = ["vidaction", *sys.argv[1:]]
try:
    runpy.run_module("vidaction.cli.main", run_name="__main__")
finally:
    status = open("/proc/self/status").read()
    os.write(report, next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1].encode())
"""


def peak_rss(arguments: list[str]) -> tuple[float, float]:
    """``(peak resident memory in MiB, seconds)`` of ``vidaction ARGUMENTS`` in its own process."""
    read, write = os.pipe()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", PEAK_OF_MAIN, str(write), *arguments], stdout=subprocess.DEVNULL,
                            pass_fds=(write,), env={**os.environ, "OMP_NUM_THREADS": "1"})
    os.close(write)
    peak = os.read(read, 64)
    os.close(read)
    if proc.wait() != 0:
        raise SystemExit(f"vidaction {' '.join(arguments)} exited with {proc.returncode}")
    return int(peak) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0], help="video lengths (at least 12)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (a multiple of 8)")
    args = parser.parse_args()
    print(environment())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = save_demo_detector(folder)
        print(f"vidaction detect, demo detector (random weights), {args.size}x{args.size} at {FPS:g} fps")
        print(f"{'video (s)':>9} {'frames':>7} {'peak RSS (MiB)':>15} {'seconds':>8}")
        peaks = []
        for seconds in args.seconds:
            video = write_scene(folder / f"scene_{seconds:g}s.mp4", seconds, args.size)
            peak, wall = peak_rss(["detect", str(checkpoint), str(video), "--out", str(folder / "detections.json"),
                                   "--device", "cpu"])
            peaks.append(peak)
            print(f"{seconds:>9g} {int(seconds * FPS):>7} {peak:>15.1f} {wall:>8.1f}")
    print(f"longest / shortest peak: {peaks[-1] / peaks[0]:.3f}")


if __name__ == "__main__":
    main()
