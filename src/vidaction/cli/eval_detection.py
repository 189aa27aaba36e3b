"""``vidaction eval-detection --gt GT --pred PRED.json``: temporal detection mAP (GAF Sec. IV-A, Table III).

The numbers equal the official ActivityNet evaluator's (see :mod:`vidaction.evaluation.detection_map`).
Defaults follow the ground-truth format (:func:`vidaction.data.formats.detection.detection_format`):
THUMOS14 is scored on ``test`` at tIoU ``np.linspace(0.3, 0.7, 5)``, ActivityNet-style files on
``validation`` at ``np.linspace(0.5, 0.95, 10)`` (the official default). stdout holds the tables and
ends with one JSON line; warnings (detections on videos absent from the ground truth, classes not
scored) go to stderr.
"""

from __future__ import annotations

import argparse
import json

from vidaction.cli.arguments import add_command


def parse_thresholds(text: str) -> list[float]:
    """``"0.3,0.5"`` -> ``[0.3, 0.5]``, each in (0, 1]."""
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"tIoU thresholds must lie in (0, 1], got {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "eval-detection", run,
        help="mAP of temporal detections, equal to the official ActivityNet evaluation",
        description="Score an ActivityNet results JSON ({'version', 'results': {video: [{'label', 'score', "
        "'segment'}]}, 'external_data'}) against THUMOS14 or ActivityNet-style ground truth: AP per class and "
        "tIoU threshold, mAP per threshold and their mean, numerically equal to the official ActivityNet "
        "evaluator (interpolated AP, greedy matching by descending score). Detections on videos absent from "
        "the ground truth count as false positives, as in the official code.",
    )
    parser.add_argument("--gt", required=True, help="THUMOS14 annotation folder (<Class>_test.txt ...), "
                        "ActivityNet-style JSON (ActivityNet v1.3, THUMOS14 conversion, AFSD's thumos_gt.json), or "
                        "with --annotation-format AFSD's and GAF's *_Annotation.csv / video_info_train_val.json")
    parser.add_argument("--annotation-format", choices=["auto", "afsd_thumos", "afsd_anet"], default="auto",
                        help="afsd_thumos: --gt is AFSD's test_Annotation.csv, with --video-info its "
                        "test_video_info.csv; afsd_anet: --gt is AFSD's video_info_train_val.json (default auto: "
                        "a THUMOS14 folder or an ActivityNet-style JSON)")
    parser.add_argument("--video-info", default=None, help="AFSD's *_video_info.csv (with --annotation-format "
                        "afsd_thumos)")
    parser.add_argument("--pred", required=True, help="results JSON")
    parser.add_argument("--subset", default=None, help="subset to score (default: test for THUMOS14, "
                        "validation for ActivityNet)")
    parser.add_argument("--tiou", type=parse_thresholds, default=None, metavar="T1,T2,...",
                        help="tIoU thresholds (default: 0.3,0.4,...,0.7 for THUMOS14, 0.5,0.55,...,0.95 for "
                        "ActivityNet)")
    parser.add_argument("--per-class", action="store_true", help="also print the AP of every class")
    parser.add_argument("--classes", default=None, help="class list, one name per line (e.g. a run's "
                        "classes.txt); default: the dataset's list")
    parser.add_argument("--ambiguous", choices=["count", "ignore"], default="count",
                        help="THUMOS14 Ambiguous regions: 'count' detections there as false positives like "
                        "the ActivityNet code (default), or 'ignore' unmatched ones like the THUMOS14 Matlab kit")


