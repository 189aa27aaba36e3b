"""Throughput of sliding-window I3D feature extraction (``vidaction extract-features``) end to end:
decoding, resampling, resizing, the backbone up to Mixed_5c, pooling.

A synthetic 320 x 240, 30 fps mp4 is written to a temporary folder and read at 25 fps with
window 16 / stride 4 (the common THUMOS14 feature setting), once at AFSD's 112 -> 96 crop and once
at Kinetics' 256 -> 224 crop, with the full-width ``i3d`` (random weights: speed does not depend on
them). Prints features per second and the share of time spent in the backbone.

Run: python benchmarks/i3d_extract.py [--seconds 4] [--device cpu] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import environment
from vidaction.data.writer import write_video
from vidaction.engine.feature_extraction import FeatureExtractor
from vidaction.models import create_model

SETTINGS = {"112 -> 96": dict(size=112, crop=96), "256 -> 224": dict(short_side=256, crop=224)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the synthetic video")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    print(environment())
    model = create_model("i3d", num_classes=400, num_frames=64)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(int(args.seconds * 30), 240, 320, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "synthetic.mp4", frames, fps=30)
        print(f"{args.seconds:g} s video, 320x240 @ 30 fps, read at 25 fps, window 16, stride 4, "
              f"batch {args.batch_size}, {args.device}")
        print(f"{'input':<12} {'features':>8} {'seconds':>8} {'features/s':>10} {'backbone share':>14}")
        for name, resize in SETTINGS.items():
            extractor = FeatureExtractor(model, fps=25.0, window=16, stride=4, batch_size=args.batch_size,
                                         device=args.device, **resize)
            backbone = []
            embed = extractor.embed

            def timed_embed(windows, embed=embed, backbone=backbone):
                start = time.perf_counter()
                out = embed(windows)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                backbone.append(time.perf_counter() - start)
                return out

            extractor.embed = timed_embed
            start = time.perf_counter()
            features, _ = extractor.extract(video)
            total = time.perf_counter() - start
            print(f"{name:<12} {len(features):>8} {total:>8.2f} {len(features) / total:>10.2f} "
                  f"{sum(backbone) / total:>13.0%}")


if __name__ == "__main__":
    main()
