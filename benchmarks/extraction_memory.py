"""Peak memory of ``vidaction extract-features`` against the video's length: a 1-minute and a
10-minute video side by side.

The backbone is a random-init ``inception_i3d_tiny`` saved as a weights file (memory does not depend
on the weights); the videos are generated with PyAV, a texture sliding across ``--width`` x
``--height`` frames at 25 fps, and read at 25 fps with windows of 16 frames every 4, resized to
``--size`` squared (AFSD's 112). Each extraction runs in its own process, whose peak resident memory
(``VmHWM``) is printed with the wall time. Extraction holds one batch of windows' frames and one
decoded piece of the video, so the peaks should lie within 10 % of each other.

Run: python benchmarks/extraction_memory.py [--seconds 60 600]
Tiny check: python benchmarks/extraction_memory.py --quick   (10 s and 60 s at 64 x 64)
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from common import environment
from detect_memory import peak_rss
from vidaction.models import create_model

FPS = 25


def write_sliding_texture(path: Path, seconds: float, width: int, height: int) -> Path:
    """``seconds`` of a random texture sliding one pixel per frame, encoded frame by frame (the video
    is never in memory)."""
    texture = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(np.roll(texture, index, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0], help="video lengths")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--size", type=int, default=112, help="frames are resized to SIZE x SIZE")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="10 s and 60 s at --size 64: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.size = [10.0, 60.0], 64
    print(environment())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        weights = folder / "inception_i3d_tiny.pt"
        torch.save(create_model("inception_i3d_tiny", num_classes=400, num_frames=16).state_dict(), weights)
        print(f"vidaction extract-features, random inception_i3d_tiny, {args.width}x{args.height} at {FPS} fps -> "
              f"{args.size}x{args.size}, window 16, stride 4, batch {args.batch_size}, cpu")
        print(f"{'video (s)':>9} {'frames':>7} {'features':>8} {'peak RSS (MiB)':>15} {'seconds':>8}")
        peaks = []
        for seconds in args.seconds:
            video = write_sliding_texture(folder / f"texture_{seconds:g}s.mp4", seconds, args.width, args.height)
            peak, wall = peak_rss(["extract-features", str(weights), str(video), "--out", str(folder / "features"),
                                   "--size", str(args.size), "--window", "16", "--stride", "4", "--batch-size",
                                   str(args.batch_size), "--device", "cpu", "--no-progress"])
            peaks.append(peak)
            frames = int(seconds * FPS)
            print(f"{seconds:>9g} {frames:>7} {(frames - 16) // 4 + 1:>8} {peak:>15.1f} {wall:>8.1f}")
    print(f"longest / shortest peak: {peaks[-1] / peaks[0]:.3f} (target: within 1.10)")


if __name__ == "__main__":
    main()
