"""CPU latency of the exported ONNX model in onnxruntime against PyTorch eager, for TSM-R50, TSM-R50 + W3
(with refinement) and R2D-50 + prime motion blocks, measured interleaved in one run.

Each model is exported by ``vidaction.export`` (the TorchScript-based ONNX exporter, opset 17, batch 1),
checked against PyTorch on the benchmark input, and timed forward-only (eval, no gradient): a median
over ``--repeats`` calls in each of ``--rounds`` interleaved rounds. onnxruntime runs on the CPU
provider with as many intra-op threads as torch uses. Prints one table: medians and the ratio
onnxruntime / eager (below 1: onnxruntime is faster).

Run: python benchmarks/export_latency.py [--frames 8 --size 224 --repeats 5 --rounds 3 --threads N]
     python benchmarks/export_latency.py --quick   (8 frames of 64 px, 8-channel networks, W3 on stages 1-2
                                                   with a 3x3 kernel: checks that the script works)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from common import environment, median_seconds
from vidaction.export import ExportSource, export_model, load_exported
from vidaction.models import create_model

MODELS = {
    "TSM-R50": ("tsm_r50", {}),
    "TSM-R50 + W3": ("tsm_r50", {"attention": "w3", "refine": True}),
    "R2D-50 + PMB": ("r2d_r50", {"motion": "pmb"}),
}
QUICK_OPTIONS = {"base_width": 8}
QUICK_W3 = {"attention_stages": [1, 2], "attention_options": {"spatial_kernel": 3}, "input_size": 64}


def build(name: str, options: dict, frames: int, quick: bool) -> torch.nn.Module:
    if quick:
        options = {**options, **QUICK_OPTIONS, **(QUICK_W3 if "attention" in options else {})}
    torch.manual_seed(0)
    return create_model(name, num_classes=400, num_frames=frames, **options).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median over all is kept")
    parser.add_argument("--threads", type=int, default=0, help="torch and onnxruntime threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="8 frames of 64 px on 8-channel networks")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.size, args.repeats, args.rounds = 8, 64, 2, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(environment())
    x = torch.randn(1, 3, args.frames, args.size, args.size)
    runners, differences = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, (name, options) in MODELS.items():
            model = build(name, options, args.frames, args.quick)
            path = Path(scratch) / f"{name}.onnx"
            export_model(ExportSource(model, "recognition"), "onnx", path, args.frames, args.size, check=False)
            session = load_exported(path, "onnx", threads=torch.get_num_threads())
            with torch.no_grad():
                differences[label] = float((session(x)[0] - model(x)).abs().max())
            runners[label] = (_eager(model, x), lambda session=session: session(x))
        times = {label: ([], []) for label in MODELS}
        for _ in range(args.rounds):
            for label, (eager, onnx) in runners.items():
                times[label][0].append(median_seconds(eager, args.repeats))
                times[label][1].append(median_seconds(onnx, args.repeats))
    print(f"\n{args.frames}x{args.size}x{args.size}, batch 1, {torch.get_num_threads()} threads, median of "
          f"{args.rounds} x {args.repeats}")
    print(f"{'model':<16} {'eager ms':>9} {'onnxruntime ms':>15} {'ratio':>6} {'max |diff|':>11}")
    for label, (eager, onnx) in times.items():
        eager_ms, onnx_ms = 1000 * statistics.median(eager), 1000 * statistics.median(onnx)
        print(f"{label:<16} {eager_ms:>9.1f} {onnx_ms:>15.1f} {onnx_ms / eager_ms:>6.2f} {differences[label]:>11.1e}")


def _eager(model: torch.nn.Module, x: torch.Tensor):
    def run() -> None:
        with torch.no_grad():
            model(x)
    return run


if __name__ == "__main__":
    main()
