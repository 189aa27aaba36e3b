"""``vidaction infer CHECKPOINT VIDEO [--topk 5]``: class scores of one video."""

from __future__ import annotations

import argparse
import json

from vidaction.cli.arguments import add_checkpoint_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "infer", run,
        help="top-k classes of one video",
        description="Classify one video (or frame folder) with a checkpoint written by 'vidaction train': "
        "the preprocessing and test views (clips x crops) of the checkpoint's config are applied and "
        "the softmax of the view-averaged scores is printed.",
    )
    add_checkpoint_arguments(parser, "a checkpoint written by 'vidaction train' (best.pt / last.pt)")
    parser.add_argument("--topk", type=int, default=5, help="how many classes to print (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--device", default="cpu", help="device to run on (default cpu)")


def run(args: argparse.Namespace) -> int:
    import torch

    from vidaction.data.build import load_test_clip
    from vidaction.engine.tasks.recognition import load_trained_model

    model, cfg, class_names = load_trained_model(args.checkpoint)
    views = load_test_clip(cfg.data, args.video)
    model = model.to(args.device).eval()
    with torch.no_grad():
        probabilities = model(views.to(args.device)).mean(0).softmax(0).cpu()
    top = probabilities.topk(min(args.topk, len(probabilities)))
    ranked = [(class_names[i] if class_names else str(i), p) for p, i in zip(top.values.tolist(), top.indices.tolist())]
    if args.json:
        print(json.dumps({"video": args.video, "topk": [{"label": n, "score": p} for n, p in ranked]}))
    else:
        for rank, (name, p) in enumerate(ranked, 1):
            print(f"{rank}. {name:<30} {p:.4f}")
    return 0
