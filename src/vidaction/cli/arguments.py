"""What the sub-commands share: registering a command, the arguments several take (a config with
dotted overrides, a checkpoint and a video, ``--trust-checkpoint``), and the ``checkpoint=PATH`` shorthand."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_command(subparsers: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int],
                help: str, description: str) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``, which calls ``run(args)``."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(func=run)
    return parser


def add_config_arguments(parser: argparse.ArgumentParser, config_help: str, overrides_help: str) -> None:
    """The positional ``config`` (a YAML file) and any number of ``key=value`` ``overrides``."""
    parser.add_argument("config", help=config_help)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=overrides_help)
    add_trust_argument(parser)


def add_checkpoint_arguments(parser: argparse.ArgumentParser, checkpoint_help: str,
                             video_help: str = "video file or frame folder", out_help: str | None = None) -> None:
    """The positional ``checkpoint`` and ``video``, and a required ``--out`` when ``out_help`` is given."""
    parser.add_argument("checkpoint", help=checkpoint_help)
    parser.add_argument("video", help=video_help)
    if out_help is not None:
        parser.add_argument("--out", required=True, help=out_help)
    add_trust_argument(parser)


def add_batch_arguments(parser: argparse.ArgumentParser, checkpoint_help: str, inputs_help: str,
                        workers_help: str) -> None:
    """What the commands run over many videos share (``infer``, ``detect``): the positional checkpoint
    and inputs, ``--list FILE``, ``--workers``, ``--device`` (default auto), ``--no-progress`` and
    ``--trust-checkpoint``."""
    parser.add_argument("checkpoint", help=checkpoint_help)
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help=inputs_help)
    parser.add_argument("--list", default=None, metavar="FILE",
                        help="a text file naming more inputs, one per line (# comments)")
    parser.add_argument("--workers", type=int, default=2, help=workers_help)
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda, cuda:1, ... or auto (default: this process's GPU if any, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_trust_argument(parser)


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """``--trust-checkpoint``: :func:`vidaction.cli.main.main` reads every checkpoint of the command
    with full unpickling (:func:`vidaction.models.pretrained.trusted_checkpoints`)."""
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="UNSAFE: load checkpoints that hold Python objects other than tensors and plain data "
                        "(files written by vidaction before 2026-12 hold NumPy RNG states) with full unpickling, "
                        "which runs any code such a file names. Only for files you trust")


def expand_checkpoint(overrides: list[str]) -> list[str]:
    """``checkpoint=PATH`` is shorthand for ``train.checkpoint=PATH``; other overrides pass unchanged."""
    return [f"train.{o}" if o.startswith("checkpoint=") else o for o in overrides]
