"""The demos' rows over several training seeds on the same data: mean +- standard deviation.

One demo run is one draw: on these small test sets (96 motion clips, 20 detection videos) two seeds
of one model differ by several points, as much as the gaps between rows. This script trains each
row of a suite with the demo's recipe for every seed in ``--seeds`` (the data stay those of data
seed 0) and prints, per row, the mean and standard deviation over seeds.

Suites:
- ``w3``: TSN, TSM, TSM + W3 without and with attention-guided feature refinement
  (eqs. 7-8), TSM + W3 + MFR (stage 2 distils from the same seed's ``+ W3`` run), TSM with the
  online shift (from the past only).
- ``hcml``: R2D, R2D + prime motion blocks, the same with HCML's progressive self-supervision.
- ``detection``: AFSD and AFSD + GAF (the detection demo's rows).

Rows run in ``--jobs`` processes at once (each with ``--threads`` torch threads); a row's numbers
do not depend on how many run beside it. Each finished row is appended to ``--out``/rows.jsonl; a rerun
with the same ``--out`` trains only what is missing there and prints the table over all of it.
Run: python benchmarks/demo_seeds.py --suite w3 [--seeds 0 1 2] [--jobs 1] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from common import environment
from vidaction.demo.recipes import detection_demo_config, detection_row_overrides, load_recipe
from vidaction.demo.runs import stage_one_teacher, train_motion_row
from vidaction.viz.tables import format_table

# Row name -> (demo spec, extra overrides). Rows of one chain run in order in one process.
MOTION_SUITES: dict[str, list[list[tuple[str, str, tuple[str, ...]]]]] = {
    "w3": [
        [("TSN", "tsn_r18", ())],
        [("TSM", "tsm_r18", ())],
        [("TSM + W3 (no AFR)", "tsm_r18+w3", ("model.options.refine=false",))],
        [("TSM + W3", "tsm_r18+w3", ()), ("TSM + W3 + MFR", "tsm_r18+w3+mfr", ())],
        [("TSM online shift", "tsm_r18+online", ())],
    ],
    "hcml": [
        [("R2D", "r2d_tiny", ())],
        [("R2D + PMB", "r2d_tiny+pmb", ())],
        [("R2D + PMB + SSL", "r2d_tiny+pmb+ssl", ())],
    ],
}
DETECTION_ROWS = {"AFSD": [], "AFSD + GAF": detection_row_overrides("afsd+gaf")}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def run_motion_chain(chain: list[tuple[str, str, tuple[str, ...]]], data_root: Path, out: Path, seed: int,
                     epochs: int | None, threads: int) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    results, trained = [], []
    folder = out / f"seed{seed}" / _slug(chain[0][0])
    for name, spec, extra in chain:
        row = train_motion_row(spec, data_root, folder, seed, epochs, progress=False,
                               teacher=stage_one_teacher(spec, folder, trained), extra=extra)
        trained.append(spec)
        row.pop("history")
        results.append({"row": name, "seed": seed, **row})
    return results


def run_detection_row(name: str, overrides: list[str], data_root: Path, out: Path, seed: int, epochs: int | None,
                      threads: int) -> list[dict]:
    import time

    import torch

    from vidaction.engine.experiment import run_training

    torch.set_num_threads(threads)
    cfg = detection_demo_config(data_root, [
        *([f"schedule.epochs={epochs}"] if epochs else []), f"train.seed={seed}", "train.progress=false",
        f"train.out_dir={out / f'seed{seed}' / _slug(name)}", *overrides])
    tick = time.perf_counter()
    metrics = run_training(cfg, log=lambda *_: None)
    return [{"row": name, "seed": seed, "seconds": time.perf_counter() - tick,
             **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}]


def summarise(results: list[dict], keys: list[tuple[str, str, float]]) -> str:
    rows = []
    for name in dict.fromkeys(r["row"] for r in results):
        runs = [r for r in results if r["row"] == name]
        cells = []
        for key, _, scale in keys:
            values = [scale * r[key] for r in runs]
            spread = f" +- {statistics.stdev(values):.1f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.1f}{spread}")
        rows.append([name, str(len(runs)), *cells])
    return format_table(["model", "seeds", *(label for _, label, _ in keys)], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=[*MOTION_SUITES, "detection"], required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the demo's")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at once, each in its own process")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2),
                        help="torch threads per process")
    parser.add_argument("--cache", default=os.environ.get("VIDACTION_CACHE", str(Path.home() / ".cache" / "vidaction")))
    parser.add_argument("--out", default=None, help="default runs/seeds-<suite>")
    args = parser.parse_args()
    out = Path(args.out or f"runs/seeds-{args.suite}")
    out.mkdir(parents=True, exist_ok=True)
    # One JSON line per finished row: a run stopped early keeps what it finished, and a rerun with
    # the same --out trains only the (row, seed) pairs that are missing.
    log_path = out / "rows.jsonl"
    done = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.is_file() else []
    finished = {(r["row"], r["seed"]) for r in done}
    if args.suite == "detection":
        from vidaction.data.synthetic_detection import make_detection_dataset

        data_root = make_detection_dataset(Path(args.cache) / "synthetic-detection")
        calls = [(run_detection_row, (name, overrides, data_root, out, seed, args.epochs, args.threads))
                 for seed in args.seeds for name, overrides in DETECTION_ROWS.items() if (name, seed) not in finished]
        names = list(DETECTION_ROWS)
        keys = [("average_mAP", "avg mAP 0.1-0.7", 100.0), ("mAP@0.5", "mAP@0.5", 100.0), ("seconds", "train s", 1.0)]
    else:
        from vidaction.data.synthetic import make_motion_dataset

        data_root = make_motion_dataset(Path(args.cache) / "synthetic-motion", videos_per_class=load_recipe("w3").dataset["videos_per_class"],
                                        seed=0)
        calls = [(run_motion_chain, (chain, data_root, out, seed, args.epochs, args.threads))
                 for seed in args.seeds for chain in MOTION_SUITES[args.suite]
                 if any((name, seed) not in finished for name, _, _ in chain)]
        names = [name for chain in MOTION_SUITES[args.suite] for name, _, _ in chain]
        keys = [("top1", "top-1 %", 100.0), ("direction", "direction %", 100.0), ("seconds", "train s", 1.0)]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(fn, *fn_args) for fn, fn_args in calls]):
            for row in future.result():
                if (row["row"], row["seed"]) not in finished:
                    done.append(row)
                    with log_path.open("a") as log:
                        log.write(json.dumps(row) + "\n")
                    print(f"seed {row['seed']} {row['row']}: {json.dumps(row)}", flush=True)
    results = sorted((r for r in done if r["seed"] in args.seeds), key=lambda r: (names.index(r["row"]), r["seed"]))
    print(f"\nenvironment: {environment()}; {args.jobs} jobs x {args.threads} threads; seeds {args.seeds}; "
          f"suite {args.suite}; data of seed 0 (rows from earlier runs into {out} included)")
    print(summarise(results, keys))


if __name__ == "__main__":
    main()
