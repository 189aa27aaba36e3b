"""GAF's Table IV on the synthetic detection data: AFSD, + segment attention (L_ai only), + L_n-ai, + L_R.

Every row trains the `vidaction demo --task detection` recipe (AFSD's head at 128 channels on the
synthetic features, 20 epochs) from the same seed; the GAF rows add the generative attention with
the demo's widths. The table gives the test mAP (%) of the last epoch at tIoU 0.1-0.5 (and 0.6,
0.7, the average over 0.1-0.7) and the training time; with several seeds, mean and standard
deviation per cell.
Two more rows repeat + L_n-ai and + L_R with the non-action background loss weighted 1 instead of
the authors' 35, and a last one (row 6) adds AFSD's boundary contrastive term (Sec. 3.4,
``loss.contrastive_weight=0.1``, which the demo recipe leaves out) to plain AFSD.
Run: python benchmarks/gaf_ablation.py [--seeds 0 1 2] [--epochs 20] [--rows 0 1 2 3 4 5] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import environment
from vidaction.data.synthetic_detection import make_detection_dataset
from vidaction.demo.recipes import detection_demo_config, detection_row_overrides, detection_tiou, load_recipe
from vidaction.engine.experiment import run_training
from vidaction.viz.tables import format_table

# The detection demo's +gaf overrides: GAF at the demo head's widths, background weight 1.
GAF_DEMO_OPTIONS = detection_row_overrides("afsd+gaf")
ROWS = {
    "AFSD": [],
    "+ segment attention (L_ai)": [*GAF_DEMO_OPTIONS, "gaf.nonaction=false", "gaf.reconstruction=false"],
    "+ L_n-ai": [*GAF_DEMO_OPTIONS, "gaf.nonaction=true", "gaf.reconstruction=false", "gaf.nonaction_reg_weight=35"],
    "+ L_R (full GAF)": [*GAF_DEMO_OPTIONS, "gaf.nonaction=true", "gaf.reconstruction=true",
                         "gaf.nonaction_reg_weight=35"],
    # The authors' code weights the non-action background loss 35 (THUMOS14); the same rows with 1.
    "+ L_n-ai, background weight 1": [*GAF_DEMO_OPTIONS, "gaf.nonaction=true", "gaf.reconstruction=false",
                                      "gaf.nonaction_reg_weight=1"],
    "+ L_R, background weight 1": [*GAF_DEMO_OPTIONS, "gaf.nonaction=true", "gaf.reconstruction=true",
                                   "gaf.nonaction_reg_weight=1"],
    "AFSD + boundary contrastive": ["loss.contrastive_weight=0.1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=load_recipe("detection").config["schedule"]["epochs"])
    parser.add_argument("--cache", default=os.environ.get("VIDACTION_CACHE", str(Path.home() / ".cache" / "vidaction")))
    parser.add_argument("--out", default="runs/gaf_ablation")
    parser.add_argument("--rows", type=int, nargs="+", default=list(range(len(ROWS))),
                        help=f"which rows, by number: {', '.join(f'{i} {n}' for i, n in enumerate(ROWS))}")
    args = parser.parse_args()
    root = make_detection_dataset(Path(args.cache) / "synthetic-detection")
    chosen = {name: ROWS[name] for i, name in enumerate(ROWS) if i in args.rows}
    results: dict[str, list[dict]] = {name: [] for name in chosen}
    for seed in args.seeds:
        for name, overrides in chosen.items():
            slug = f"row{list(ROWS).index(name)}"
            cfg = detection_demo_config(root, [
                f"schedule.epochs={args.epochs}", f"train.seed={seed}", "train.progress=false",
                f"train.out_dir={Path(args.out) / f'{slug}_seed{seed}'}", *overrides])
            tick = time.perf_counter()
            metrics = run_training(cfg, log=lambda *_: None)
            results[name].append({**metrics, "seconds": time.perf_counter() - tick})
            print(f"seed {seed} {name}: average mAP {100 * metrics['average_mAP']:.1f}", flush=True)

    def cell(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.1f}"
        return f"{statistics.mean(values):.1f} +- {statistics.stdev(values):.1f}"

    keys = [f"mAP@{t}" for t in detection_tiou()]
    rows = [[name, *(cell([100 * r[k] for r in runs]) for k in keys), cell([100 * r["average_mAP"] for r in runs]),
             cell([r["seconds"] for r in runs])] for name, runs in results.items()]
    print(f"\nenvironment: {environment()}; seeds {args.seeds}; {args.epochs} epochs; synthetic detection data "
          f"(30 training, 20 test videos)")
    print(format_table(["model", *keys, "avg 0.1-0.7", "train s"], rows))


if __name__ == "__main__":
    main()
