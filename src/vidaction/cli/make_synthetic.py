"""``vidaction make-synthetic --task motion|detection --out DIR``: write a synthetic dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "make-synthetic", run,
        help="write a synthetic dataset of real mp4 files",
        description="Write synthetic videos. --task motion: trimmed clips whose classes differ only in motion "
        "(move left/right, rotate clockwise/anticlockwise, approach/separate, appear/disappear) over textured "
        "backgrounds with moving distractors, in the UCF101 layout (videos/<Class>/*.mp4, "
        "annotations/classInd.txt, trainlist01.txt, testlist01.txt). --task detection: untrimmed videos with "
        "several action instances (Bounce, Pulse, SlideLeft, SlideRight, Spin) amid background with "
        "distractors, THUMOS14-style annotations (annotations/<Class>_val.txt, <Class>_test.txt, "
        "Ambiguous_*.txt), an ActivityNet-style activitynet.json and pre-extracted motion-descriptor "
        "features (features/<video>.npy with a .json sidecar). Deterministic by seed; an existing dataset "
        "with the same parameters is reused.",
    )
    parser.add_argument("--task", choices=["motion", "detection"], default="motion",
                        help="which synthetic task (default motion)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    motion = parser.add_argument_group("motion options")
    motion.add_argument("--videos-per-class", type=int, default=40, help="videos per class (default 40)")
    motion.add_argument("--frames", type=int, default=16, help="frames per video (default 16)")
    detection = parser.add_argument_group("detection options")
    detection.add_argument("--train-videos", type=int, default=30,
                           help="videos of the 'validation' subset, the one detectors train on (default 30)")
    detection.add_argument("--test-videos", type=int, default=20, help="videos of the 'test' subset (default 20)")
    detection.add_argument("--fps", type=float, default=10.0, help="frame rate of the videos (default 10)")
    detection.add_argument("--min-duration", type=float, default=20.0, help="shortest video in seconds (default 20)")
    detection.add_argument("--max-duration", type=float, default=60.0, help="longest video in seconds (default 60)")
    detection.add_argument("--feature-dim", type=int, default=128, help="feature channels (default 128)")
    detection.add_argument("--feature-stride", type=int, default=2,
                           help="frames per feature step (default 2: 5 steps per second at 10 fps)")
    detection.add_argument("--feature-window", type=int, default=8,
                           help="frames each feature step describes, centred on its step; at least the stride "
                           "and of the same parity (default 8)")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import ConfigError

    try:
        root = _make(args)
    except ValueError as exc:  # out-of-range options: a one-line error, not a traceback
        raise ConfigError(f"make-synthetic --task {args.task}: {exc}") from exc
    print(f"synthetic {args.task} dataset in {root}")
    return 0


def _make(args: argparse.Namespace) -> Path:
    if args.task == "detection":
        from vidaction.data.synthetic_detection import make_detection_dataset

        return make_detection_dataset(args.out, num_train=args.train_videos, num_test=args.test_videos,
                                      size=args.size, fps=args.fps, min_duration=args.min_duration,
                                      max_duration=args.max_duration, channels=args.feature_dim,
                                      feature_stride=args.feature_stride, feature_window=args.feature_window,
                                      seed=args.seed)
    from vidaction.data.synthetic import make_motion_dataset

    return make_motion_dataset(args.out, videos_per_class=args.videos_per_class, size=args.size,
                               num_frames=args.frames, seed=args.seed)
