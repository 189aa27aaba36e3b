"""``vidaction test CONFIG checkpoint=PATH [key=value ...]``: evaluate a trained model or detector."""

from __future__ import annotations

import argparse
import json

from vidaction.cli.arguments import add_command, add_config_arguments, expand_checkpoint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "test", run,
        help="evaluate a checkpoint on the validation split",
        description="Evaluate a recognition checkpoint with the config's test views (data.test_clips clips x "
        "data.test_crops crops; the video score is the mean over views): the last line printed is a JSON "
        "object {\"top1\", \"top5\", \"mean_class_acc\", ...}. For a detection config (task: detection), "
        "decode every test window, merge per video with soft-NMS and score the mAP (fusing a second stream "
        "with test.fuse_checkpoint=PATH): {\"mAP@0.5\", ..., \"average_mAP\", ...}.",
    )
    add_config_arguments(parser, "YAML config file used for training (or a variant of it)",
                         "checkpoint=PATH is required (shorthand for train.checkpoint=PATH); other dotted "
                         "overrides, e.g. data.test_clips=2 data.test_crops=3")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import load_config
    from vidaction.engine import distributed
    from vidaction.engine.experiment import run_test

    cfg = load_config(args.config, expand_checkpoint(args.overrides))
    metrics = run_test(cfg)
    if distributed.is_main_process():
        print(json.dumps(metrics), flush=True)
    return 0
