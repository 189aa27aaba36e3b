"""``vidaction infer CHECKPOINT INPUTS... [--list FILE] [--out results.jsonl]``: class scores of videos.

One video file without ``--out`` prints its top-k classes (a table, or one JSON object with
``--json``). Otherwise every video of INPUTS (files, folders searched recursively) and ``--list`` is
classified into the JSON lines of ``--out`` (:mod:`vidaction.engine.batch_inference`); resumable,
and spread over the processes of ``torchrun``. Exit status 1 when some videos could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys

from vidaction.cli.arguments import add_batch_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "infer", run,
        help="top-k classes of videos (one, or many into JSON lines; torchrun spreads them)",
        description="Classify videos (or frame folders) with a checkpoint written by 'vidaction train': the "
        "preprocessing and test views (clips x crops) of the checkpoint's config are applied and the softmax "
        "of the view-averaged scores is ranked. One video file without --out: its top-k classes are printed. "
        "Otherwise --out is written, one JSON line per video: {\"video\": path, \"topk\": [{\"label\", "
        "\"score\"}], \"clips\", \"crops\"}, or {\"video\": path, \"error\": reason} for an unreadable one. "
        "Videos that already have a line are skipped, so an interrupted run continues where it stopped. "
        "Under torchrun (e.g. torchrun --nproc-per-node=4 -m vidaction.cli.main infer ...) each process "
        "takes every N-th video of the sorted list into its own part file and rank 0 merges them into --out.",
    )
    add_batch_arguments(parser, "a checkpoint written by 'vidaction train' (best.pt / last.pt)",
                        "video files, or folders searched recursively for videos (frame folders when the "
                        "checkpoint's data.modality is frames)", "DataLoader processes decoding videos (default 2)")
    parser.add_argument("--out", default=None, help="JSON lines output (required unless one video file is given)")
    parser.add_argument("--topk", type=int, default=5, help="how many classes to keep (default 5)")
    parser.add_argument("--json", action="store_true", help="one video: print one JSON object instead of a table")
    parser.add_argument("--batch-size", type=int, default=1, help="videos per forward pass (default 1)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vidaction.config import ConfigError
    from vidaction.engine.batch_inference import collect_videos, infer_to_file, merge_parts
    from vidaction.engine.runtime import resolve_device
    from vidaction.engine.sharding import finish_shares, process_share
    from vidaction.engine.tasks.recognition import load_trained_model

    model, cfg, class_names = load_trained_model(args.checkpoint)
    device = resolve_device(args.device)
    if len(args.inputs) == 1 and not args.list and args.out is None and process_share()[1] == 1:
        one = Path(args.inputs[0])
        frame_folder = cfg.data.modality == "frames" and (one / cfg.data.frame_template.format(
            cfg.data.frame_start_index)).is_file()
        if not one.is_dir() or frame_folder:
            return _print_one(model, cfg, class_names, args.inputs[0], args, device)
    if args.out is None:
        raise ConfigError("infer: several videos need --out FILE.jsonl (one JSON line per video)")
    videos = collect_videos(args.inputs, cfg.data, args.list)
    summary = infer_to_file(model, cfg.data, class_names, videos, args.out, args.topk, args.batch_size,
                            args.workers, device, progress=not args.no_progress)
    total = finish_shares(summary, lambda: merge_parts(args.out, videos))
    if total is None:  # rank 0 reports every process's failures (a failing rank would end torchrun's group)
        return 0
    print(f"{len(videos)} videos: {total.done} classified, {total.skipped} already in {args.out}, "
          f"{len(total.failed)} failed")
    for line in total.failed:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if total.failed else 0


def _print_one(model, cfg, class_names, video: str, args: argparse.Namespace, device) -> int:
    from dataclasses import replace

    from vidaction.data.build import load_test_clip
    from vidaction.engine.batch_inference import top_k, video_probabilities

    views = load_test_clip(replace(cfg.data, decode_cache=0), video)
    ranked = top_k(video_probabilities(model.to(device).eval(), views[None].to(device))[0].cpu(), class_names,
                   args.topk)
    if args.json:
        print(json.dumps({"video": video, "topk": ranked}))
    else:
        for rank, item in enumerate(ranked, 1):
            print(f"{rank}. {item['label']:<30} {item['score']:.4f}")
    return 0
