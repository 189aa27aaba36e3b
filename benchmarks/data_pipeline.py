"""Data-pipeline throughput (clips/s) against decoding the same frames with bare PyAV.

Writes its own videos (320x256, 64 frames, H.264), then for 1 and 2 workers measures
(a) vidaction: VideoClipDataset + DataLoader, TSN 8-segment sampling, resize 256, centre crop 224,
normalise, batch 8; (b) bare PyAV: open each file, decode every frame in order, keep the same 8
indices as RGB arrays, no resizing (a lower bound on any pipeline's work), in 1 or 2 processes.
Run: python benchmarks/data_pipeline.py [--videos 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import av
import numpy as np

from common import environment
from vidaction.config import DataConfig
from vidaction.data.build import build_dataset_for_records, build_loader
from vidaction.data.records import VideoRecord
from vidaction.data.sampling import SegmentSampler
from vidaction.data.writer import write_video


def bare_decode(job: tuple[str, list[int]]) -> int:
    path, indices = job
    wanted = set(indices)
    kept = []
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                kept.append(frame.to_ndarray(format="rgb24"))
            if i >= max(indices):
                break
    return len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vidaction-bench-"))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (8, 256, 320, 3), dtype=np.uint8)
    paths = []
    for k in range(args.videos):
        frames = np.stack([np.roll(base[i % 8], 3 * i, axis=1) for i in range(64)])
        paths.append(str(write_video(folder / f"v{k}.mp4", frames, fps=25)))
    cfg = DataConfig(num_frames=8, input_size=224, resize_short=256, batch_size=8, pin_memory=False,
                     mean=[0.5] * 3, std=[0.25] * 3)
    sampler = SegmentSampler(8, train=False)
    jobs = [(p, sampler(64, np.random.default_rng(0))[0]) for p in paths]
    rows = []
    for workers in (1, 2):
        dataset = build_dataset_for_records(cfg, [VideoRecord(p, 0) for p in paths], train=False)
        loader = build_loader(dataset, DataConfig(**{**cfg.__dict__, "num_workers": workers,
                                                     "persistent_workers": False}), train=False)
        ours, bare = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            count = sum(batch["clip"].shape[0] for batch in loader)
            ours.append(count / (time.perf_counter() - start))
            start = time.perf_counter()
            if workers == 1:
                done = sum(1 for job in jobs if bare_decode(job))
            else:
                with Pool(workers) as pool:
                    done = sum(1 for n in pool.map(bare_decode, jobs) if n)
            bare.append(done / (time.perf_counter() - start))
        rows.append((workers, float(np.median(ours)), float(np.median(bare))))
    print(f"environment: {environment()}")
    print(f"{args.videos} videos 320x256x64 frames, 8 frames per clip, median of {args.repeats} passes")
    print("| workers | vidaction (clips/s) | bare PyAV decode (clips/s) | ratio |")
    print("|---|---|---|---|")
    for workers, ours, bare in rows:
        print(f"| {workers} | {ours:.1f} | {bare:.1f} | {ours / bare:.2f} |")


if __name__ == "__main__":
    main()
