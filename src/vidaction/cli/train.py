"""``vidaction train CONFIG [key=value ...]``: train a recognition model or a temporal action detector
(``task: detection`` in the config) and print its final metrics."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a recognition model or a temporal action detector from a YAML config",
        description="Train a recognition model, or a temporal action detector when the config says "
        "'task: detection'. The run folder (train.out_dir) receives the resolved config, metrics.jsonl, "
        "TensorBoard scalars, last.pt/best.pt checkpoints, training curves and a confusion matrix "
        "(recognition) or the validation detections and per-class AP (detection). Launch with torchrun "
        "for several GPUs or machines. The last line printed is a JSON object with the final validation "
        "metrics.",
    )
    parser.add_argument("config", help="YAML config file (see configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted overrides, e.g. optim.lr=0.01 data.batch_size=16 train.resume=runs/x/last.pt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidaction.config import DetectionExperimentConfig, load_config
    from vidaction.engine import distributed

    cfg = load_config(args.config, args.overrides)
    if isinstance(cfg, DetectionExperimentConfig):
        from vidaction.engine.detection_experiment import run_detection_training as run_training
    else:
        from vidaction.engine.experiment import run_training
    metrics = run_training(cfg)
    if distributed.is_main_process():
        print(json.dumps(metrics), flush=True)
    return 0
