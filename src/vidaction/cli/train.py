"""``vidaction train CONFIG [key=value ...]``: train a recognition model or a temporal action detector
(``task: detection`` in the config) and print its final metrics."""

from __future__ import annotations

import argparse
import json

from vidaction.cli.arguments import add_command, add_config_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "train", run,
        help="train a recognition model or a temporal action detector from a YAML config",
        description="Train a recognition model, or a temporal action detector when the config says "
        "'task: detection'. The run folder (train.out_dir) receives the resolved config, metrics.jsonl, "
        "TensorBoard scalars, last.pt/best.pt checkpoints, training curves and a confusion matrix "
        "(recognition) or the validation detections and per-class AP (detection). Launch with torchrun "
        "for several GPUs or machines. The last line printed is a JSON object with the final validation "
        "metrics.",
    )
    add_config_arguments(parser, "YAML config file (see configs/)",
                         "dotted overrides, e.g. optim.lr=0.01 data.batch_size=16 train.resume=runs/x/last.pt")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import load_config
    from vidaction.engine import distributed
    from vidaction.engine.experiment import run_training

    cfg = load_config(args.config, args.overrides)
    metrics = run_training(cfg)
    if distributed.is_main_process():
        print(json.dumps(metrics), flush=True)
    return 0
