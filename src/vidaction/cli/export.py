"""``vidaction export CHECKPOINT --format onnx|torchscript|exported-program --out FILE [--frames T --size S
--dynamic-batch]``: a trained network as a file that runs without vidaction, with ``FILE.json`` beside it."""

from __future__ import annotations

import argparse
import sys

from vidaction.cli.arguments import add_command, add_trust_argument

FORMATS = ("onnx", "torchscript", "exported-program")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "export", run,
        help="export a trained network to ONNX, TorchScript or a torch.export ExportedProgram",
        description="Export the network of CHECKPOINT (a checkpoint written by 'vidaction train', recognition or "
        "detection, or a weights file of 'vidaction convert-checkpoint') to FILE, and write FILE.json beside it: "
        "inputs, outputs, class names, preprocessing (mean/std, frames, size) and the post-processing left to the "
        "caller (also in the ONNX file's metadata). The export is read back and compared with PyTorch on a random "
        "input. See docs/export.md.",
    )
    parser.add_argument("checkpoint", help="a training checkpoint (best.pt / last.pt) or a vidaction weights file")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the file format")
    parser.add_argument("--out", required=True, help="output file (its sidecar is FILE.json)")
    parser.add_argument("--frames", type=int, default=None, help="clip length T (default: the checkpoint's "
                        "num_frames; detectors: input steps per window, default the training window)")
    parser.add_argument("--size", type=int, default=None, help="frame side S of the clip (default: the checkpoint's "
                        "input_size; detectors take no --size)")
    parser.add_argument("--dynamic-batch", action="store_true", help="leave the batch axis free (default: batch 1)")
    parser.add_argument("--no-check", action="store_true", help="skip reading the file back and comparing it with "
                        "PyTorch")
    add_trust_argument(parser)


def _tensors(specs: list[dict]) -> str:
    return "; ".join(f"{spec['name']} ({', '.join(str(n) for n in spec['shape'])}) {spec['dtype']}" for spec in specs)


def run(args: argparse.Namespace) -> int:
    from vidaction.export import ExportError, export_model, load_export_source

    try:
        source = load_export_source(args.checkpoint)
        result = export_model(source, args.format, args.out, args.frames, args.size, args.dynamic_batch,
                              check=not args.no_check)
    except ExportError as exc:
        print(f"vidaction: error: {exc}", file=sys.stderr)
        return 2
    metadata = result.metadata
    print(f"wrote {result.path} ({metadata['exporter']}) and {result.sidecar}")
    print(f"{metadata['task']}: {metadata['arch']['name'] if metadata['arch'] else 'network'}, "
          f"{len(metadata['class_names'])} class names")
    print(f"inputs:  {_tensors(metadata['inputs'])}")
    print(f"outputs: {_tensors(metadata['outputs'])}")
    if result.parity is not None:
        print(f"parity: max |{args.format} - PyTorch| = {result.parity.max_abs_diff:.2e} on a random batch of "
              f"{3 if args.dynamic_batch else 1} (PyTorch's outputs up to {result.parity.max_abs_output:.3g})")
    return 0