def _unknown_video_warning(unknown: tuple[str, ...], num_detections: int, subset: str, known: set[str]) -> str:
    shown = ", ".join(repr(v) for v in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
    text = (f"warning: {num_detections} detections on {len(unknown)} videos absent from the ground truth of "
            f"subset {subset!r} ({shown}) count as false positives, as in the official evaluator")
    without = sum(v.startswith("v_") and v[2:] in known for v in unknown)
    with_prefix = sum(f"v_{v}" in known for v in unknown)
    if without:
        text += (f"; {without} of them are ground-truth videos without their 'v_' prefix "
                 "(results are keyed by the bare id)")
    elif with_prefix:
        text += f"; {with_prefix} of them are ground-truth videos with a 'v_' prefix"
    return text


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    import numpy as np

    from vidaction.config import ConfigError
    from vidaction.data.errors import AnnotationError
    from vidaction.data.formats.activitynet import canonical_subset
    from vidaction.data.formats.detection import detection_format, read_class_list, read_detection_annotations
    from vidaction.evaluation.detection_map import ANET_TIOU_THRESHOLDS, THUMOS14_TIOU_THRESHOLDS, threshold_key
    from vidaction.evaluation.detection_results import evaluate_detection, read_results_json
    from vidaction.viz.tables import format_table

    if args.annotation_format == "afsd_thumos" and not args.video_info:
        raise ConfigError("--annotation-format afsd_thumos needs --video-info (AFSD's *_video_info.csv)")
    dataset = detection_format(args.gt, args.annotation_format)
    named_subset = args.subset or ("test" if dataset == "thumos14" else "validation")
    subset = canonical_subset(named_subset)
    if os.path.isdir(args.gt) and subset not in ("validation", "testing"):
        raise ConfigError(f"--subset {args.subset!r}: a THUMOS14 annotation folder has the 'val' and 'test' subsets")
    class_names = read_class_list(args.classes) if args.classes else None
    videos, classes = read_detection_annotations(args.gt, named_subset if args.annotation_format != "auto" else subset,
                                                 class_names, args.annotation_format, args.video_info or "")
    num_segments = sum(len(v.labels) for v in videos)
    if num_segments == 0:
        raise AnnotationError(args.gt, 0, f"subset {subset!r} has no ground-truth segments to score against")
    predictions = read_results_json(args.pred, classes)
    thresholds = args.tiou or list(THUMOS14_TIOU_THRESHOLDS if dataset == "thumos14" else ANET_TIOU_THRESHOLDS)
    metrics = evaluate_detection(videos, predictions, classes, thresholds, ambiguous=args.ambiguous)

    print(f"ground truth  {args.gt} ({dataset}, subset {subset}): {len(videos)} videos, {num_segments} segments, "
          f"{len(classes)} classes")
    num_videos = len(set(predictions.video_ids.tolist()))
    print(f"predictions   {args.pred}: {len(predictions)} detections on {num_videos} videos")
    if metrics.unknown_videos:
        count = int(np.isin(predictions.video_ids, list(metrics.unknown_videos)).sum())
        print(_unknown_video_warning(metrics.unknown_videos, count, subset, {v.video_id for v in videos}),
              file=sys.stderr)
    unscored = [name for name, n in zip(classes, metrics.num_positives) if n == 0]
    if unscored:
        print(f"note: {len(unscored)} classes have no ground truth in subset {subset!r} and are not scored: "
              + ", ".join(unscored[:5]) + (", ..." if len(unscored) > 5 else ""), file=sys.stderr)
    keys = [threshold_key(t) for t in metrics.tiou_thresholds]
    rows = [[key, f"{100 * m:.2f}"] for key, m in zip(keys, metrics.map_per_threshold)]
    rows.append(["average", f"{100 * metrics.average_map:.2f}"])
    print()
    print(format_table(["tIoU", "mAP (%)"], rows))
    if args.per_class:
        per_class = [[name, *(f"{100 * a:.1f}" if n else "-" for a in metrics.ap[:, c])]
                     for c, (name, n) in enumerate(zip(classes, metrics.num_positives))]
        per_class.append(["mAP", *(f"{100 * m:.1f}" for m in metrics.map_per_threshold)])
        print()
        print(f"AP (%) per class at each tIoU ({len(classes) - len(unscored)} scored classes)")
        print(format_table(["class", *keys], per_class))
    print(json.dumps(metrics.to_json()))
    return 0
