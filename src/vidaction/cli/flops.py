"""``vidaction flops MODEL --frames T --size S``: parameters and multiply-accumulates."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "flops", run,
        help="count parameters and MACs of a model",
        description="Count parameters and multiply-accumulates (MACs; what papers call GFLOPs) for one "
        "clip of shape (1, 3, T, S, S), with torch's flop counter (convolutions and matrix products).",
    )
    parser.add_argument("model", help="registered model name (see list-models)")
    parser.add_argument("--frames", type=int, default=8, help="clip length T (default 8)")
    parser.add_argument("--size", type=int, default=224, help="spatial size S (default 224)")
    parser.add_argument("--num-classes", type=int, default=400, help="classifier size (default 400)")
    parser.add_argument("--option", action="append", default=[], metavar="key=value",
                        help="builder option, repeatable, e.g. --option shift_div=4")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import parse_override
    from vidaction.models import create_model
    from vidaction.models.flops import count_macs

    options = {}
    for text in args.option:
        keys, value = parse_override(text)
        options[".".join(keys)] = value
    model = create_model(args.model, num_classes=args.num_classes, num_frames=args.frames, **options)
    macs, params = count_macs(model, (1, 3, args.frames, args.size, args.size))
    print(f"model   {args.model}")
    print(f"input   1x3x{args.frames}x{args.size}x{args.size}")
    print(f"params  {params / 1e6:.2f} M")
    print(f"MACs    {macs / 1e9:.2f} G")
    return 0
