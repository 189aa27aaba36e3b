"""``vidaction detect CHECKPOINT INPUTS... --out results.json [--plot PNG_OR_FOLDER --gt GT]``: detect
actions in untrimmed videos and draw them against the ground truth (GAF Fig. 5).

One video file: its detections are printed and written. Several (files, folders searched
recursively, ``--list``): one ActivityNet results file for all (:mod:`vidaction.engine.batch_detection`),
resumable and spread over the processes of ``torchrun``; exit status 1 when some could not be read.
"""

from __future__ import annotations

import argparse
import sys

from vidaction.cli.arguments import add_batch_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "detect", run,
        help="temporal action detection on videos: one results JSON and timeline pictures",
        description="Run a detector trained with 'vidaction train' (task: detection) on untrimmed videos: "
        "frames (or features made the way the detector's training features were, streamed through in "
        "pieces so memory does not grow with the video's length), the detector, decoding and per-class "
        "soft-NMS. Writes the detections of every video into one file in the ActivityNet results format, "
        "which 'vidaction eval-detection' scores, and, with --plot, timelines of predicted segments against "
        "the ground truth when --gt names the annotations. With several videos, videos already in --out "
        "are skipped (an interrupted run continues where it stopped), and under torchrun (torchrun "
        "--nproc-per-node=4 -m vidaction.cli.main detect ...) each process takes every N-th video of the "
        "sorted list and rank 0 merges their parts into --out.",
    )
    add_batch_arguments(parser, "a detector checkpoint (best.pt / last.pt of a detection run)",
                        "video files (a file name without extension is its video id), or folders "
                        "searched recursively for videos", "DataLoader processes preparing videos (default 2)")
    parser.add_argument("--out", required=True, help="output JSON of the detections (ActivityNet results format)")
    parser.add_argument("--plot", default=None, help="also draw the detections on a time axis: a PNG file for one "
                        "video, a folder receiving <video_id>.png for several")
    parser.add_argument("--gt", default=None, help="ground truth to draw: a THUMOS14 annotation folder or an "
                        "ActivityNet-style JSON listing the videos")
    parser.add_argument("--subset", default=None, help="subset of --gt holding the videos (default: the run's "
                        "validation subset, then its training subset)")
    parser.add_argument("--features", default=None, help="a ready feature file of the video (one video, "
                        "feature-mode detectors)")
    parser.add_argument("--extractor", default=None, help="I3D weights to compute the videos' features with, for "
                        "detectors trained on 'vidaction extract-features' output")
    parser.add_argument("--min-score", type=float, default=0.3, help="lowest score drawn on the timeline (default 0.3)")
    parser.add_argument("--top", type=int, default=10, help="detections listed on screen, one video (default 10)")


def _subsets(subset: str | None, cfg) -> list[str]:
    return [subset] if subset else [cfg.data.val_subset, cfg.data.train_subset]


def ground_truth_index(annotations: str, subset: str | None, cfg,
                       class_names: list[str]) -> dict[str, list[tuple[float, float, int]]]:
    """``{video_id: [(start, end, class)]}`` of the videos in ``annotations`` (``subset``, else the
    run's validation then training subset, the first holding a video winning)."""
    from vidaction.data.formats.detection import read_detection_annotations

    index: dict[str, list[tuple[float, float, int]]] = {}
    for name in _subsets(subset, cfg):
        videos, _ = read_detection_annotations(annotations, name, class_names)
        for video in videos:
            index.setdefault(video.video_id, [(float(s), float(e), int(c))
                                              for (s, e), c in zip(video.segments, video.labels)])
    return index


def _missing_truth(video_id: str, annotations: str, subset: str | None, cfg) -> list:
    print(f"vidaction: warning: {video_id} is not in subsets {_subsets(subset, cfg)} of {annotations}; "
          "no ground truth drawn")
    return []


def ground_truth_of(annotations: str, subset: str | None, cfg, class_names: list[str],
                    video_id: str) -> list[tuple[float, float, int]]:
    """``(start, end, class)`` of ``video_id`` in ``annotations`` (``subset``, else the run's
    validation then training subset); empty, with a warning, when the video is not there."""
    truth = ground_truth_index(annotations, subset, cfg, class_names).get(video_id)
    return _missing_truth(video_id, annotations, subset, cfg) if truth is None else truth


