"""``vidaction convert-checkpoint SRC DST --arch NAME``: foreign weights to vidaction's format."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_command, add_trust_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "convert-checkpoint", run,
        help="convert official TSM / torchvision weights to vidaction's checkpoint format",
        description="Load SRC (an official TSM checkpoint, a torchvision ResNet state dict or a "
        "vidaction checkpoint) into the model ARCH, print the missing/unexpected keys, and write DST "
        "in vidaction's format (atomically).",
    )
    parser.add_argument("src", help="source checkpoint file")
    parser.add_argument("dst", help="output file")
    parser.add_argument("--arch", required=True, help="registered model name, e.g. tsm_r50")
    parser.add_argument("--num-classes", type=int, required=True, help="classifier size of the weights")
    parser.add_argument("--num-frames", type=int, default=8, help="clip length the weights were trained with")
    add_trust_argument(parser)


def run(args: argparse.Namespace) -> int:
    from vidaction.models.pretrained import convert_checkpoint

    report = convert_checkpoint(args.src, args.dst, args.arch, args.num_classes, args.num_frames)
    print(report)
    print(f"wrote {args.dst}")
    return 0
