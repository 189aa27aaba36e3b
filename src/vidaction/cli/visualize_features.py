"""``vidaction visualize-features CHECKPOINT VIDEO --out FILE.png``: GAF's features and attention over
one video (GAF Fig. 6), for a detector with ``model.attention=gaf`` or a GAF recognition model."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_checkpoint_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "visualize-features", run,
        help="draw a GAF model's features before and after its attention, and lambda over time",
        description="Write a PNG of GAF's attention over one video. A detector trained with model.attention=gaf "
        "runs over the video's test windows: one backbone map's features averaged over space, as channel x "
        "time images before and after the generative attention, and lambda over the timeline with the ground "
        "truth shaded when --gt names the annotations. A recognition model (model.name=gaf_i3d or gaf_tsm_r50) "
        "runs on the video's first test clip: its last map, the action- and non-action-enhanced maps, and "
        "lambda over the clip's frames, with the predicted class.",
    )
    add_checkpoint_arguments(parser, "a checkpoint of a run with model.attention=gaf or model.name=gaf_*",
                             "the video file (its file name without extension is its video id)", out_help="output PNG")
    parser.add_argument("--gt", default=None,
                        help="detectors: ground truth, a THUMOS14 annotation folder or an ActivityNet-style JSON")
    parser.add_argument("--subset", default=None, help="subset of --gt holding the video (default: the run's "
                        "validation subset, then its training subset)")
    parser.add_argument("--map", type=int, default=0, help="detectors: which attended map (0 = the finest, "
                        "I3D's Mixed_4f)")
    parser.add_argument("--features", default=None, help="a ready feature file of the video (feature-mode detectors)")
    parser.add_argument("--extractor", default=None, help="I3D weights for detectors trained on extracted features")
    parser.add_argument("--device", default="cpu", help="device to run on (default cpu)")


def run(args: argparse.Namespace) -> int:
    from vidaction.engine.checkpoint import load_checkpoint

    if load_checkpoint(args.checkpoint, mmap=True).get("config", {}).get("task") == "detection":
        _detector(args)
    else:
        _classifier(args)
    print(f"wrote {args.out}")
    return 0


def _detector(args: argparse.Namespace) -> None:
    from vidaction.cli.detect import ground_truth_of
    from vidaction.data.motion_descriptor import synthetic_feature_maker
    from vidaction.engine.tasks.detection import load_trained_detector
    from vidaction.engine.video_detection import video_attention
    from vidaction.viz.features import plot_feature_attention

    result = video_attention(args.checkpoint, args.video, args.features, args.extractor, args.map, args.device,
                             feature_maker=synthetic_feature_maker)
    truth = []
    if args.gt:
        _, cfg, _ = load_trained_detector(args.checkpoint)
        truth = ground_truth_of(args.gt, args.subset, cfg, result.class_names, result.video_id)
    plot_feature_attention(result.times, {"original": result.original, "attention-enhanced F'": result.enhanced},
                           result.lambdas, args.out, truth, result.class_names, result.duration,
                           title=f"{result.video_id}: map {args.map} before and after GAF, lambda below")
    inside = [t for t in result.times if any(s <= t <= e for s, e, _ in truth)]
    if truth and inside:
        import numpy as np

        action = np.isin(result.times, inside)
        print(f"mean lambda inside ground-truth instances {result.lambdas[action].mean():.3f}, outside "
              f"{result.lambdas[~action].mean():.3f}")


def _classifier(args: argparse.Namespace) -> None:
    from pathlib import Path

    from vidaction.engine.clip_attention import clip_attention
    from vidaction.viz.features import plot_feature_attention

    result = clip_attention(args.checkpoint, args.video, args.device)
    plot_feature_attention(result.positions, {"original": result.original, "action-enhanced (lambda)": result.action,
                                              "non-action-enhanced (1 - lambda)": result.nonaction},
                           result.lambdas, args.out, duration=float(result.num_frames), xlabel="clip frame",
                           title=f"{Path(args.video).name}: last map before and after GAF, lambda below; predicted "
                           f"{result.predicted} ({result.score:.2f})")
    print(f"predicted {result.predicted} ({result.score:.3f}); lambda over the clip: "
          + " ".join(f"{value:.2f}" for value in result.lambdas))
