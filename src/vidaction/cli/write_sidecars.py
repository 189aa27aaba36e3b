"""``vidaction write-sidecars FOLDER --fps F|--fps-from JSON --stride S --window W --stream rgb|flow|rgb+flow``:
a feature sidecar (:mod:`vidaction.data.feature_contract`) beside every ``.npy`` in a folder of
features made by another tool (ActionFormer's, OpenTAD's, ...), so detection reads their time grid
and checks them like ``extract-features`` output.

Exit status: 0 when every file has a sidecar, 1 when some files are bad (listed; the others are
written), 2 for a usage error (no such folder, no ``.npy`` files, bad numbers).
"""

from __future__ import annotations

import argparse
import sys

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "write-sidecars", run,
        help="write feature sidecars (.json) beside .npy features made by other tools",
        description="For every FOLDER/<video_id>.npy without a sidecar, write <video_id>.json saying how the "
        "features were made: at --fps frames per second, one feature per --window frames every --stride frames, "
        "feature i centred at (i * stride + window / 2) / fps seconds (ActionFormer's and OpenTAD's grid). Each "
        "array must be (T, C) or (C, T, H, W) floats, all with the same C; other files are listed, without sidecar.",
    )
    parser.epilog = ("ActionFormer's THUMOS14 I3D features (RGB and flow concatenated, 2048 channels, 16 frames every "
                     "4 at each video's rate): vidaction write-sidecars data/thumos/i3d_features --fps-from "
                     "data/thumos/annotations/thumos14.json --stride 4 --window 16 --stream rgb+flow")
    parser.add_argument("folder", help="folder of <video_id>.npy feature files")
    parser.add_argument("--fps", type=float, default=None, help="frames per second the videos were sampled at")
    parser.add_argument("--fps-from", default=None, metavar="JSON",
                        help="each video's frame rate from an ActivityNet-style JSON (database -> video_id -> fps, "
                        "as ActionFormer's thumos14.json; they read THUMOS14 features at each video's own rate); "
                        "--fps for videos it lacks")
    parser.add_argument("--stride", type=int, required=True, help="frames between consecutive features' windows")
    parser.add_argument("--window", type=int, required=True, help="frames per feature (the clip length)")
    parser.add_argument("--stream", required=True, choices=("rgb", "flow", "rgb+flow"),
                        help="input of the extractor; rgb+flow: RGB and flow features concatenated along C")
    parser.add_argument("--layout", choices=("TC", "CTHW"), default=None,
                        help="(T, C) or (C, T, H, W) (default: by each array's number of dimensions)")
    parser.add_argument("--extractor", default=None, help="name of the network that made the features, e.g. i3d")
    parser.add_argument("--weights-sha256", default=None, help="SHA-256 of the extractor's weights file")
    parser.add_argument("--overwrite", action="store_true", help="replace sidecars that are already there")


def run(args: argparse.Namespace) -> int:
    from vidaction.data.feature_contract import video_rates, write_sidecars

    if args.fps is None and args.fps_from is None:
        print("vidaction: error: give --fps, --fps-from or both", file=sys.stderr)
        return 2
    rates = video_rates(args.fps_from) if args.fps_from else None
    try:
        report = write_sidecars(args.folder, args.fps, args.stride, args.window, args.stream, args.layout,
                                args.extractor, args.weights_sha256, args.overwrite, rates)
    except ValueError as exc:
        print(f"vidaction: error: {exc}", file=sys.stderr)
        return 2
    total = len(report.written) + len(report.kept) + len(report.bad)
    print(f"{total} .npy files in {args.folder}: {len(report.written)} sidecars written, {len(report.kept)} kept "
          f"(already there; --overwrite replaces them), {len(report.bad)} bad")
    for path, reason in report.bad:
        print(f"  bad: {path}: {reason}")
    return 1 if report.bad else 0
