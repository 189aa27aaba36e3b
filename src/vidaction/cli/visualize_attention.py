"""``vidaction visualize-attention CHECKPOINT VIDEO --out FILE.png``: W3/CBAM masks over frames."""

from __future__ import annotations

import argparse

from vidaction.cli.arguments import add_checkpoint_arguments, add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "visualize-attention", run,
        help="draw a model's spatio-temporal attention masks over the frames of a video",
        description="Run a checkpoint trained with model.options.attention=w3 or cbam on one video (its "
        "test preprocessing, first view) and write a PNG grid: evenly sampled frames, then one row per "
        "attended stage with that stage's last-block spatial mask overlaid (as in W3's Fig. 3).",
    )
    add_checkpoint_arguments(parser, "a checkpoint written by 'vidaction train' with attention", out_help="output PNG")
    parser.add_argument("--frames", type=int, default=8, help="frames to show (default 8)")


def run(args: argparse.Namespace) -> int:
    import torch

    from vidaction.config import ConfigError
    from vidaction.data.build import load_test_clip
    from vidaction.engine.tasks.recognition import load_trained_model
    from vidaction.viz.attention import overlay_grid

    model, cfg, class_names = load_trained_model(args.checkpoint)
    if not getattr(model, "attention_stages", ()):
        raise ConfigError(f"{args.checkpoint}: model {cfg.model.name} has no attention blocks "
                          "(train with model.options.attention=w3 or cbam)")
    clip = load_test_clip(cfg.data, args.video)[0]
    model.eval()
    with torch.no_grad():
        scores = model(clip.unsqueeze(0))[0].softmax(0)
    masks = model.attention_masks()
    mean = torch.tensor(cfg.data.mean).view(3, 1, 1, 1)
    std = torch.tensor(cfg.data.std).view(3, 1, 1, 1)
    frames = (clip * std + mean).clamp(0, 1).permute(1, 2, 3, 0).numpy()
    top = int(scores.argmax())
    label = class_names[top] if class_names else str(top)
    overlay_grid(frames, masks, args.out, title=f"{args.video}: {label} ({scores[top]:.2f})", max_frames=args.frames)
    print(f"wrote {args.out}")
    return 0
