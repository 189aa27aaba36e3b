"""Video decoding throughput (clips/s) of vidaction's readers against bare decoders, through a DataLoader.

Inputs, written by the script:
- UCF101-like: ``--ucf-clips`` copies of a 7-s clip, 320x240 at 25 fps, MPEG-4 ASP in AVI with
  DivX-style packed B-frames (UCF101's layout: vidaction numbers its frames in decode order), a
  keyframe every 250 frames (XviD's default maximum), so one per clip;
- Kinetics-like: ``--kinetics-clips`` copies of a 10-s clip, 340x256 at 25 fps, H.264 MP4 with
  x264's defaults (B-frames, a keyframe at most every 250 frames);
- untrimmed: one ``--long-seconds`` (300) video like the Kinetics clips, read ``--long-items`` times a pass.
Each file is read from its own path. The content is drifting colour gratings, a moving disc and mild
noise (about 3 Mbit/s for H.264 at 340x256, like downloaded action videos).

Samplings: dense 8, 16 and 32 frames two apart at a random offset, and sparse TSN (8 segments, a
random frame of each); the indices of each item are drawn once (seeded) and are the same for
every reader. Readers, one DataLoader item per clip (batch 8, persistent workers, 1 and 2 workers):
- vidaction PyAV: ``VideoReader(path, thread_type).get_frames(indices)``;
- vidaction torchcodec: ``TorchcodecReader(path).get_frames(indices)`` (``data.decoder: torchcodec``);
- bare PyAV decode-all: PyAV's defaults, every frame decoded in order, the wanted ones kept as RGB;
- bare torchcodec: ``VideoDecoder(path, seek_mode="exact").get_frames_at(indices)``, frames found by
  timestamp (on the packed AVIs it fails or would return wrong frames).
The torchcodec rows are left out, with a note, where torchcodec cannot be imported.

Columns: the median clips/s of ``--repeats`` passes after a first pass, the first pass (it includes
starting the workers and, for vidaction, probing every file: an epoch with a cold cache), and the
ratio to bare PyAV decode-all on the same input, sampling and workers (issue 15's targets: at least
1.0 for dense clips with 1 worker, at least 2 for sparse sampling of the untrimmed video). vidaction's
readers keep each file's probe in the worker (``vidaction.data.video.PROBES``), as across epochs.
Run: python benchmarks/data_pipeline.py [--repeats 3] [--long-seconds 300] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.media: the packed-AVI writer

from common import environment  # noqa: E402
from tests.media import packed_avi  # noqa: E402
from vidaction.data.sampling import DenseSampler, SegmentSampler  # noqa: E402
from vidaction.data.video import VideoReader  # noqa: E402
from vidaction.data.video_torchcodec import TorchcodecReader, TorchcodecUnavailable, require_torchcodec  # noqa: E402

FPS = 25
SAMPLINGS = {"dense 8": DenseSampler(8, 2, train=True), "dense 16": DenseSampler(16, 2, train=True),
             "dense 32": DenseSampler(32, 2, train=True), "TSN 8": SegmentSampler(8, train=True)}
Job = tuple[str, list[int]]


def scene(t: int, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Frame ``t``: drifting colour gratings, a moving disc, mild sensor noise."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([128 + 100 * np.sin((x + 4 * t) / 17), 128 + 100 * np.cos((y - 3 * t) / 23),
                      128 + 80 * np.sin((x + y + 5 * t) / 31)], axis=-1)
    cy, cx = height / 2 + height / 4 * np.sin(t / 9), width / 2 + width / 4 * np.cos(t / 11)
    image[(y - cy) ** 2 + (x - cx) ** 2 < 900] = (240, 30, 30)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def scenes(count: int, height: int, width: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(0)
    return (scene(t, rng, height, width) for t in range(count))


def write_h264(path: Path, count: int, height: int = 256, width: int = 340) -> Path:
    """``count`` frames of the scene, H.264 with x264's defaults, encoded frame by frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for t, image in enumerate(scenes(count, height, width)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def copies(first: Path, count: int) -> list[str]:
    paths = [first]
    for k in range(1, count):
        paths.append(first.with_name(f"{first.stem}{k:03d}{first.suffix}"))
        paths[-1].write_bytes(first.read_bytes())
    return [str(path) for path in paths]


