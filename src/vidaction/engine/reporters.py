"""What a training run tells the world: each reporter gets the logged steps, the epoch records and
the end of the run.

- :class:`ConsoleReporter`: one line per epoch on rank 0.
- :class:`JsonlReporter`: one JSON object per event in ``metrics.jsonl`` (``{"kind": "train_step" |
  "epoch", "step", "time", ...}``).
- :class:`TensorBoardReporter`: the numeric values as TensorBoard scalars (``<kind>/<name>``).
- :class:`PictureReporter`: at the end, ``history.json``, ``curves.png`` of the evaluator's metric
  and the evaluator's own reports (confusion matrix, per-class AP).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from vidaction.config import TrainConfig
from vidaction.engine.runtime import log_message


class Reporter:
    """Does nothing; reporters override what they report."""

    def step(self, step: int, **values: Any) -> None:
        """A logged training step's loss, learning rate and loss terms."""

    def epoch(self, epoch: int, record: dict[str, Any]) -> None:
        """An epoch's record: training means and, when evaluated, ``val_*`` metrics."""

    def close(self) -> None:
        """The run stopped (normally or not)."""

    def end(self, history: list[dict[str, Any]], evaluator) -> None:
        """The run finished all its epochs."""


class ConsoleReporter(Reporter):
    def epoch(self, epoch: int, record: dict[str, Any]) -> None:
        log_message(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))


class JsonlReporter(Reporter):
    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        record = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        with self.path.open("a") as stream:
            stream.write(json.dumps(record) + "\n")

    def step(self, step: int, **values: Any) -> None:
        self._write("train_step", step, values)

    def epoch(self, epoch: int, record: dict[str, Any]) -> None:
        self._write("epoch", epoch, record)


class TensorBoardReporter(Reporter):
    def __init__(self, out_dir: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))

    def _scalars(self, kind: str, step: int, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{kind}/{key}", value, step)

    def step(self, step: int, **values: Any) -> None:
        self._scalars("train_step", step, values)

    def epoch(self, epoch: int, record: dict[str, Any]) -> None:
        self._scalars("epoch", epoch, record)

    def close(self) -> None:
        self.writer.close()


class PictureReporter(Reporter):
    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)

    def end(self, history: list[dict[str, Any]], evaluator) -> None:
        from vidaction.viz.curves import plot_training_curves

        (self.out_dir / "history.json").write_text(json.dumps(history, indent=1))
        plot_training_curves(history, self.out_dir / "curves.png", metric=f"val_{evaluator.key}",
                             metric_label=f"val {evaluator.label}")
        evaluator.write_reports(self.out_dir)


def default_reporters(out_dir: str | Path, cfg: TrainConfig, enabled: bool) -> list[Reporter]:
    """The console always; on rank 0 of a training run (``enabled``) also JSON lines, TensorBoard
    (``train.tensorboard``) and the pictures."""
    reporters: list[Reporter] = [ConsoleReporter()]
    if enabled:
        reporters.append(JsonlReporter(out_dir))
        if cfg.tensorboard:
            reporters.append(TensorBoardReporter(out_dir))
        reporters.append(PictureReporter(out_dir))
    return reporters
