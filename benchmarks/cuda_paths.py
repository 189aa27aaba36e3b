"""The CUDA paths on a GPU: training-step latency of the papers' backbones under fp32, AMP,
AMP + channels_last and AMP + channels_last + torch.compile, the agreement of each mode's logits with
fp32, and short end-to-end runs of the training engine on CUDA (recognition with AMP, channels_last
and compile; GAF detection with AMP).

Run (on a machine with a CUDA GPU): python benchmarks/cuda_paths.py [--batch 8] [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from common import environment
from vidaction.config import config_from_dict
from vidaction.models import create_model

MODELS = {
    "tsm_r50": ("tsm_r50", {}),
    "tsm_r50 + W3 + AFR": ("tsm_r50", {"attention": "w3", "refine": True}),
    "i3d_r50": ("i3d_r50", {}),
    "r2d_r50 + PMB": ("r2d_r50", {"motion": "pmb"}),
}
MODES = {"fp32": (False, False, False), "amp": (True, False, False), "amp + channels_last": (True, True, False),
         "amp + channels_last + compile": (True, True, True)}


def step_time(name: str, options: dict, amp: bool, channels_last: bool, compile_: bool, batch: int, frames: int,
              repeats: int) -> tuple[float, torch.Tensor]:
    """Median seconds of one SGD training step and the eval logits of a fixed clip."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=400, num_frames=frames, **options).cuda()
    x = torch.randn(batch, 3, frames, 224, 224, device="cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    net = torch.compile(model) if compile_ else model
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    labels = torch.randint(0, 400, (batch,), device="cuda")
    times = []
    for i in range(repeats + 3):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", enabled=amp):
            loss = torch.nn.functional.cross_entropy(net(x).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - start)
    torch.manual_seed(0)
    fresh = create_model(name, num_classes=400, num_frames=frames, **options).cuda().eval()
    if channels_last:
        fresh = fresh.to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cuda", enabled=amp):
        logits = fresh(x[:2]).float()
    return sorted(times)[len(times) // 2], logits


def engine_runs(out: Path) -> dict:
    """Two epochs of the engine on CUDA: recognition (AMP, channels_last, compile) and GAF detection (AMP)."""
    from vidaction.data.synthetic import make_motion_dataset
    from vidaction.data.synthetic_detection import make_detection_dataset
    from vidaction.engine.experiment import run_training

    motion = make_motion_dataset(out / "motion", videos_per_class=8, size=112, num_frames=8)
    results = {}
    start = time.perf_counter()
    cfg = config_from_dict({
        "data": {"format": "ucf101", "root": str(motion / "videos"), "annotations": str(motion / "annotations"),
                 "num_frames": 8, "input_size": 112, "resize_short": 128, "batch_size": 8, "num_workers": 2},
        "model": {"name": "tsm_r18", "dropout": 0.0, "options": {"attention": "w3", "refine": True,
                                                                  "attention_options": {"spatial_kernel": 3}}},
        "optim": {"name": "adamw", "lr": 0.001}, "schedule": {"epochs": 2, "warmup_epochs": 0},
        "train": {"out_dir": str(out / "rec"), "progress": False, "tensorboard": False, "device": "cuda",
                  "amp": True, "channels_last": True, "compile": True}})
    metrics = run_training(cfg)
    results["recognition tsm_r18+W3 (amp, channels_last, compile)"] = {
        "top1": metrics["top1"], "seconds": round(time.perf_counter() - start, 1)}
    det = make_detection_dataset(out / "det", num_train=4, num_test=3, min_duration=12.0, max_duration=16.0,
                                 channels=32)
    start = time.perf_counter()
    cfg = config_from_dict({
        "task": "detection",
        "data": {"annotations": str(det / "annotations"), "root": str(det / "features"), "media_template": "{}.npy",
                 "class_names": str(det / "annotations" / "classes.txt"), "input": "features", "feature_channels": 32,
                 "window": 32, "train_stride": 8, "test_stride": 16, "batch_size": 4, "num_workers": 0},
        "model": {"backbone": "", "channels": 32, "proposal_channels": 16, "frame_channels": 16, "num_levels": 3,
                  "norm_groups": 8, "attention": "gaf"},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 5.0},
        "schedule": {"epochs": 2, "policy": "cosine"},
        "train": {"out_dir": str(out / "det_run"), "progress": False, "tensorboard": False, "device": "cuda",
                  "amp": True},
        "test": {"tiou_thresholds": [0.1, 0.3, 0.5]}})
    metrics = run_training(cfg)
    results["detection AFSD+GAF features (amp)"] = {"average_mAP": metrics["average_mAP"],
                                                    "seconds": round(time.perf_counter() - start, 1)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-engine", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    print(environment(), f"GPU: {torch.cuda.get_device_name()}", flush=True)
    print(f"\ntraining step, batch {args.batch} x {args.frames} x 224 x 224, SGD, median of {args.repeats}")
    print("| model | mode | ms / step | x fp32 | max abs logit diff vs fp32 |")
    print("| --- | --- | --- | --- | --- |")
    for label, (name, options) in MODELS.items():
        base, reference = None, None
        for mode, (amp, channels_last, compile_) in MODES.items():
            if compile_ and label != "tsm_r50":
                continue
            try:
                seconds, logits = step_time(name, options, amp, channels_last, compile_, args.batch, args.frames,
                                            args.repeats)
            except Exception as exc:  # a failing CUDA path is a finding to report, not the end of the run
                print(f"| {label} | {mode} | failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]} | | |")
                continue
            base = base or seconds
            reference = logits if reference is None else reference
            diff = float((logits - reference).abs().max())
            print(f"| {label} | {mode} | {1000 * seconds:.1f} | {base / seconds:.2f} | {diff:.2e} |", flush=True)
        torch.cuda.empty_cache()
    if not args.skip_engine:
        with tempfile.TemporaryDirectory() as scratch:
            print("\nengine on CUDA:", json.dumps(engine_runs(Path(scratch)), indent=1), flush=True)


if __name__ == "__main__":
    main()
