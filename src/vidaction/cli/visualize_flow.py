"""``vidaction visualize-flow CHECKPOINT VIDEO --out FILE.png``: HCML's estimated flow (Fig. 3)."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_checkpoint_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "visualize-flow", run,
        help="draw the optical flow an HCML model estimates, next to the frames of a video",
        description="Run a checkpoint trained with an HCML recipe (recipe.name=hcml, hcml_progressive or "
        "hcml_pretrain) on one video (its test preprocessing, "
        "first view) and write a PNG: the frames, then one row per flow level (the first motion level, and "
        "those of recipe.flow_levels) with the flow its frame-reconstruction branch estimates for each "
        "adjacent pair of that level's steps, in the Middlebury colour-wheel coding (HCML Fig. 3).",
    )
    add_checkpoint_arguments(parser, "a checkpoint written by 'vidaction train' with an HCML recipe",
                             out_help="output PNG")
    parser.add_argument("--frames", type=int, default=8, help="frames (and flow pairs) to show (default 8)")


def run(args: argparse.Namespace) -> int:
    import torch

    from vidaction.config import ConfigError
    from vidaction.data.build import load_test_clip
    from vidaction.engine.tasks.recognition import HCML_RECIPES, load_trained_model
    from vidaction.viz.flow import flow_grid

    model, cfg, _ = load_trained_model(args.checkpoint, deploy=False)
    if cfg.recipe.name not in HCML_RECIPES:
        raise ConfigError(f"{args.checkpoint}: not an HCML run (recipe.name={cfg.recipe.name}); "
                          "its model has no flow estimator")
    clip = load_test_clip(cfg.data, args.video)[0]
    model.eval()
    with torch.no_grad():
        output = model(clip.unsqueeze(0), return_motion=True)
    mean = torch.tensor(cfg.data.mean).view(3, 1, 1, 1)
    std = torch.tensor(cfg.data.std).view(3, 1, 1, 1)
    frames = (clip * std + mean).clamp(0, 1).permute(1, 2, 3, 0).numpy()
    flows = {level: flow[0].transpose(0, 1)[: max((args.frames - 1) // output.flow_strides[level], 1)].numpy()
             for level, flow in output.flows.items()}
    flow_grid(frames[: args.frames], flows, args.out, strides=output.flow_strides,
              title=f"{args.video}: flow estimated at {', '.join(flows)}")
    print(f"wrote {args.out}")
    return 0