class TimelinePlotter:
    """Draws a video's detections into ``target`` (a PNG, or with ``folder`` a folder of
    ``<video_id>.png``) with its ground truth when ``args.gt`` names the annotations."""

    def __init__(self, target: str, folder: bool, args: argparse.Namespace) -> None:
        from vidaction.engine.tasks.detection import load_trained_detector

        self.target, self.folder, self.args = target, folder, args
        self.truth, self.cfg = None, None
        if args.gt:
            _, self.cfg, names = load_trained_detector(args.checkpoint)
            self.truth = ground_truth_index(args.gt, args.subset, self.cfg, names)

    def __call__(self, result) -> str:
        from pathlib import Path

        from vidaction.viz.timeline import plot_timeline

        truth = []
        if self.truth is not None:
            truth = self.truth.get(result.video_id)
            if truth is None:
                truth = _missing_truth(result.video_id, self.args.gt, self.args.subset, self.cfg)
        found = result.detections
        predictions = [(float(s), float(e), int(c), float(p))
                       for (s, e), c, p in zip(found.segments, found.labels, found.scores)]
        path = str(Path(self.target) / f"{result.video_id}.png") if self.folder else self.target
        plot_timeline(result.duration, result.class_names, predictions, path, truth, min_score=self.args.min_score,
                      title=f"{result.video_id}: ground truth (grey) and detections (colour, opacity = score)")
        return path


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vidaction.config import ConfigError
    from vidaction.engine.sharding import process_share

    one = len(args.inputs) == 1 and not args.list and process_share()[1] == 1 and not Path(args.inputs[0]).is_dir()
    if args.features and not one:
        raise ConfigError("detect: --features gives the features of one video; name that one video file")
    if not args.inputs and not args.list:
        raise ConfigError("detect: name video files or folders, or --list FILE")
    return _detect_one(args) if one else _detect_many(args)


def _detect_one(args: argparse.Namespace) -> int:
    from vidaction.data.motion_descriptor import synthetic_feature_maker
    from vidaction.engine.runtime import resolve_device
    from vidaction.engine.video_detection import detect_video
    from vidaction.evaluation.detection_results import write_results_json
    from vidaction.viz.tables import format_table

    result = detect_video(args.checkpoint, args.inputs[0], args.features, args.extractor,
                          str(resolve_device(args.device)), feature_maker=synthetic_feature_maker)
    names, found = result.class_names, result.detections
    write_results_json(args.out, found, names)
    rows = [[f"{s:.2f}", f"{e:.2f}", names[int(c)], f"{p:.3f}"]
            for (s, e), c, p in list(zip(found.segments, found.labels, found.scores))[:args.top]]
    print(format_table(["start (s)", "end (s)", "class", "score"], rows))
    print(f"{len(found)} detections of {result.video_id} ({result.duration:.1f} s) written to {args.out}")
    if args.plot:
        print(f"timeline: {TimelinePlotter(args.plot, False, args)(result)}")
    return 0


def _detect_many(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vidaction.data.inputs import check_unique_ids, find_inputs
    from vidaction.data.motion_descriptor import synthetic_feature_maker
    from vidaction.engine.batch_detection import detect_to_parts, merge_parts
    from vidaction.engine.runtime import resolve_device
    from vidaction.engine.sharding import finish_shares, read_list_file
    from vidaction.engine.tasks.detection import load_trained_detector
    from vidaction.engine.video_detection import feature_function

    model, cfg, class_names = load_trained_detector(args.checkpoint)
    videos = sorted(set(find_inputs([*args.inputs, *(read_list_file(args.list) if args.list else [])], "rgb")))
    check_unique_ids(videos, "results are keyed by it: detect them into different results files")
    device = resolve_device(args.device)
    compute, in_workers = None, False
    if cfg.data.input == "features":
        compute, in_workers = feature_function(model.pretrained_cfg.get("features", {}), args.extractor,
                                               synthetic_feature_maker, device)
    if args.plot:
        Path(args.plot).mkdir(parents=True, exist_ok=True)
    summary = detect_to_parts(model, cfg, class_names, videos, args.out, compute, in_workers, args.workers, device,
                              progress=not args.no_progress,
                              on_video=TimelinePlotter(args.plot, True, args) if args.plot else None)
    total = finish_shares(summary, lambda: merge_parts(args.out))
    if total is None:  # rank 0 reports every process's failures (a failing rank would end torchrun's group)
        return 0
    print(f"{len(videos)} videos: {total.done} detected, {total.skipped} already done, {len(total.failed)} failed; "
          f"results in {args.out}" + (f", timelines in {args.plot}" if args.plot else ""))
    for line in total.failed:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if total.failed else 0
