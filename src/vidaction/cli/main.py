"""``vidaction`` command line: one sub-command per module, each thin (parse, build, call, print).

Errors a user can fix (a bad config key, a missing annotation file, an unreadable video, an unknown
model, a checkpoint holding Python objects other than tensors and plain data, published weights
that cannot be downloaded) end with a one-line ``vidaction: error: ...`` on stderr and exit status 2,
no traceback. Checkpoints are read as data unless the command was given ``--trust-checkpoint``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from vidaction import __version__

# Sub-command name -> module under vidaction.cli; each module has add_parser(subparsers) and run(args).
COMMANDS = {
    "train": "train",
    "test": "test",
    "infer": "infer",
    "stream": "stream",
    "demo": "demo",
    "make-synthetic": "make_synthetic",
    "list-models": "list_models",
    "flops": "flops",
    "convert-checkpoint": "convert_checkpoint",
    "visualize-attention": "visualize_attention",
    "visualize-flow": "visualize_flow",
    "extract-features": "extract_features",
    "efficacy": "efficacy",
    "eval-detection": "eval_detection",
    "extract-flow": "extract_flow",
    "detect": "detect",
    "visualize-features": "visualize_features",
    "weights": "weights",
    "write-sidecars": "write_sidecars",
    "export": "export",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidaction",
        description="Video action recognition and temporal action detection (W3, HCML, GAF) in plain PyTorch.",
        epilog="Run 'vidaction COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"vidaction {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        importlib.import_module(f"vidaction.cli.{module_name}").add_parser(subparsers)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is enough for the user; anything else keeps its traceback."""
    from vidaction.config import ConfigError
    from vidaction.data.errors import AnnotationError, VideoDecodeError
    from vidaction.engine.loop import TooManyBadSamples
    from vidaction.models.hub import WeightsError
    from vidaction.models.pretrained import UnsafeCheckpointError
    from vidaction.models.registry import ModelNotFoundError

    return (ConfigError, AnnotationError, VideoDecodeError, TooManyBadSamples, ModelNotFoundError,
            FileNotFoundError, UnsafeCheckpointError, WeightsError)


def main(argv: list[str] | None = None) -> int:
    from vidaction.models.pretrained import trusted_checkpoints

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with trusted_checkpoints(getattr(args, "trust_checkpoint", False)):
            return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"vidaction: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidaction: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (``vidaction weights list | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
