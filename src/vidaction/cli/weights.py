"""``vidaction weights list | download NAME | verify FILE [--name NAME]``: published weights by name."""

from __future__ import annotations

import argparse
from pathlib import Path

from vidaction.cli.arguments import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "weights", run, help="list, download and verify published weights (ImageNet, Kinetics, ...)",
        description="Published weights by name (torchvision ImageNet ResNets, the official TSM checkpoints, "
        "pytorch-i3d's I3D), usable as model.pretrained=NAME, model.backbone_pretrained=NAME or "
        "model.pretrained=imagenet (the model family's ImageNet weights). Files are kept in torch hub's "
        "checkpoint cache ($TORCH_HOME/hub/checkpoints); a file fetched by hand is picked up there. Nothing is "
        "downloaded unless a name is asked for.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every name with its models, checksum, licence, cache state and URL",
                       description="Every registered name: the models it fits, its published checksum, licence, "
                       "whether it is in the cache, and its URL.")
    download = actions.add_parser(
        "download", help="download NAME into the cache (resumes a partial file, verifies the checksum)",
        description="Download the weights NAME into torch hub's checkpoint cache with a progress bar, resuming "
        "a partial <file>.part, verify the published checksum, and print the path. A verified cached file is "
        "reused without the network.")
    download.add_argument("name", help="a name from 'vidaction weights list', e.g. tsm_r50.kinetics400_8f")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    verify = actions.add_parser(
        "verify", help="print a file's SHA-256 and check it against a registered name",
        description="Print FILE's size and SHA-256; with --name, check them against the published ones "
        "(exit status 1 on a mismatch); without, name the registered weights whose checksum or file name it has.")
    verify.add_argument("file", help="weights file")
    verify.add_argument("--name", default=None, help="registered name to check FILE against")


def run(args: argparse.Namespace) -> int:
    return {"list": list_weights, "download": download, "verify": verify}[args.action](args)


def list_weights(args: argparse.Namespace) -> int:
    from vidaction.models.hub import WEIGHTS, cache_dir, cached_path

    rows = [("NAME", "MODELS", "CHECKSUM", "LICENCE", "CACHED", "URL")]
    rows += [(w.name, ",".join(w.fits) or "-", w.hash_status, w.licence.split(" ")[0],
              "yes" if cached_path(w).is_file() else "no", w.url) for w in WEIGHTS.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"cache: {cache_dir()}")
    return 0


def download(args: argparse.Namespace) -> int:
    from vidaction.models.hub import fetch_weights

    print(fetch_weights(args.name, progress=not args.quiet))
    return 0


def verify(args: argparse.Namespace) -> int:
    from vidaction.models.hub import WEIGHTS, get_weights, mismatch, sha256_of

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    digest = sha256_of(path)
    print(f"{path}: {path.stat().st_size} bytes, SHA-256 {digest}")
    if args.name is None:
        known = [w.name for w in WEIGHTS.values()
                 if (w.sha256 and digest.startswith(w.sha256)) or w.filename == path.name]
        print(f"registered as: {', '.join(known)}" if known else "not a registered file")
        return 0
    entry = get_weights(args.name)
    wrong = mismatch(path, entry)
    if wrong:
        print(f"MISMATCH: not {entry.name} ({wrong})")
        return 1
    print(f"ok: {entry.name} ({entry.hash_status})" if entry.sha256 else
          f"{entry.name} publishes no checksum: the file cannot be verified")
    return 0