def write_inputs(folder: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    ucf = packed_avi(folder / "ucf.avi", np.stack(list(scenes(args.ucf_seconds * FPS, 240, 320))), gop=250, qmax=10)
    kinetics = write_h264(folder / "kinetics.mp4", args.kinetics_seconds * FPS)
    long = str(write_h264(folder / "untrimmed.mp4", args.long_seconds * FPS))
    return {f"UCF101-like ({args.ucf_seconds} s, packed MPEG-4 AVI)": copies(ucf, args.ucf_clips),
            f"Kinetics-like ({args.kinetics_seconds} s, H.264)": copies(kinetics, args.kinetics_clips),
            f"untrimmed ({args.long_seconds} s, H.264)": [long] * args.long_items}


def read_vidaction(path: str, indices: list[int], thread_type: str) -> torch.Tensor:
    return torch.from_numpy(VideoReader(path, thread_type=thread_type).get_frames(indices))


def read_vidaction_torchcodec(path: str, indices: list[int]) -> torch.Tensor:
    return torch.from_numpy(TorchcodecReader(path).get_frames(indices))


def read_bare_pyav(path: str, indices: list[int]) -> torch.Tensor:
    """Decode every frame in order, keep the wanted ones (in the order asked) as RGB."""
    wanted = set(indices)
    kept = {}
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                kept[i] = frame.to_ndarray(format="rgb24")
    return torch.from_numpy(np.stack([kept[i] for i in indices]))


def read_bare_torchcodec(path: str, indices: list[int]) -> torch.Tensor:
    decoder = require_torchcodec()(path, seek_mode="exact", dimension_order="NHWC", device="cpu")
    return decoder.get_frames_at(indices).data


class Clips(Dataset):
    """Item ``i``: ``read(path, indices)`` of job ``i``, ``(T, H, W, 3) uint8``."""

    def __init__(self, jobs: list[Job], read: Callable[[str, list[int]], torch.Tensor]) -> None:
        self.jobs = jobs
        self.read = read

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.read(*self.jobs[index])


def clips_per_second(jobs: list[Job], read, workers: int, repeats: int) -> tuple[float, float]:
    """``(median of the timed passes, first pass)`` in clips/s."""
    loader = DataLoader(Clips(jobs, read), batch_size=8, num_workers=workers, persistent_workers=True)
    rates = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        count = sum(batch.shape[0] for batch in loader)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates[1:]), rates[0]


def readers(thread_type: str) -> tuple[dict[str, Callable[[str, list[int]], torch.Tensor]], str]:
    """The readers to compare, bare PyAV last; a note when torchcodec's are left out."""
    ways: dict[str, Callable[[str, list[int]], torch.Tensor]] = {
        "vidaction PyAV": partial(read_vidaction, thread_type=thread_type)}
    note = ""
    try:
        require_torchcodec()
        ways.update({"vidaction torchcodec": read_vidaction_torchcodec, "bare torchcodec get_frames_at": read_bare_torchcodec})
    except TorchcodecUnavailable as exc:
        note = f"torchcodec rows left out: {str(exc).split(';')[0]}"
    ways["bare PyAV decode-all"] = read_bare_pyav
    return ways, note


def jobs_for(paths: list[str], sampler) -> list[Job]:
    count = VideoReader(paths[0]).num_frames
    return [(path, sampler(count, np.random.default_rng(k))[0]) for k, path in enumerate(paths)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ucf-clips", type=int, default=16)
    parser.add_argument("--kinetics-clips", type=int, default=16)
    parser.add_argument("--long-seconds", type=int, default=300, help="length of the untrimmed video")
    parser.add_argument("--long-items", type=int, default=4, help="reads of the untrimmed video per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thread-type", default="SLICE", choices=["SLICE", "AUTO", "FRAME", "NONE"],
                        help="FFmpeg decoder threading of vidaction's PyAV reader")
    parser.add_argument("--quick", action="store_true", help="2-s clips, an 8-s untrimmed video, one pass: checks it runs")
    args = parser.parse_args()
    args.ucf_seconds, args.kinetics_seconds = 7, 10
    if args.quick:
        args.ucf_clips = args.kinetics_clips = args.long_items = 2
        args.ucf_seconds = args.kinetics_seconds = 2
        args.long_seconds, args.repeats = 8, 1
    warnings.simplefilter("ignore")  # the packed AVIs' decode-order warning, once per file and worker
    ways, note = readers(args.thread_type)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidaction-bench-") as tmp:
        for name, paths in write_inputs(Path(tmp), args).items():
            for sampling, sampler in SAMPLINGS.items():
                jobs = jobs_for(paths, sampler)
                for workers in (1, 2):
                    results = {}
                    for reader, read in ways.items():
                        try:
                            read(*jobs[0])
                        except Exception as exc:  # a reader that cannot read this input: reported, not timed
                            results[reader] = f"fails ({type(exc).__name__})"
                            continue
                        results[reader] = clips_per_second(jobs, read, workers, args.repeats)
                    rows += [(name, sampling, workers, reader, result, results["bare PyAV decode-all"])
                             for reader, result in results.items()]
    print(f"environment: {environment()}")
    print(f"vidaction PyAV thread_type={args.thread_type}; median of {args.repeats} passes after a first pass"
          + (" (--quick: not a measurement)" if args.quick else ""))
    if note:
        print(note)
    print()
    print("| input | sampling | workers | reader | clips/s | first pass | x bare PyAV decode-all |")
    print("|---|---|---|---|---|---|---|")
    for name, sampling, workers, reader, result, bare in rows:
        if isinstance(result, str):
            print(f"| {name} | {sampling} | {workers} | {reader} | {result} | | |")
        else:
            print(f"| {name} | {sampling} | {workers} | {reader} | {result[0]:.2f} | {result[1]:.2f} | "
                  f"{result[0] / bare[0]:.2f} |")


if __name__ == "__main__":
    main()
