"""Forward and forward+backward latency of several models, measured interleaved in one run.

A model is a registered name with optional builder options: ``tsm_r50:attention=w3,refine=true``.
Run: python benchmarks/model_latency.py [--models tsn_r50 tsm_r50] [--repeats 5]
     [--device cuda --amp --channels-last] [--forward-only]
"""

from __future__ import annotations

import argparse

import torch

from common import environment, median_seconds
from vidaction.config import parse_override
from vidaction.models import create_model


def build(spec: str, num_frames: int):
    """``name[:key=value,key=value]`` -> model."""
    name, _, options = spec.partition(":")
    kwargs = {}
    for item in filter(None, options.split(",")):
        keys, value = parse_override(item)
        kwargs[".".join(keys)] = value
    return create_model(name, num_classes=400, num_frames=num_frames, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["tsn_r50", "tsm_r50"])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median over all is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--forward-only", action="store_true", help="skip the forward+backward timing")
    args = parser.parse_args()
    device = torch.device(args.device)
    models = {}
    for name in args.models:
        model = build(name, args.frames).to(device)
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last)
        models[name] = model
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)

    def forward(model):
        def run():
            model.eval()
            with torch.no_grad(), torch.autocast(device.type, enabled=args.amp):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    def train_step(model):
        def run():
            model.train()
            with torch.autocast(device.type, enabled=args.amp):
                loss = model(x).float().logsumexp(1).sum()
            loss.backward()
            model.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    results = {name: {"forward": [], "train": []} for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            results[name]["forward"].append(median_seconds(forward(model), args.repeats))
            if not args.forward_only:
                results[name]["train"].append(median_seconds(train_step(model), args.repeats))
    base = args.models[0]
    print(f"environment: {environment()}, device {device}, amp={args.amp}, channels_last={args.channels_last}")
    print(f"input {args.batch}x3x{args.frames}x{args.size}x{args.size}; median of {args.rounds} rounds x {args.repeats} runs")
    print("| model | forward (ms) | ratio | forward+backward (ms) | ratio |")
    print("|---|---|---|---|---|")
    med = {n: {k: sorted(v)[len(v) // 2] if v else float("nan") for k, v in r.items()} for n, r in results.items()}
    for name in models:
        f, t = med[name]["forward"], med[name]["train"]
        print(f"| {name} | {1e3 * f:.0f} | {f / med[base]['forward']:.3f} | {1e3 * t:.0f} | {t / med[base]['train']:.3f} |")


if __name__ == "__main__":
    main()
