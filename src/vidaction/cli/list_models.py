"""``vidaction list-models [PATTERN]``: the registered model names."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "list-models", run, help="list registered model names",
                         description="List the model names create_model accepts.")
    parser.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. 'tsm_*'")


def run(args: argparse.Namespace) -> int:
    from vidaction.models import list_models

    for name in list_models(args.pattern):
        print(name)
    return 0
