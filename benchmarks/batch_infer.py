"""Videos per second of batch ``vidaction infer`` against a plain loop of the one-video path.

``--videos`` synthetic mp4s (moving noise, ``--size`` pixels high, 4:3, ``--seconds`` at 25 fps) and a
random-init classifier (default TSM-R50, 8 frames at 224 x 224 after resizing the short side to 256,
one clip, centre crop) saved as ``vidaction train`` saves its checkpoints. The loop reads each video
with :func:`vidaction.data.build.load_test_clip` and runs the model on it, one video after the other
(the model loaded once, as a script would); the batch path is ``vidaction infer``'s engine
(:func:`vidaction.engine.batch_inference.infer_to_file`): DataLoader workers decode while the model
runs, ``--batch-size`` videos per forward pass. Both see one warm-up video first; one run each.

Run: python benchmarks/batch_infer.py [--videos 32 --workers 2 --batch-size 4 --device cpu]
Tiny check: python benchmarks/batch_infer.py --videos 4 --model tsm_tiny --frames 4 --crop 32 --size 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import environment
from vidaction.config import config_from_dict, config_to_dict
from vidaction.data.build import load_test_clip
from vidaction.data.writer import write_video
from vidaction.engine.batch_inference import infer_to_file, video_probabilities
from vidaction.engine.checkpoint import save_checkpoint
from vidaction.engine.tasks.recognition import attach_preprocessing, build_model, load_trained_model

CLASSES = [f"class_{i}" for i in range(400)]


def write_videos(folder: Path, count: int, seconds: float, height: int) -> list[str]:
    rng = np.random.default_rng(0)
    width = (height * 4 // 3) // 2 * 2
    base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    paths = []
    for i in range(count):
        frames = np.stack([np.roll(base, 3 * t + i, axis=1) for t in range(int(seconds * 25))])
        paths.append(str(write_video(folder / f"video_{i:03d}.mp4", frames, fps=25)))
    return paths


def save_random_model(path: Path, name: str, frames: int, crop: int) -> Path:
    cfg = config_from_dict({"data": {"num_frames": frames, "input_size": crop, "resize_short": crop * 8 // 7},
                            "model": {"name": name, "dropout": 0.0}})
    torch.manual_seed(0)
    model = build_model(cfg.model, len(CLASSES), frames, crop)
    attach_preprocessing(model, cfg, CLASSES)
    return save_checkpoint(path, {"format": "vidaction", "model": model.state_dict(), "config": config_to_dict(cfg),
                                  "class_names": CLASSES, "pretrained_cfg": model.pretrained_cfg, "arch": model.arch})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", type=int, default=240, help="frame height (width 4/3 of it)")
    parser.add_argument("--model", default="tsm_r50")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(environment())
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        videos = write_videos(folder / "videos", args.videos + 1, args.seconds, args.size)
        model, cfg, class_names = load_trained_model(save_random_model(folder / "model.pt", args.model, args.frames,
                                                                       args.crop))
        model = model.to(device).eval()
        warmup, videos = videos[0], videos[1:]

        def loop(paths: list[str]) -> None:
            for path in paths:
                video_probabilities(model, load_test_clip(cfg.data, path)[None].to(device)).cpu()

        loop([warmup])
        start = time.perf_counter()
        loop(videos)
        loop_seconds = time.perf_counter() - start
        infer_to_file(model, cfg.data, class_names, [warmup], folder / "warmup.jsonl", batch_size=args.batch_size,
                      workers=args.workers, device=device, progress=False)
        start = time.perf_counter()
        summary = infer_to_file(model, cfg.data, class_names, videos, folder / "results.jsonl",
                                batch_size=args.batch_size, workers=args.workers, device=device, progress=False)
        batch_seconds = time.perf_counter() - start
        assert summary.done == len(videos), summary
    print(f"{len(videos)} videos of {args.seconds:g} s at {args.size} px, {args.model} {args.frames}x{args.crop}, "
          f"{args.device}; batch: {args.workers} workers, {args.batch_size} videos per forward pass")
    print(f"{'path':<22} {'seconds':>8} {'videos/s':>9} {'ratio':>6}")
    print(f"{'loop of one-video':<22} {loop_seconds:>8.2f} {len(videos) / loop_seconds:>9.2f} {1.0:>6.2f}")
    print(f"{'batch infer':<22} {batch_seconds:>8.2f} {len(videos) / batch_seconds:>9.2f} "
          f"{loop_seconds / batch_seconds:>6.2f}")


if __name__ == "__main__":
    main()
