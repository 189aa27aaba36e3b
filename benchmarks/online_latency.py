"""Online recognition on CPU: TSM-MobileNetV2 end to end (decode + preprocess + network) in frames/s, and
TSM-R50's per-frame latency online against the offline forward of an 8-frame clip.

Issue 17's targets on 2 CPU cores: TSM-MobileNetV2 online at 224x224 at least 30 frames/s end to end,
and TSM-R50 online at most 1/6 of the 8-frame clip forward per frame. The end-to-end run decodes a
generated H.264 video (``--video-size``, default 320x240, resized to 256 on the short side and centre
cropped to ``--size`` as a checkpoint's test preprocessing does) in the source's thread and runs the
network in the main one, as ``vidaction stream`` does (file mode: no frame dropped); decode alone and
the network alone are timed too, so a missed target shows where the time goes.

Run: python benchmarks/online_latency.py [--threads 2] [--size 224] [--frames 8] [--video-frames 150]
Tiny check: python benchmarks/online_latency.py --size 64 --video-frames 16 --repeats 2 --tiny
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import environment, median_seconds
from vidaction.data.writer import write_video
from vidaction.inference import FrameSource, OnlineRecognizer, OnlineTSM
from vidaction.models import create_model


def moving_bar_video(path: Path, frames: int, width: int, height: int) -> Path:
    video = np.zeros((frames, height, width, 3), dtype=np.uint8)
    for i in range(frames):
        left = (7 * i) % max(width - 16, 1)
        video[i, :, left:left + 16] = (200, 80, 40)
    return write_video(path, video, fps=30)


def end_to_end(model, video: Path, size: int) -> tuple[float, float, float]:
    """Frames/s of decode + preprocess + network, of decode alone, and the network's ms per frame."""
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": size, "resize_short": size * 256 // 224}
    recognizer = OnlineRecognizer(model)
    start, processed = time.perf_counter(), 0
    with FrameSource(str(video)) as source:
        for frame in source:
            recognizer(frame.image)
            processed += 1
    total = processed / (time.perf_counter() - start)
    start, decoded = time.perf_counter(), 0
    with FrameSource(str(video)) as source:
        for _ in source:
            decoded += 1
    decode = decoded / (time.perf_counter() - start)
    online, frame = OnlineTSM(model).eval(), torch.randn(1, 3, size, size)
    with torch.no_grad():
        buffers = online.zero_buffers(frame)
        network = median_seconds(lambda: online(frame, *buffers), repeats=max(5, processed // 4))
    return total, decode, 1e3 * network


def online_vs_clip(model, frames: int, size: int, repeats: int) -> tuple[float, float]:
    """Median ms of one online frame (shift buffers in, out) and of the offline clip of ``frames`` frames."""
    online, frame = OnlineTSM(model).eval(), torch.randn(1, 3, size, size)
    clip = torch.randn(1, 3, frames, size, size)
    with torch.no_grad():
        buffers = online.zero_buffers(frame)
        per_frame = median_seconds(lambda: online(frame, *buffers), repeats)
        whole = median_seconds(lambda: model(clip), repeats)
    return 1e3 * per_frame, 1e3 * whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--size", type=int, default=224, help="network input side (default 224)")
    parser.add_argument("--frames", type=int, default=8, help="offline clip length T (default 8)")
    parser.add_argument("--video-frames", type=int, default=150, help="frames of the generated video (default 150)")
    parser.add_argument("--video-size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each forward (default 10)")
    parser.add_argument("--tiny", action="store_true", help="narrow networks (a check that the script runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mobilenet = create_model("tsm_mobilenet_v2", num_classes=27, num_frames=args.frames, shift_mode="online",
                             **({"width_mult": 0.25} if args.tiny else {})).eval()
    resnet = create_model("tsm_r50", num_classes=400, num_frames=args.frames, shift_mode="online",
                          **({"base_width": 8} if args.tiny else {})).eval()
    with tempfile.TemporaryDirectory() as folder:
        video = moving_bar_video(Path(folder) / "bar.mp4", args.video_frames, *args.video_size)
        total, decode, network = end_to_end(mobilenet, video, args.size)
    per_frame, clip = online_vs_clip(resnet, args.frames, args.size, args.repeats)
    print(f"environment: {environment()}{' (tiny networks)' if args.tiny else ''}")
    print(f"video {args.video_size[0]}x{args.video_size[1]}, {args.video_frames} frames; input {args.size}x{args.size}")
    print("| measurement | value | target |")
    print("|---|---|---|")
    print(f"| TSM-MobileNetV2 online, decode + preprocess + network | {total:.1f} frames/s | >= 30 |")
    print(f"| decode alone (PyAV, source thread) | {decode:.1f} frames/s | |")
    print(f"| TSM-MobileNetV2 online network alone | {network:.1f} ms/frame | |")
    print(f"| TSM-R50 online, per frame | {per_frame:.1f} ms | |")
    print(f"| TSM-R50 offline, {args.frames}-frame clip | {clip:.1f} ms | |")
    print(f"| TSM-R50 online frame / offline clip | {per_frame / clip:.3f} | <= {1 / 6:.3f} |")


if __name__ == "__main__":
    main()
