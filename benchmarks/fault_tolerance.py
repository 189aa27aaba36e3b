"""Kill-and-resume trials, counted: ``kill -9`` of a real ``vidaction train`` at a random step of a
recognition, a detection, a GAF detection and an MFR run (stage 2), then resume, compared bit for bit
with the uninterrupted run; plus the fixed cases (killed while writing a checkpoint, mid-epoch
resume, 0 vs 2 workers, a torchrun rank SIGKILLed and restarted, a raising rank, a full disk).

It runs pytest on ``tests/engine/test_fault_tolerance.py`` with ``VIDACTION_KILL_TRIALS`` trials per
kind of run (each trial its own random step and kill delay) and prints: case / trials / bit-exact.
Exit status: pytest's.

Run: python benchmarks/fault_tolerance.py [--trials 5]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

from common import environment
from vidaction.viz.tables import format_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="kill trials per kind of run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        junit = Path(scratch) / "junit.xml"
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                                "tests/engine/test_fault_tolerance.py"], cwd=ROOT,
                               env={**os.environ, "VIDACTION_KILL_TRIALS": str(args.trials)})
        seconds = time.perf_counter() - start
        cases = [(case.get("name"), not any(child.tag in ("failure", "error") for child in case))
                 for case in ElementTree.parse(junit).iter("testcase")]
    trials, passed = Counter(), Counter()
    for name, ok in cases:
        case = re.sub(r"\[(\w+)-\d+\]$", r"[\1]", name)
        trials[case] += 1
        passed[case] += ok
    print(f"environment: {environment()}; {seconds:.0f} s")
    print(format_table(["case", "trials", "passed (bit-exact where the case compares weights)"],
                       [[case, trials[case], passed[case]] for case in trials]))
    sys.exit(code)


if __name__ == "__main__":
    main()
