"""HCML inference cost: backbone + prime motion blocks against the backbone (Table 2).

MACs (convolutions and matrix products, plus the cost volumes' multiply-adds counted by hand:
``C~ * M * H * W * T`` per block), CPU forward latency of both models interleaved in one run, and
the share of the +PMB forward spent in the cost volumes (PyTorch profiler).
Run: python benchmarks/motion_cost.py [--model r2d_r50 --frames 16 --size 224 --rounds 3 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from common import environment
from vidaction.models import create_model
from vidaction.models.flops import count_macs
from vidaction.models.motion import prime_motion
from vidaction.models.motion.prime_motion import PrimeMotionBlock


def cost_volume_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the cost volumes of one forward (the flop counter does not see them)."""
    total = 0

    def hook(block, inputs, _):
        nonlocal total
        n, c, t, h, w = inputs[0].shape
        total += block.reduced_channels * block.cost_channels * h * w * n * t

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, PrimeMotionBlock)]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return total


def profiled_cost_volume(*args, **kwargs):
    with torch.profiler.record_function("cost_volume"):
        return ORIGINAL_COST_VOLUME(*args, **kwargs)


ORIGINAL_COST_VOLUME = prime_motion.temporal_cost_volume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="r2d_r50")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    shape = (1, 3, args.frames, args.size, args.size)
    models = {"backbone": create_model(args.model, num_classes=400, num_frames=args.frames).eval(),
              "+ PMB": create_model(args.model, num_classes=400, num_frames=args.frames, motion="pmb").eval()}
    x = torch.randn(shape)
    print(f"environment: {environment()}; model {args.model}, input {'x'.join(map(str, shape))}")
    macs = {name: count_macs(model, shape)[0] for name, model in models.items()}
    volume = cost_volume_macs(models["+ PMB"], x)
    times = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            model(x)
        for _ in range(args.rounds):
            for name, model in models.items():
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    model(x)
                    times[name].append(time.perf_counter() - start)
        prime_motion.temporal_cost_volume = profiled_cost_volume
        with torch.profiler.profile() as profile:
            models["+ PMB"](x)
        prime_motion.temporal_cost_volume = ORIGINAL_COST_VOLUME
    median = {name: statistics.median(values) for name, values in times.items()}
    events = profile.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    cost_share = sum(e.cpu_time_total for e in events if e.key == "cost_volume") / total
    print("| model | G MACs (conv + matmul) | + cost volumes | forward (ms) | latency ratio |")
    print("|---|---|---|---|---|")
    for name in models:
        extra = volume if name == "+ PMB" else 0
        print(f"| {name} | {macs[name] / 1e9:.2f} | {(macs[name] + extra) / 1e9:.2f} | {1000 * median[name]:.0f} | "
              f"{median[name] / median['backbone']:.3f} |")
    print(f"MACs ratio {macs['+ PMB'] / macs['backbone']:.3f} ({(macs['+ PMB'] + volume) / macs['backbone']:.3f} "
          f"with cost volumes); cost volumes: {100 * cost_share:.1f} % of the +PMB forward's CPU time")


if __name__ == "__main__":
    main()
