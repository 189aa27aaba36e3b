"""Data-pipeline throughput (clips/s) against decoding the same frames with bare PyAV.

Writes its own videos (``--videos`` H.264 mp4s, 64 frames of 320x256: short side already 256),
then for 1 and 2 workers measures
(a) vidaction: VideoClipDataset + DataLoader (persistent workers, batch 8), TSN 8-segment test
    sampling, resize to short side 256, centre crop 224, normalise to float32 ``(8, 3, 8, 224, 224)``;
(b) bare PyAV: open each file with PyAV's default settings, decode every frame in order and keep
    the same 8 indices as RGB arrays; nothing else (no crop, no float conversion), in 1 process or a
    pool of 2.
Each row is the median of ``--repeats`` timed passes over all videos after one warm-up pass.
A second table: sparse TSN sampling (8 segment centres) of one long video (``--long-seconds`` of
the same scene, H.264 with x264's default keyframe interval of 250 frames), read by VideoReader
with its seeks between far-apart frames (``sparse_seek``), by VideoReader seeking once and
decoding through, and by bare PyAV decoding every frame; one process, frames only.
Run: python benchmarks/data_pipeline.py [--videos 32] [--repeats 5] [--thread-type SLICE] [--long-seconds 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import av
import numpy as np

from common import environment
from vidaction.config import DataConfig
from vidaction.data.build import build_loader
from vidaction.data.dataset import VideoClipDataset
from vidaction.data.records import VideoRecord
from vidaction.data.sampling import SegmentSampler
from vidaction.data.transforms import build_test_transform
from vidaction.data.video import VideoReader
from vidaction.data.writer import write_video

NUM_FRAMES = 64
HEIGHT, WIDTH = 256, 320


class ThreadedReaderFactory:
    """``record -> VideoReader`` with a chosen FFmpeg ``thread_type`` (picklable for workers)."""

    def __init__(self, thread_type: str) -> None:
        self.thread_type = thread_type

    def __call__(self, record: VideoRecord) -> VideoReader:
        return VideoReader(record.path, thread_type=self.thread_type)


def bare_decode(job: tuple[str, list[int]]) -> int:
    """Decode every frame of ``path`` in order, keeping ``indices`` as RGB arrays; returns how many."""
    path, indices = job
    wanted = set(indices)
    kept = []
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                kept.append(frame.to_ndarray(format="rgb24"))
    return len(kept)


def scene(t: int, rng: np.random.Generator) -> np.ndarray:
    """Frame ``t`` of a moving scene: drifting colour gratings, a moving disc, mild sensor noise
    (about 3 Mbit/s at 25 fps once encoded, like downloaded action videos; pure noise would be 30)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack([128 + 100 * np.sin((x + 4 * t) / 17), 128 + 100 * np.cos((y - 3 * t) / 23),
                      128 + 80 * np.sin((x + y + 5 * t) / 31)], axis=-1)
    cy, cx = 128 + 60 * np.sin(t / 9), 160 + 90 * np.cos(t / 11)
    image[(y - cy) ** 2 + (x - cx) ** 2 < 900] = (240, 30, 30)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def write_videos(folder: Path, count: int) -> list[str]:
    """``count`` copies of one H.264 mp4 (each read from its own file)."""
    rng = np.random.default_rng(0)
    first = write_video(folder / "v000.mp4", np.stack([scene(t, rng) for t in range(NUM_FRAMES)]), fps=25)
    paths = [first]
    for k in range(1, count):
        paths.append(folder / f"v{k:03d}.mp4")
        paths[-1].write_bytes(first.read_bytes())
    return [str(path) for path in paths]


def write_long_video(path: Path, seconds: int, fps: int = 25) -> str:
    """The scene for ``seconds``, encoded frame by frame (x264 defaults: a keyframe every 250 frames)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width, stream.pix_fmt = HEIGHT, WIDTH, "yuv420p"
        for t in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(scene(t, rng), format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return str(path)


def sparse_rows(folder: Path, seconds: int, repeats: int) -> list[tuple[str, float]]:
    """Clips/s of 8-segment TSN test sampling over one long video, for each way of reading it."""
    path = write_long_video(folder / "long.mp4", seconds)
    num_frames = VideoReader(path).num_frames
    indices = SegmentSampler(8, train=False)(num_frames, np.random.default_rng(0))[0]
    ways = {"vidaction, seeking between frames": lambda: VideoReader(path).get_frames(indices),
            "vidaction, one seek then decoding through": lambda: VideoReader(path, sparse_seek=False).get_frames(indices),
            "bare PyAV decode-all": lambda: bare_decode((path, indices))}
    return [(name, clips_per_second(run, 1, repeats)) for name, run in ways.items()]


def clips_per_second(run, count: int, repeats: int) -> float:
    run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--thread-type", default="SLICE", choices=["SLICE", "AUTO", "FRAME", "NONE"],
                        help="FFmpeg decoder threading of vidaction's VideoReader")
    parser.add_argument("--long-seconds", type=int, default=60, help="length of the sparse-sampling video")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidaction-bench-") as tmp:
        paths = write_videos(Path(tmp), args.videos)
        sampler = SegmentSampler(8, train=False)
        indices = sampler(NUM_FRAMES, np.random.default_rng(0))[0]
        jobs = [(path, indices) for path in paths]
        records = [VideoRecord(path, 0) for path in paths]
        rows = []
        for workers in (1, 2):
            cfg = DataConfig(num_frames=8, input_size=224, resize_short=256, batch_size=8, num_workers=workers,
                             pin_memory=False, persistent_workers=True)
            dataset = VideoClipDataset(records, ThreadedReaderFactory(args.thread_type), sampler,
                                       build_test_transform(cfg))
            loader = build_loader(dataset, cfg, train=False)
            ours = clips_per_second(lambda: sum(batch["clip"].shape[0] for batch in loader), len(paths), args.repeats)
            if workers == 1:
                bare = clips_per_second(lambda: [bare_decode(job) for job in jobs], len(paths), args.repeats)
            else:
                with Pool(workers) as pool:
                    bare = clips_per_second(lambda: pool.map(bare_decode, jobs), len(paths), args.repeats)
            rows.append((workers, ours, bare))
        sparse = sparse_rows(Path(tmp), args.long_seconds, args.repeats)
    print(f"environment: {environment()}")
    print(f"{args.videos} videos of {NUM_FRAMES} frames at {WIDTH}x{HEIGHT} (H.264), 8 frames per clip at 224x224, "
          f"reader thread_type={args.thread_type}; median of {args.repeats} passes after a warm-up pass")
    print()
    print("| workers | vidaction (clips/s) | bare PyAV decode (clips/s) | vidaction / bare |")
    print("|---|---|---|---|")
    for workers, ours, bare in rows:
        print(f"| {workers} | {ours:.1f} | {bare:.1f} | {ours / bare:.2f} |")
    print()
    print(f"sparse sampling: 8 TSN frames of one {args.long_seconds}-s video ({args.long_seconds * 25} frames, "
          f"{WIDTH}x{HEIGHT}, H.264 keyframe every 250), 1 process")
    print()
    print("| reader | clips/s | x bare decode-all |")
    print("|---|---|---|")
    for name, rate in sparse:
        print(f"| {name} | {rate:.2f} | {rate / sparse[-1][1]:.2f} |")


if __name__ == "__main__":
    main()
