"""``vidaction demo``: the embedded default jobs, end to end on CPU in a few minutes each.

``--task motion`` (the default) writes (or reuses) the synthetic motion dataset, trains each row of
a suite (``--suite w3``: TSN, TSM, CBAM, W3, W3 + MFR, online TSM, which is also streamed frame by
frame over the test videos; ``--suite hcml``: R2D, + prime motion blocks,
+ HCML's self-supervision) with its recipe, evaluates it on the held-out split, prints a results
table and writes a PNG of the training curves. ``--task detection`` does the same for AFSD and
AFSD + GAF on the synthetic untrimmed videos' features, with the mAP at tIoU 0.1-0.7 and a timeline
of the first test video's detections. The recipes are :mod:`vidaction.demo.recipes`, the runs
:mod:`vidaction.demo.runs`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from vidaction.demo.recipes import DETECTION, MOTION_SUITES, load_recipe

    w3, hcml, detection = load_recipe("w3"), load_recipe("hcml"), load_recipe(DETECTION)
    parser = add_command(
        subparsers, "demo", run,
        help="generate synthetic videos and train on CPU: recognition (TSN, TSM, CBAM, W3) or detection (AFSD)",
        description="The embedded default jobs. --task motion (default): write (or reuse) the synthetic "
        f"motion dataset, train {', '.join(w3.models)} with one recipe (--suite hcml: "
        f"{', '.join(hcml.models)}), evaluate on the test split, print a table and write training curves "
        "(curves.png) and per-model run folders under --out. --task "
        "detection: write (or reuse) the synthetic untrimmed dataset, train "
        f"{', '.join(detection.models)} on its features, print mAP at tIoU 0.1-0.7 and write curves.png "
        "and timeline.png (first test video) under --out.",
    )
    parser.add_argument("--task", choices=["motion", "detection"], default="motion",
                        help="demo task (default motion)")
    parser.add_argument("--data-dir", default=None,
                        help="where the synthetic dataset is cached (default $VIDACTION_CACHE or "
                        "~/.cache/vidaction, subfolder synthetic-motion or synthetic-detection)")
    parser.add_argument("--out", default=None, help="output folder (default runs/demo or runs/demo-detection)")
    parser.add_argument("--suite", choices=list(MOTION_SUITES), default="w3",
                        help="motion: which rows to train when --models is not given: w3 (default: "
                        f"{' '.join(w3.models)}) or hcml ({' '.join(hcml.models)})")
    parser.add_argument("--models", nargs="+", default=None,
                        help="models to train. motion: a registered name with optional suffixes +cbam, +w3 (W3 "
                        "with refinement), +mfr (W3's two-stage distillation; reuses the +w3 run as teacher "
                        "when it ran before it), +online (TSM's online shift, from the past only; the row is "
                        "then also streamed frame by frame over the test videos), +pmb (HCML's prime motion blocks on R2D), +ssl (HCML's "
                        "progressive self-supervision then joint training). detection (default "
                        f"{' '.join(detection.models)}): afsd with optional +gaf (GAF's generative attention, "
                        "trained alternately with its CVAE)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs per model (default {w3.config['schedule']['epochs']} for motion, "
                        f"{detection.config['schedule']['epochs']} for detection)")
    videos_per_class = w3.dataset["videos_per_class"]
    parser.add_argument("--videos-per-class", type=int, default=videos_per_class,
                        help=f"motion: synthetic videos per class (default {videos_per_class})")
    videos = (detection.dataset["num_train"], detection.dataset["num_test"])
    parser.add_argument("--videos", type=int, nargs=2, default=videos, metavar=("TRAIN", "TEST"),
                        help=f"detection: synthetic training and test videos (default {videos[0]} {videos[1]})")
    parser.add_argument("--seed", type=int, default=0, help="seed for data generation and training")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    if args.task == "detection":
        return _detection(args)
    return _motion(args)


def _motion(args: argparse.Namespace) -> int:
    from vidaction.demo.online import online_table, stream_test_split
    from vidaction.demo.recipes import load_recipe
    from vidaction.demo.runs import motion_demo_data, motion_table, run_motion_demo

    started = time.perf_counter()
    data_root = motion_demo_data(args.data_dir, args.videos_per_class, args.seed)
    print(f"synthetic motion data: {data_root}")
    out = Path(args.out or "runs/demo")
    results = run_motion_demo(args.models or load_recipe(args.suite).models, data_root, out, args.seed, args.epochs,
                              not args.no_progress)
    print()
    print(motion_table(results))
    print(f"\nchance: top-1 {100 / results[-1]['num_classes']:.1f} %, direction 50.0 %")
    online = [r for r in results if "online" in r["spec"].split("+")[1:]]
    if online:
        print("\n" + online_table([stream_test_split(Path(r["run_dir"]), data_root) for r in online]))
        print("online: one frame per forward with TSM's shift buffers, over the frames of each test video that "
              "its test clip samples; frames/s end to end (decoding, preprocessing, network)")
    print(f"curves: {out / 'curves.png'}; run folders: {out}/<model>; total {time.perf_counter() - started:.0f} s")
    return 0


def _detection(args: argparse.Namespace) -> int:
    from vidaction.demo.recipes import DETECTION, load_recipe
    from vidaction.demo.runs import detection_demo_data, detection_table, run_detection_demo

    started = time.perf_counter()
    data_root = detection_demo_data(args.data_dir, args.videos[0], args.videos[1], args.seed)
    print(f"synthetic detection data: {data_root}")
    out = Path(args.out or "runs/demo-detection")
    results = run_detection_demo(args.models or load_recipe(DETECTION).models, data_root, out, args.seed,
                                 args.epochs, not args.no_progress)
    print()
    print(detection_table(results))
    print(f"\nmAP in % on the {args.videos[1]} test videos after the last epoch (last.pt); MACs of one "
          f"{results[0]['window']}-step window")
    print(f"curves: {out / 'curves.png'}; timeline: {out / 'timeline.png'}; run folders: {out}/<model>; "
          f"total {time.perf_counter() - started:.0f} s")
    return 0
