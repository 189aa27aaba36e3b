"""``vidaction list-models [PATTERN]``: the registered model names."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list-models", help="list registered model names",
                                   description="List the model names create_model accepts.")
    parser.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. 'tsm_*'")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidaction.models import list_models

    for name in list_models(args.pattern):
        print(name)
    return 0
