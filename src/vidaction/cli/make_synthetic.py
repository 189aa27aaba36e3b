"""``vidaction make-synthetic --task motion --out DIR``: write the synthetic motion dataset."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "make-synthetic",
        help="write a synthetic dataset of real mp4 files",
        description="Write synthetic videos whose classes differ only in motion (move left/right/up/down, "
        "rotate clockwise/anticlockwise, approach/separate, appear/disappear) over textured backgrounds "
        "with moving distractors, in the UCF101 layout (videos/<Class>/*.mp4, annotations/classInd.txt, "
        "trainlist01.txt, testlist01.txt). Deterministic by seed; an existing dataset with the same "
        "parameters is reused.",
    )
    parser.add_argument("--task", choices=["motion"], default="motion", help="which synthetic task (default motion)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--videos-per-class", type=int, default=40, help="videos per class (default 40)")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default 64)")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidaction.data.synthetic import make_motion_dataset

    root = make_motion_dataset(args.out, videos_per_class=args.videos_per_class, size=args.size,
                               num_frames=args.frames, seed=args.seed)
    print(f"synthetic {args.task} dataset in {root}")
    return 0
