"""``vidaction efficacy CONFIG checkpoint=PATH level=L``: HCML's efficacy score of one motion level."""

from __future__ import annotations

import argparse
import json

from vidaction.cli.arguments import add_command, add_config_arguments, expand_checkpoint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "efficacy", run,
        help="HCML efficacy score of a checkpoint's motion features at one level",
        description="Extract the frozen motion features of one level for the training and validation "
        "videos of the config's dataset (test preprocessing, one view), train a linear classifier on "
        "the training features and print Acc_train, Acc_test and the efficacy score "
        "Acc_train / (Acc_train - Acc_test) (HCML Sec. 4.2, Table 1). The last line printed is a JSON object.",
    )
    add_config_arguments(parser, "YAML config naming the dataset (e.g. the one the checkpoint was trained with)",
                         "checkpoint=PATH and level=L are required (L = 1, 2, 3 for the motion features after "
                         "res2, res3, res4, or a stage name); other dotted overrides, e.g. data.batch_size=16")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import ConfigError, load_config
    from vidaction.engine.efficacy import run_efficacy

    levels = [o.split("=", 1)[1] for o in args.overrides if o.startswith("level=")]
    if len(levels) != 1:
        raise ConfigError("give the motion level once: level=1 (after res2), 2 (res3), 3 (res4) or a stage name")
    overrides = expand_checkpoint([o for o in args.overrides if not o.startswith("level=")])
    result = run_efficacy(load_config(args.config, overrides), levels[0])
    print(f"level {result['level']} ({result['channels']} channels), {result['train_videos']} training / "
          f"{result['test_videos']} test videos: Acc_train {100 * result['train_accuracy']:.1f} %, "
          f"Acc_test {100 * result['test_accuracy']:.1f} %, efficacy score {result['score']:.2f}")
    print(json.dumps(result), flush=True)
    return 0
