"""The cost of AFSD's boundary contrastive term: one training step of the detection demo's AFSD with
``loss.contrastive_weight`` 0 (no second forward) and 0.1, on batches of 8 windows of which 0, 2
(about the demo data's share: 51 of its 181 training windows get an augmented copy) or 8 have one.

Forward + backward of the objective (no optimiser step), median of ``--repeats`` interleaved runs.
Run: python benchmarks/boundary_contrast_cost.py [--repeats 9] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from common import environment
from vidaction.config import DetectionLossConfig
from vidaction.data.detection_dataset import collate_detection
from vidaction.data.synthetic_detection import make_detection_dataset
from vidaction.demo.recipes import detection_demo_config
from vidaction.engine.batches import WindowBatches
from vidaction.engine.objectives import DetectionObjective
from vidaction.engine.runtime import Runtime
from vidaction.engine.tasks.detection import build_detection_dataset, build_detector
from vidaction.viz.tables import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cache", default=os.environ.get("VIDACTION_CACHE", str(Path.home() / ".cache" / "vidaction")))
    args = parser.parse_args()
    root = make_detection_dataset(Path(args.cache) / "synthetic-detection")
    cfg = detection_demo_config(root, ["train.out_dir=runs/boundary_contrast_cost"])
    dataset, names = build_detection_dataset(cfg.data, "train", boundary_contrast=True)
    items = [dataset[i] for i in range(len(dataset))]
    with_copy = [item for item in items if item["contrast"] is not None]
    without = [{**item, "contrast": None} for item in items]
    torch.manual_seed(0)
    model = build_detector(cfg.model, cfg.data, len(names))
    objectives = {weight: DetectionObjective(DetectionLossConfig(contrastive_weight=weight)) for weight in (0.0, 0.1)}
    rows = []
    for augmented in (0, 2, 8):
        inputs, targets, _ = WindowBatches().unpack(collate_detection(with_copy[:augmented] + without[:8 - augmented]),
                                                    Runtime(torch.device("cpu")))
        times: dict[float, list[float]] = {0.0: [], 0.1: []}
        for _ in range(args.repeats + 1):
            for weight, objective in objectives.items():
                model.zero_grad(set_to_none=True)
                start = time.perf_counter()
                loss, _, _ = objective.loss(model, inputs, targets)
                loss.backward()
                times[weight].append(time.perf_counter() - start)
        plain, contrast = (statistics.median(times[w][1:]) for w in (0.0, 0.1))
        rows.append([f"{augmented} of 8", f"{plain:.3f}", f"{contrast:.3f}", f"{contrast / plain:.2f}"])
    print(f"environment: {environment()}; {len(with_copy)} of {len(items)} training windows have an augmented "
          f"copy; median of {args.repeats} interleaved runs")
    print(format_table(["windows with a copy", "step s (weight 0)", "step s (weight 0.1)", "ratio"], rows))


if __name__ == "__main__":
    main()
