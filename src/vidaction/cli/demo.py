"""``vidaction demo``: the embedded default job, end to end on CPU in a few minutes.

It writes (or reuses) the synthetic motion dataset, trains each demo model with the same recipe,
evaluates it on the held-out split, prints a results table and writes a PNG of the training curves.
The synthetic classes come in time-reversed pairs (move left / move right, ...), so a model without
temporal modelling (TSN: per-frame CNN + average) can tell the pair but not the direction; the
"direction" column is the accuracy of telling the two classes of a pair apart, chance = 50 %.
The W3 rows are TSM with CBAM, with W3 (+ refinement) and with W3 + MFR (the W3 run is reused as
the teacher). All rows together fit the 5-minute budget on 2 CPU cores: 4 segments of 56 px, and
validation every second epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from vidaction.viz.tables import format_table

DEMO_MODELS = ("tsn_r18", "tsm_r18", "tsm_r18+cbam", "tsm_r18+w3", "tsm_r18+w3+mfr")

# Suffixes of a demo model spec and the overrides they stand for.
# At the demo's 56 px the last stage is 2x2, smaller than any spatial kernel: attention goes on
# stages 1-3 (14, 7 and 4 px) with a 3x3 spatial kernel.
SMALL_INPUT_ATTENTION = ["model.options.attention_stages=[1,2,3]", "model.options.attention_options.spatial_kernel=3"]
SPEC_OVERRIDES = {
    "cbam": ["model.options.attention=cbam", *SMALL_INPUT_ATTENTION],
    "w3": ["model.options.attention=w3", "model.options.refine=true", *SMALL_INPUT_ATTENTION],
    "mfr": ["recipe.name=mfr"],
}

# Recipe of the motion demo: narrow ResNet-18s at 56 px, 4 segments, AdamW with cosine decay.
DEMO_CONFIG = {
    "data": {
        "format": "ucf101",
        "num_frames": 4,
        "sampling": "segment",
        "input_size": 56,
        "resize_short": 64,
        "train_crop": "multiscale",
        "flip": False,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "batch_size": 16,
        "num_workers": 1,
        "persistent_workers": True,
        "pin_memory": False,
        "decode_cache": 1024,
    },
    "model": {"dropout": 0.2, "options": {"base_width": 16}},
    "optim": {"name": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "grad_clip": 5.0},
    "schedule": {"epochs": 20, "warmup_epochs": 1, "policy": "cosine"},
    "train": {"amp": False, "channels_last": False, "tensorboard": False, "eval_every": 2},
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate synthetic motion videos, train TSN, TSM and TSM with CBAM/W3 on CPU, print a results table",
        description="The embedded default job: write (or reuse) the synthetic motion dataset, train "
        f"{', '.join(DEMO_MODELS)} with one recipe, evaluate on the test split, print a table and write "
        "training curves (curves.png) and per-model run folders under --out.",
    )
    parser.add_argument("--task", choices=["motion"], default="motion", help="demo task (default motion)")
    parser.add_argument("--data-dir", default=None,
                        help="where the synthetic dataset is cached (default $VIDACTION_CACHE or "
                        "~/.cache/vidaction, subfolder synthetic-motion)")
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--models", nargs="+", default=list(DEMO_MODELS),
                        help="models to train: a registered name with optional suffixes +cbam, +w3 (W3 with "
                        "refinement), +mfr (W3's two-stage distillation; reuses the +w3 run as teacher "
                        "when it ran before it)")
    parser.add_argument("--epochs", type=int, default=DEMO_CONFIG["schedule"]["epochs"], help="epochs per model")
    parser.add_argument("--videos-per-class", type=int, default=48, help="synthetic videos per class (default 48)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data generation and training")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def _cache_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    base = os.environ.get("VIDACTION_CACHE") or Path.home() / ".cache" / "vidaction"
    return Path(base) / "synthetic-motion"


def direction_accuracy(confusion, class_names: list[str]) -> float:
    """Accuracy of telling the two classes of each time-reversed pair apart (chance 0.5).

    Counts test clips of either class of a pair that were predicted as one of the two, and returns
    the fraction predicted as the right one, pooled over pairs.
    """
    from vidaction.data.synthetic import REVERSAL_PAIRS

    index = {name: i for i, name in enumerate(class_names)}
    right = total = 0
    for first, second in REVERSAL_PAIRS:
        a, b = index[first], index[second]
        right += confusion[a][a] + confusion[b][b]
        total += confusion[a][a] + confusion[a][b] + confusion[b][a] + confusion[b][b]
    return right / total if total else float("nan")


def run(args: argparse.Namespace) -> int:
    from vidaction.config import ConfigError, config_from_dict
    from vidaction.data.synthetic import make_motion_dataset
    from vidaction.engine.experiment import run_training
    from vidaction.models import create_model
    from vidaction.models.flops import count_macs
    from vidaction.viz.curves import plot_curves

    started = time.perf_counter()
    data_root = make_motion_dataset(_cache_dir(args.data_dir), videos_per_class=args.videos_per_class,
                                    seed=args.seed)
    print(f"synthetic motion data: {data_root}")
    out = Path(args.out)
    rows, histories = [], {}
    for spec in args.models:
        base, *suffixes = spec.split("+")
        unknown = [s for s in suffixes if s not in SPEC_OVERRIDES]
        if unknown:
            raise ConfigError(f"demo model {spec!r}: unknown suffix {unknown[0]!r} "
                              f"(known: {', '.join(SPEC_OVERRIDES)})")
        overrides = [
            f"data.root={data_root / 'videos'}",
            f"data.annotations={data_root / 'annotations'}",
            f"model.name={base}",
            f"schedule.epochs={args.epochs}",
            f"train.out_dir={out / spec}",
            f"train.seed={args.seed}",
            f"train.progress={not args.no_progress}",
            *(o for suffix in suffixes for o in SPEC_OVERRIDES[suffix]),
        ]
        teacher = out / spec.removesuffix("+mfr") / "best.pt"
        if "mfr" in suffixes and spec.removesuffix("+mfr") in histories and teacher.is_file():
            overrides.append(f"recipe.teacher={teacher}")
        cfg = config_from_dict(DEMO_CONFIG, overrides)
        print(f"\n== {spec}: training {cfg.schedule.epochs} epochs")
        tick = time.perf_counter()
        metrics = run_training(cfg)
        seconds = time.perf_counter() - tick
        run_dir = out / spec / "student" if "mfr" in suffixes else out / spec
        histories[spec] = json.loads((run_dir / "history.json").read_text())
        confusion = json.loads((run_dir / "confusion.json").read_text())
        class_names = (run_dir / "classes.txt").read_text().split()
        probe = create_model(base, num_classes=len(class_names), num_frames=cfg.data.num_frames, **cfg.model.options)
        macs, params = count_macs(probe, (1, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size))
        rows.append([
            spec, f"{params / 1e6:.2f}", f"{macs / 1e6:.0f}",
            f"{100 * metrics['top1']:.1f}", f"{100 * metrics['mean_class_acc']:.1f}",
            f"{100 * direction_accuracy(confusion, class_names):.1f}", f"{seconds:.0f}",
        ])
    plot_curves(histories, out / "curves.png")
    print()
    print(format_table(["model", "params (M)", "MACs (M)", "top-1 %", "mean class %", "direction %",
                        "train s"], rows))
    print(f"\nchance: top-1 {100 / len(class_names):.1f} %, direction 50.0 %")
    print(f"curves: {out / 'curves.png'}; run folders: {out}/<model>; total {time.perf_counter() - started:.0f} s")
    return 0
