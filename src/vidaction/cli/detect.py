"""``vidaction detect CHECKPOINT VIDEO --out segments.json [--plot timeline.png --gt GT]``: detect actions
in one untrimmed video and draw them against the ground truth (GAF Fig. 5)."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_checkpoint_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "detect", run,
        help="temporal action detection on one video: segments JSON and a timeline picture",
        description="Run a detector trained with 'vidaction train' (task: detection) on one untrimmed video: "
        "frames (or features made the way the detector's training features were), the detector, decoding "
        "and per-class soft-NMS. Writes the detections in the ActivityNet results format and, with "
        "--plot, a timeline of predicted segments against the ground truth when --gt names the "
        "annotations.",
    )
    add_checkpoint_arguments(parser, "a detector checkpoint (best.pt / last.pt of a detection run)",
                             "the video file (its file name, without extension, is its video id)",
                             out_help="output JSON of the detections")
    parser.add_argument("--plot", default=None, help="also draw the detections on a time axis into this PNG")
    parser.add_argument("--gt", default=None, help="ground truth to draw: a THUMOS14 annotation folder or an "
                        "ActivityNet-style JSON listing the video")
    parser.add_argument("--subset", default=None, help="subset of --gt holding the video (default: the run's "
                        "validation subset, then its training subset)")
    parser.add_argument("--features", default=None, help="a ready feature file of the video (feature-mode detectors)")
    parser.add_argument("--extractor", default=None, help="I3D weights to compute the video's features with, for "
                        "detectors trained on 'vidaction extract-features' output")
    parser.add_argument("--min-score", type=float, default=0.3, help="lowest score drawn on the timeline (default 0.3)")
    parser.add_argument("--top", type=int, default=10, help="detections listed on screen (default 10)")
    parser.add_argument("--device", default="cpu", help="device to run on (default cpu)")


def ground_truth_of(annotations: str, subset: str | None, cfg, class_names: list[str],
                    video_id: str) -> list[tuple[float, float, int]]:
    """``(start, end, class)`` of ``video_id`` in ``annotations`` (``subset``, else the run's
    validation then training subset); empty, with a warning, when the video is not there."""
    from vidaction.data.formats.detection import read_detection_annotations

    subsets = [subset] if subset else [cfg.data.val_subset, cfg.data.train_subset]
    for name in subsets:
        videos, _ = read_detection_annotations(annotations, name, class_names)
        for video in videos:
            if video.video_id == video_id:
                return [(float(s), float(e), int(c)) for (s, e), c in zip(video.segments, video.labels)]
    print(f"vidaction: warning: {video_id} is not in subsets {subsets} of {annotations}; no ground truth drawn")
    return []


def run(args: argparse.Namespace) -> int:
    from vidaction.data.motion_descriptor import synthetic_feature_maker
    from vidaction.engine.tasks.detection import load_trained_detector
    from vidaction.engine.video_detection import detect_video
    from vidaction.evaluation.detection_results import write_results_json
    from vidaction.viz.tables import format_table

    result = detect_video(args.checkpoint, args.video, args.features, args.extractor, args.device,
                          feature_maker=synthetic_feature_maker)
    names, found = result.class_names, result.detections
    write_results_json(args.out, found, names)
    rows = [[f"{s:.2f}", f"{e:.2f}", names[int(c)], f"{p:.3f}"]
            for (s, e), c, p in list(zip(found.segments, found.labels, found.scores))[:args.top]]
    print(format_table(["start (s)", "end (s)", "class", "score"], rows))
    print(f"{len(found)} detections of {result.video_id} ({result.duration:.1f} s) written to {args.out}")
    if args.plot:
        from vidaction.viz.timeline import plot_timeline

        truth = []
        if args.gt:
            _, cfg, _ = load_trained_detector(args.checkpoint)
            truth = ground_truth_of(args.gt, args.subset, cfg, names, result.video_id)
        predictions = [(float(s), float(e), int(c), float(p))
                       for (s, e), c, p in zip(found.segments, found.labels, found.scores)]
        plot_timeline(result.duration, names, predictions, args.plot, truth, min_score=args.min_score,
                      title=f"{result.video_id}: ground truth (grey) and detections (colour, opacity = score)")
        print(f"timeline: {args.plot}")
    return 0
