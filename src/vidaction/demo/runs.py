"""The demo runs on synthetic data: the data, one trained row, all rows of a demo, the results tables.

Motion rows (:func:`train_motion_row`) report top-1, mean class accuracy and the *direction* accuracy.
The synthetic classes come in time-reversed pairs (move left / move right, ...), so a model without
temporal modelling (TSN: per-frame CNN + average) can tell the pair but not the direction; the
direction accuracy is that of telling the two classes of a pair apart, chance 50 %. Detection rows
(:func:`train_detection_row`) report the test mAP at the recipe's tIoU thresholds after the last
epoch (``last.pt``). Each row trains into ``out / spec``; parameters and MACs are those of one input
clip ``(1, 3, T, S, S)`` or feature window ``(1, C, T)``. ``log`` receives the progress lines.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from vidaction.demo.recipes import detection_demo_config, detection_row_overrides, detection_tiou, motion_row_config
from vidaction.viz.tables import format_table

Log = Callable[[str], None]


def synthetic_data_dir(explicit: str | Path | None, name: str) -> Path:
    """``explicit`` when given, else ``<cache>/<name>`` with ``<cache>`` ``$VIDACTION_CACHE`` or
    ``~/.cache/vidaction``."""
    if explicit:
        return Path(explicit)
    base = os.environ.get("VIDACTION_CACHE") or Path.home() / ".cache" / "vidaction"
    return Path(base) / name


def motion_demo_data(data_dir: str | Path | None, videos_per_class: int, seed: int) -> Path:
    """Write (or reuse) the synthetic motion dataset in :func:`synthetic_data_dir`; its root."""
    from vidaction.data.synthetic import make_motion_dataset

    return make_motion_dataset(synthetic_data_dir(data_dir, "synthetic-motion"), videos_per_class=videos_per_class,
                               seed=seed)


def detection_demo_data(data_dir: str | Path | None, num_train: int, num_test: int, seed: int) -> Path:
    """Write (or reuse) the synthetic detection dataset in :func:`synthetic_data_dir`; its root."""
    from vidaction.data.synthetic_detection import make_detection_dataset

    return make_detection_dataset(synthetic_data_dir(data_dir, "synthetic-detection"), num_train=num_train,
                                  num_test=num_test, seed=seed)


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


def stage_one_teacher(spec: str, out: Path, trained: list[str]) -> Path | None:
    """The checkpoint a ``+mfr`` row distils from: the best checkpoint of its ``+mfr``-less row when
    that row was trained (into ``out``) before it in the same run, else ``None``."""
    teacher = out / spec.removesuffix("+mfr") / "best.pt"
    return teacher if spec.endswith("+mfr") and spec.removesuffix("+mfr") in trained and teacher.is_file() else None


def _run_overrides(out: Path, seed: int, epochs: int | None, progress: bool) -> list[str]:
    return [*([f"schedule.epochs={epochs}"] if epochs else []), f"train.out_dir={out}", f"train.seed={seed}",
            f"train.progress={progress}"]


def train_motion_row(spec: str, data_root: Path, out: Path, seed: int, epochs: int | None = None,
                     progress: bool = True, teacher: Path | None = None, extra: Sequence[str] = (),
                     log: Log = print) -> dict:
    """Train one motion demo row (``spec``: a registered name with ``+``-suffixes) on the synthetic
    motion data at ``data_root`` with its suite's recipe and training seed ``seed``, in ``out / spec``.

    A ``+mfr`` row distils from ``teacher`` (a checkpoint) when given, else trains its own teacher
    first (W3's stage 1). ``extra`` overrides come last. Returns ``{"spec", "params", "macs", "top1",
    "mean_class_acc", "direction", "seconds", "num_classes", "run_dir", "history"}``.
    """
    from vidaction.engine.experiment import run_training
    from vidaction.models import create_model
    from vidaction.models.flops import count_macs

    suffixes = spec.split("+")[1:]
    teacher_override = [f"recipe.teacher={teacher}"] if "mfr" in suffixes and teacher is not None else []
    cfg = motion_row_config(spec, data_root, _run_overrides(out / spec, seed, epochs, progress),
                            [*extra, *teacher_override])
    log(f"\n== {spec}: training {cfg.schedule.epochs} epochs (seed {seed})")
    tick = time.perf_counter()
    metrics = run_training(cfg)
    seconds = time.perf_counter() - tick
    run_dir = out / spec / ("student" if "mfr" in suffixes else "joint" if "ssl" in suffixes else "")
    confusion = json.loads((run_dir / "confusion.json").read_text())
    class_names = (run_dir / "classes.txt").read_text().split()
    probe = create_model(cfg.model.name, num_classes=len(class_names), num_frames=cfg.data.num_frames,
                         **cfg.model.options)
    macs, params = count_macs(probe, (1, 3, cfg.data.num_frames, cfg.data.input_size, cfg.data.input_size))
    return {"spec": spec, "params": params, "macs": macs, "top1": metrics["top1"],
            "mean_class_acc": metrics["mean_class_acc"], "direction": direction_accuracy(confusion, class_names),
            "seconds": seconds, "num_classes": len(class_names), "run_dir": str(run_dir),
            "history": json.loads((run_dir / "history.json").read_text())}


def run_motion_demo(specs: Sequence[str], data_root: Path, out: Path, seed: int, epochs: int | None = None,
                    progress: bool = True, log: Log = print) -> list[dict]:
    """Train the motion rows ``specs`` in order (a ``+mfr`` row reuses its earlier ``+mfr``-less row as
    teacher) and write their training curves to ``out / "curves.png"``; the rows' results."""
    from vidaction.viz.curves import plot_curves

    results: list[dict] = []
    for spec in specs:
        results.append(train_motion_row(spec, data_root, out, seed, epochs, progress, log=log,
                                        teacher=stage_one_teacher(spec, out, [r["spec"] for r in results])))
    plot_curves({r["spec"]: r["history"] for r in results}, out / "curves.png")
    return results


