"""``vidaction extract-flow VIDEOS... --out DIR``: TV-L1 optical flow as JPEG pairs or npy, resumable."""

from __future__ import annotations

import argparse
import sys

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "extract-flow", run,
        help="TV-L1 optical flow of videos, for a flow input stream (needs opencv-contrib-python-headless)",
        description="Compute TV-L1 optical flow (OpenCV's dual TV-L1, default parameters) between consecutive "
        "frames of each video, optionally resampled (--fps) and resized (--short-side, --square), and store it "
        "per video id (the file name's stem): --format jpg writes OUT/<id>/x_00001.jpg, y_00001.jpg, ... with "
        "the denseflow/MMAction coding round(255 * (clip(flow, -bound, bound) + bound) / (2 * bound)), the "
        "input I3D-style flow models expect after x / 255 * 2 - 1; --format npy writes OUT/<id>.npy, "
        "(T - 1, 2, H, W) float16 pixels. A JSON marker written last (OUT/<id>/flow.json or OUT/<id>.json) "
        "makes a finished video skip on the next run; unfinished output is redone. Unreadable videos are "
        "reported and skipped (exit status 1 when any failed). Under torchrun each process takes every N-th "
        "video of the sorted list.",
    )
    parser.add_argument("videos", nargs="+", help="video files, or folders whose video files are all taken")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--fps", type=float, default=None,
                        help="resample every video to this frame rate first (default: keep every frame)")
    parser.add_argument("--short-side", type=int, default=0,
                        help="resize so the shorter side has this many pixels (default 0: original size)")
    parser.add_argument("--square", action="store_true",
                        help="resize to short-side x short-side, ignoring the aspect ratio (AFSD's 112 x 112)")
    parser.add_argument("--bound", type=float, default=20.0, help="flow clipping bound in pixels (default 20)")
    parser.add_argument("--format", choices=["jpg", "npy"], default="jpg", help="storage format (default jpg)")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality 1-100 (default 95)")
    parser.add_argument("--workers", type=int, default=1, help="videos processed in parallel (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import ConfigError
    from vidaction.data.flow import FlowSettings
    from vidaction.data.flow_extraction import extract_flows
    from vidaction.data.inputs import check_unique_ids, find_inputs
    from vidaction.engine.sharding import gather_at_end, process_share, take_share

    try:
        settings = FlowSettings(fps=args.fps, short_side=args.short_side, square=args.square, bound=args.bound,
                                format=args.format, jpeg_quality=args.jpeg_quality)
    except ValueError as exc:
        raise ConfigError(f"extract-flow: {exc}") from exc
    videos = find_inputs(args.videos)
    check_unique_ids(videos, "flow is stored per id, so extract them into different --out folders")
    summary = extract_flows(take_share(videos), args.out, settings, workers=args.workers,
                            progress=not args.no_progress and process_share()[0] == 0)
    summaries = gather_at_end(summary)  # under torchrun: every process's share, on rank 0
    if summaries is None:  # rank 0 reports the failures (a failing rank would end torchrun's group)
        return 0
    failed = [failure for part in summaries for failure in part.failed]
    for failure in failed:
        print(f"vidaction: skipped unreadable video: {failure}", file=sys.stderr)
    print(f"flow in {args.out}: {sum(len(s.extracted) for s in summaries)} extracted, "
          f"{sum(len(s.skipped) for s in summaries)} already complete, {len(failed)} failed")
    return 1 if failed else 0
