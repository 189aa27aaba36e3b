"""``vidaction demo``: the embedded default jobs, end to end on CPU in a few minutes each.

``--task motion`` (the default) writes (or reuses) the synthetic motion dataset, trains each demo
model with the same recipe, evaluates it on the held-out split, prints a results table and writes a
PNG of the training curves.
The synthetic classes come in time-reversed pairs (move left / move right, ...), so a model without
temporal modelling (TSN: per-frame CNN + average) can tell the pair but not the direction; the
"direction" column is the accuracy of telling the two classes of a pair apart, chance = 50 %.
The W3 rows are TSM with CBAM, with W3 (+ refinement) and with W3 + MFR (the W3 run is reused as
the teacher). All rows together fit the 5-minute budget on 2 CPU cores: 4 segments of 56 px, and
validation every second epoch. ``--suite hcml`` trains HCML's rows instead, on 8-frame clips: R2D,
R2D with prime motion blocks on res2 and res3, and the same with HCML's progressive
self-supervision before the joint training.

``--task detection`` writes (or reuses) the synthetic untrimmed detection dataset, trains AFSD and
AFSD + GAF on its pre-extracted features (a narrow head: 128 channels, 5 pyramid levels over
128-step windows of 25.6 s; GAF at the same width, trained alternately with its CVAE) and prints
the mAP at tIoU 0.1-0.7 on the test videos, the training curves and a timeline of the first test
video's detections against its ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from vidaction.viz.tables import format_table

if TYPE_CHECKING:
    from vidaction.config import DetectionExperimentConfig

DEMO_MODELS = ("tsn_r18", "tsm_r18", "tsm_r18+cbam", "tsm_r18+w3", "tsm_r18+w3+mfr")
# The motion task's two suites: W3's rows (the default) and HCML's (--suite hcml).
SUITES = {"w3": DEMO_MODELS, "hcml": ("r2d_tiny", "r2d_tiny+pmb", "r2d_tiny+pmb+ssl")}

# Suffixes of a demo model spec and the overrides they stand for.
# At the demo's 56 px the last stage is 2x2, smaller than any spatial kernel: attention goes on
# stages 1-3 (14, 7 and 4 px) with a 3x3 spatial kernel.
SMALL_INPUT_ATTENTION = ["model.options.attention_stages=[1,2,3]", "model.options.attention_options.spatial_kernel=3"]
SPEC_OVERRIDES = {
    "cbam": ["model.options.attention=cbam", *SMALL_INPUT_ATTENTION],
    "w3": ["model.options.attention=w3", "model.options.refine=true", *SMALL_INPUT_ATTENTION],
    "mfr": ["recipe.name=mfr"],
    # HCML's prime motion blocks on res2 and res3 (14x14 and 7x7 at 56 px; res4 would be 4x4 with a
    # single time step) with a 5x5 search window (d = 2, s = 1).
    "pmb": ["model.options.motion=pmb", "model.options.motion_levels=[res2,res3]",
            "model.options.motion_max_displacement=2", "model.options.motion_stride=1"],
    # HCML's progressive self-supervised stages (2 epochs per level), then the joint phase; a flow
    # estimator at a quarter of PWC-Net's widths, enough for 14x14 maps and twice as fast.
    "ssl": ["recipe.name=hcml_progressive", "recipe.level_epochs=2", "recipe.level_warmup_epochs=0",
            "recipe.num_locations=8", "recipe.flow_hidden=[16,16,12,8,4]"],
}
# Overrides by model family: R2D strides time from res3, so two motion levels need 8 frames (the
# TSN/TSM rows keep 4 segments).
FAMILY_OVERRIDES = {"r2d": ["data.num_frames=8"]}

# Synthetic motion videos per class of the demo's data (8 classes: 288 training, 96 test clips).
DEMO_VIDEOS_PER_CLASS = 48
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


DETECTION_DEMO_MODELS = ("afsd", "afsd+gaf")
# GAF at the demo head's width: attention heads of 128 channels, CVAEs of 32 reduced channels, 128
# hidden units and a 32-d latent (GAF: 512, 128, 512, 128). The non-action background loss is weighted
# 1: the authors' THUMOS14 weight 35 scored lower on this data (benchmarks/gaf_ablation.py).
GAF_DEMO_OPTIONS = ("model.attention=gaf", "model.attention_options={attention_channels: 128, norm_groups: 16, "
                    "cvae_channels: 32, cvae_hidden: 128, latent_size: 32}", "gaf.nonaction_reg_weight=1")
DETECTION_SPEC_OVERRIDES: dict[str, list[str]] = {"gaf": list(GAF_DEMO_OPTIONS)}
DETECTION_TIOU = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]

# AFSD on the synthetic features: 5 steps per second, windows of 128 steps (25.6 s) every 16 in
# training and 64 at test time; a 128-channel head (AFSD: 512) on 5 levels (strides 1-16). Without
# AFSD's boundary contrastive term (loss.contrastive_weight, 0.1 by default): its second forward on
# the augmented windows costs about half a step more and would take both rows past 5 minutes on 2
# cores; benchmarks/gaf_ablation.py has an AFSD row with it.
DETECTION_DEMO_CONFIG = {
    "task": "detection",
    "data": {"input": "features", "media_template": "{}.npy", "feature_channels": 128, "window": 128,
             "train_stride": 16, "test_stride": 64, "batch_size": 8, "num_workers": 0, "pin_memory": False},
    "model": {"backbone": "", "channels": 128, "proposal_channels": 64, "frame_channels": 64, "num_levels": 5,
              "norm_groups": 16},
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 5.0},
    "schedule": {"epochs": 20, "warmup_epochs": 1, "policy": "cosine"},
    "loss": {"contrastive_weight": 0.0},
    "train": {"amp": False, "channels_last": False, "tensorboard": False, "eval_every": 2},
    "test": {"tiou_thresholds": DETECTION_TIOU},
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate synthetic videos and train on CPU: recognition (TSN, TSM, CBAM, W3) or detection (AFSD)",
        description="The embedded default jobs. --task motion (default): write (or reuse) the synthetic "
        f"motion dataset, train {', '.join(DEMO_MODELS)} with one recipe (--suite hcml: "
        f"{', '.join(SUITES['hcml'])}), evaluate on the test split, print a table and write training curves "
        "(curves.png) and per-model run folders under --out. --task "
        "detection: write (or reuse) the synthetic untrimmed dataset, train "
        f"{', '.join(DETECTION_DEMO_MODELS)} on its features, print mAP at tIoU 0.1-0.7 and write curves.png "
        "and timeline.png (first test video) under --out.",
    )
    parser.add_argument("--task", choices=["motion", "detection"], default="motion",
                        help="demo task (default motion)")
    parser.add_argument("--data-dir", default=None,
                        help="where the synthetic dataset is cached (default $VIDACTION_CACHE or "
                        "~/.cache/vidaction, subfolder synthetic-motion or synthetic-detection)")
    parser.add_argument("--out", default=None, help="output folder (default runs/demo or runs/demo-detection)")
    parser.add_argument("--suite", choices=list(SUITES), default="w3",
                        help="motion: which rows to train when --models is not given: w3 (default: "
                        f"{' '.join(SUITES['w3'])}) or hcml ({' '.join(SUITES['hcml'])})")
    parser.add_argument("--models", nargs="+", default=None,
                        help="models to train. motion: a registered name with optional suffixes +cbam, +w3 (W3 "
                        "with refinement), +mfr (W3's two-stage distillation; reuses the +w3 run as teacher "
                        "when it ran before it), +pmb (HCML's prime motion blocks on R2D), +ssl (HCML's "
                        "progressive self-supervision then joint training). detection (default "
                        f"{' '.join(DETECTION_DEMO_MODELS)}): afsd with optional +gaf (GAF's generative attention, "
                        "trained alternately with its CVAE)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs per model (default {DEMO_CONFIG['schedule']['epochs']} for motion, "
                        f"{DETECTION_DEMO_CONFIG['schedule']['epochs']} for detection)")
    parser.add_argument("--videos-per-class", type=int, default=DEMO_VIDEOS_PER_CLASS,
                        help=f"motion: synthetic videos per class (default {DEMO_VIDEOS_PER_CLASS})")
    parser.add_argument("--videos", type=int, nargs=2, default=(30, 20), metavar=("TRAIN", "TEST"),
                        help="detection: synthetic training and test videos (default 30 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data generation and training")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def detection_demo_config(data_root: Path, overrides: list[str]) -> DetectionExperimentConfig:
    """The detection demo's recipe on the synthetic detection dataset at ``data_root`` (as
    :func:`~vidaction.data.synthetic_detection.make_detection_dataset` writes it), then ``overrides``."""
    from vidaction.config import config_from_dict

    return config_from_dict(DETECTION_DEMO_CONFIG, [
        f"data.annotations={data_root / 'annotations'}",
        f"data.class_names={data_root / 'annotations' / 'classes.txt'}",
        f"data.root={data_root / 'features'}", *overrides])


def _cache_dir(explicit: str | None, name: str = "synthetic-motion") -> Path:
    if explicit:
        return Path(explicit)
    base = os.environ.get("VIDACTION_CACHE") or Path.home() / ".cache" / "vidaction"
    return Path(base) / name


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
    if args.task == "detection":
        return run_detection(args)
    return run_motion(args)


def train_motion_row(spec: str, data_root: Path, out: Path, seed: int, epochs: int | None = None,
                     progress: bool = True, teacher: Path | None = None, extra: Sequence[str] = ()) -> dict:
    """Train one motion demo row (``spec``: a registered name with ``+``-suffixes) on the synthetic
    motion data at ``data_root`` with the demo recipe and training seed ``seed``, in ``out / spec``.

    A ``+mfr`` row distils from ``teacher`` (a checkpoint) when given, else trains its own teacher
    first (W3's stage 1). ``extra`` overrides come last. Returns ``{"spec", "params", "macs", "top1",
    "mean_class_acc", "direction", "seconds", "history"}``.
    """
    from vidaction.config import ConfigError, config_from_dict
    from vidaction.engine.experiment import run_training
    from vidaction.models import create_model
    from vidaction.models.flops import count_macs

    base, *suffixes = spec.split("+")
    unknown = [s for s in suffixes if s not in SPEC_OVERRIDES]
    if unknown:
        raise ConfigError(f"demo model {spec!r}: unknown suffix {unknown[0]!r} (known: {', '.join(SPEC_OVERRIDES)})")
    overrides = [
        f"data.root={data_root / 'videos'}",
        f"data.annotations={data_root / 'annotations'}",
        f"model.name={base}",
        f"schedule.epochs={epochs or DEMO_CONFIG['schedule']['epochs']}",
        f"train.out_dir={out / spec}",
        f"train.seed={seed}",
        f"train.progress={progress}",
        *(o for family, extra in FAMILY_OVERRIDES.items() if base.startswith(family) for o in extra),
        *(o for suffix in suffixes for o in SPEC_OVERRIDES[suffix]),
        *extra,
    ]
    if "mfr" in suffixes and teacher is not None:
        overrides.append(f"recipe.teacher={teacher}")
    cfg = config_from_dict(DEMO_CONFIG, overrides)
    print(f"\n== {spec}: training {cfg.schedule.epochs} epochs (seed {seed})")
    tick = time.perf_counter()
    metrics = run_training(cfg)
    seconds = time.perf_counter() - tick
    run_dir = out / spec / ("student" if "mfr" in suffixes else "joint" if "ssl" in suffixes else "")
    confusion = json.loads((run_dir / "confusion.json").read_text())
    class_names = (run_dir / "classes.txt").read_text().split()
    probe = create_model(base, num_classes=len(class_names), num_frames=cfg.data.num_frames, **cfg.model.options)
    macs, params = count_macs(probe, (1, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size))
    return {"spec": spec, "params": params, "macs": macs, "top1": metrics["top1"],
            "mean_class_acc": metrics["mean_class_acc"], "direction": direction_accuracy(confusion, class_names),
            "seconds": seconds, "num_classes": len(class_names),
            "history": json.loads((run_dir / "history.json").read_text())}


def stage_one_teacher(spec: str, out: Path, trained: list[str]) -> Path | None:
    """The checkpoint a ``+mfr`` row distils from: the best checkpoint of its ``+mfr``-less row when
    that row was trained (into ``out``) before it in the same run, else ``None``."""
    teacher = out / spec.removesuffix("+mfr") / "best.pt"
    return teacher if spec.endswith("+mfr") and spec.removesuffix("+mfr") in trained and teacher.is_file() else None


def run_motion(args: argparse.Namespace) -> int:
    from vidaction.data.synthetic import make_motion_dataset
    from vidaction.viz.curves import plot_curves

    started = time.perf_counter()
    data_root = make_motion_dataset(_cache_dir(args.data_dir), videos_per_class=args.videos_per_class,
                                    seed=args.seed)
    print(f"synthetic motion data: {data_root}")
    out = Path(args.out or "runs/demo")
    results: list[dict] = []
    for spec in args.models or SUITES[args.suite]:
        results.append(train_motion_row(spec, data_root, out, args.seed, args.epochs, not args.no_progress,
                                        teacher=stage_one_teacher(spec, out, [r["spec"] for r in results])))
    plot_curves({r["spec"]: r["history"] for r in results}, out / "curves.png")
    rows = [[r["spec"], f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e6:.0f}", f"{100 * r['top1']:.1f}",
             f"{100 * r['mean_class_acc']:.1f}", f"{100 * r['direction']:.1f}", f"{r['seconds']:.0f}"]
            for r in results]
    print()
    print(format_table(["model", "params (M)", "MACs (M)", "top-1 %", "mean class %", "direction %",
                        "train s"], rows))
    print(f"\nchance: top-1 {100 / results[-1]['num_classes']:.1f} %, direction 50.0 %")
    print(f"curves: {out / 'curves.png'}; run folders: {out}/<model>; total {time.perf_counter() - started:.0f} s")
    return 0


def run_detection(args: argparse.Namespace) -> int:
    import torch

    from vidaction.config import ConfigError
    from vidaction.data.synthetic_detection import make_detection_dataset
    from vidaction.engine.detect import detect_video
    from vidaction.engine.detection_experiment import load_trained_detector, run_detection_training
    from vidaction.models.flops import count_macs
    from vidaction.viz.curves import plot_curves
    from vidaction.viz.timeline import plot_timeline

    started = time.perf_counter()
    data_root = make_detection_dataset(_cache_dir(args.data_dir, "synthetic-detection"), num_train=args.videos[0],
                                       num_test=args.videos[1], seed=args.seed)
    print(f"synthetic detection data: {data_root}")
    out = Path(args.out or "runs/demo-detection")
    rows, histories, first_run = [], {}, None
    for spec in args.models or DETECTION_DEMO_MODELS:
        base, *suffixes = spec.split("+")
        unknown = [s for s in suffixes if s not in DETECTION_SPEC_OVERRIDES]
        if base != "afsd" or unknown:
            raise ConfigError(f"detection demo model {spec!r}: the base is afsd, suffixes "
                              f"{', '.join(DETECTION_SPEC_OVERRIDES) or '(none)'}")
        cfg = detection_demo_config(data_root, [
            f"schedule.epochs={args.epochs or DETECTION_DEMO_CONFIG['schedule']['epochs']}",
            f"train.out_dir={out / spec}",
            f"train.seed={args.seed}",
            f"train.progress={not args.no_progress}",
            *(o for suffix in suffixes for o in DETECTION_SPEC_OVERRIDES[suffix]),
        ])
        print(f"\n== {spec}: training {cfg.schedule.epochs} epochs")
        tick = time.perf_counter()
        metrics = run_detection_training(cfg)
        seconds = time.perf_counter() - tick
        histories[spec] = json.loads((out / spec / "history.json").read_text())
        model, _, _ = load_trained_detector(out / spec / "last.pt")
        mask = torch.ones(1, cfg.data.window, dtype=torch.bool)
        macs, params = count_macs(model, (1, cfg.data.feature_channels, cfg.data.window), extra_inputs=(mask,))
        rows.append([spec, f"{params / 1e6:.2f}", f"{macs / 1e6:.0f}",
                     *(f"{100 * metrics[f'mAP@{t}']:.1f}" for t in DETECTION_TIOU),
                     f"{100 * metrics['average_mAP']:.1f}", f"{seconds:.0f}"])
        first_run = first_run or out / spec
    plot_curves(histories, out / "curves.png", metric="val_average_mAP", metric_label="val average mAP")
    video = sorted((data_root / "videos").glob("video_test_*.mp4"))[0]
    result = detect_video(first_run / "last.pt", video, features=data_root / "features" / f"{video.stem}.npy")
    truth = _truth_of(data_root / "annotations", result.class_names, video.stem)
    plot_timeline(result.duration, result.class_names,
                  [(float(s), float(e), int(c), float(p)) for (s, e), c, p in
                   zip(result.detections.segments, result.detections.labels, result.detections.scores)],
                  out / "timeline.png", truth, min_score=0.3,
                  title=f"{first_run.name} on {video.stem}: ground truth (grey) and detections (opacity = score)")
    print()
    print(format_table(["model", "params (M)", "MACs (M)", *(f"mAP@{t}" for t in DETECTION_TIOU), "avg",
                        "train s"], rows))
    print(f"\nmAP in % on the {args.videos[1]} test videos after the last epoch (last.pt); MACs of one "
          f"{DETECTION_DEMO_CONFIG['data']['window']}-step window")
    print(f"curves: {out / 'curves.png'}; timeline: {out / 'timeline.png'}; run folders: {out}/<model>; "
          f"total {time.perf_counter() - started:.0f} s")
    return 0


def _truth_of(annotations: Path, class_names: list[str], video_id: str) -> list[tuple[float, float, int]]:
    from vidaction.data.formats.detection import read_detection_annotations

    videos, _ = read_detection_annotations(annotations, "test", class_names)
    video = next(v for v in videos if v.video_id == video_id)
    return [(float(s), float(e), int(c)) for (s, e), c in zip(video.segments, video.labels)]