def motion_table(results: list[dict]) -> str:
    """The motion demo's results table."""
    rows = [[r["spec"], f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e6:.0f}", f"{100 * r['top1']:.1f}",
             f"{100 * r['mean_class_acc']:.1f}", f"{100 * r['direction']:.1f}", f"{r['seconds']:.0f}"]
            for r in results]
    return format_table(["model", "params (M)", "MACs (M)", "top-1 %", "mean class %", "direction %", "train s"],
                        rows)


def train_detection_row(spec: str, data_root: Path, out: Path, seed: int, epochs: int | None = None,
                        progress: bool = True, log: Log = print) -> dict:
    """Train one detection demo row (``afsd`` with optional ``+gaf``) on the synthetic detection data at
    ``data_root`` in ``out / spec``. Returns ``{"spec", "params", "macs", "metrics", "seconds",
    "history", "window"}``."""
    import torch

    from vidaction.engine.experiment import run_training
    from vidaction.engine.tasks.detection import load_trained_detector
    from vidaction.models.flops import count_macs

    row_overrides = detection_row_overrides(spec)
    cfg = detection_demo_config(data_root, [*_run_overrides(out / spec, seed, epochs, progress), *row_overrides])
    log(f"\n== {spec}: training {cfg.schedule.epochs} epochs")
    tick = time.perf_counter()
    metrics = run_training(cfg)
    seconds = time.perf_counter() - tick
    model, _, _ = load_trained_detector(out / spec / "last.pt")
    mask = torch.ones(1, cfg.data.window, dtype=torch.bool)
    macs, params = count_macs(model, (1, cfg.data.feature_channels, cfg.data.window), extra_inputs=(mask,))
    return {"spec": spec, "params": params, "macs": macs, "metrics": metrics, "seconds": seconds,
            "history": json.loads((out / spec / "history.json").read_text()), "window": cfg.data.window}


def run_detection_demo(specs: Sequence[str], data_root: Path, out: Path, seed: int, epochs: int | None = None,
                       progress: bool = True, log: Log = print) -> list[dict]:
    """Train the detection rows ``specs``, write their training curves to ``out / "curves.png"`` and the
    first row's detections on the first test video against its ground truth to ``out / "timeline.png"``;
    the rows' results."""
    from vidaction.viz.curves import plot_curves

    results = [train_detection_row(spec, data_root, out, seed, epochs, progress, log) for spec in specs]
    plot_curves({r["spec"]: r["history"] for r in results}, out / "curves.png", metric="val_average_mAP",
                metric_label="val average mAP")
    plot_test_timeline(out / results[0]["spec"], data_root, out / "timeline.png")
    return results


def plot_test_timeline(run: Path, data_root: Path, path: Path) -> None:
    """The detections of ``run``'s ``last.pt`` on the first test video of ``data_root`` against its
    ground truth, drawn into ``path``."""
    from vidaction.data.formats.detection import read_detection_annotations
    from vidaction.engine.video_detection import detect_video
    from vidaction.viz.timeline import plot_timeline

    video = sorted((data_root / "videos").glob("video_test_*.mp4"))[0]
    result = detect_video(run / "last.pt", video, features=data_root / "features" / f"{video.stem}.npy")
    videos, _ = read_detection_annotations(data_root / "annotations", "test", result.class_names)
    truth = next(v for v in videos if v.video_id == video.stem)
    found = result.detections
    plot_timeline(result.duration, result.class_names,
                  [(float(s), float(e), int(c), float(p)) for (s, e), c, p in
                   zip(found.segments, found.labels, found.scores)],
                  path, [(float(s), float(e), int(c)) for (s, e), c in zip(truth.segments, truth.labels)],
                  min_score=0.3,
                  title=f"{run.name} on {video.stem}: ground truth (grey) and detections (opacity = score)")


def detection_table(results: list[dict]) -> str:
    """The detection demo's results table: mAP (%) at each tIoU and their average."""
    tiou = detection_tiou()
    rows = [[r["spec"], f"{r['params'] / 1e6:.2f}", f"{r['macs'] / 1e6:.0f}",
             *(f"{100 * r['metrics'][f'mAP@{t}']:.1f}" for t in tiou),
             f"{100 * r['metrics']['average_mAP']:.1f}", f"{r['seconds']:.0f}"] for r in results]
    return format_table(["model", "params (M)", "MACs (M)", *(f"mAP@{t}" for t in tiou), "avg", "train s"], rows)
