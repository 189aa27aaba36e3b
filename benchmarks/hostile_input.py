"""The hostile-input sweep, counted: the property tests of every annotation reader and of the config
loader with more examples than CI runs, and the broken-media corpus through ``infer``, ``detect``,
``extract-features``, ``extract-flow`` and a training epoch.

It runs pytest on ``tests/data/test_hostile_annotations.py``, ``tests/config/test_hostile_configs.py``
and ``tests/data/test_broken_media.py`` with ``VIDACTION_HYPOTHESIS_EXAMPLES`` examples per property
(hypothesis derandomized: the same cases on every run) and prints two tables from the report the
tests write: reader / cases tried / rejected with the one-line error / failures (cases that raised
anything else or returned invalid records), and media case / command / outcome / test result.
Exit status: pytest's.

Run: python benchmarks/hostile_input.py [--examples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from common import environment
from vidaction.viz.tables import format_table

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = ("tests/data/test_hostile_annotations.py", "tests/config/test_hostile_configs.py",
              "tests/data/test_broken_media.py")


def test_results(junit: Path) -> dict[str, str]:
    """``{test id: "pass" | "FAIL" | "skip"}`` of a pytest JUnit XML file, ids like ``test_infer[one_frame.mp4]``."""
    results = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        kinds = {child.tag for child in case}
        results[case.get("name")] = "FAIL" if kinds & {"failure", "error"} else "skip" if "skipped" in kinds else "pass"
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per property (default 1000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report, junit = Path(scratch) / "report.json", Path(scratch) / "junit.xml"
        env = {**os.environ, "VIDACTION_HYPOTHESIS_EXAMPLES": str(args.examples),
               "VIDACTION_HOSTILE_REPORT": str(report), "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        status = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                                  *TEST_FILES], cwd=ROOT, env=env)
        seconds = time.perf_counter() - start
        counts = json.loads(report.read_text()) if report.is_file() else {}
        tests = test_results(junit) if junit.is_file() else {}
    media = counts.pop("media", {})
    print(f"\n{environment()}; {args.examples} examples per property; {seconds:.0f} s")
    rows = [[name, str(c.get("cases", 0)), str(c.get("errors", 0)), str(c.get("failures", 0))]
            for name, c in sorted(counts.items())]
    rows.append(["total", *(str(sum(c.get(k, 0) for c in counts.values())) for k in ("cases", "errors", "failures"))])
    print(format_table(["reader", "cases tried", "one-line error", "failures"], rows))
    commands = {"infer": "test_infer", "detect": "test_detect", "extract-features": "test_extract_features",
                "extract-flow": "test_extract_flow"}
    rows = []
    for key, outcome in sorted(media.items()):
        case, command = key.split(" | ")
        test = (f"{commands[command]}[{case}]" if command in commands
                else "test_training_epoch_skips_counts_and_lists_the_broken_files")
        rows.append([case, command, outcome, tests.get(test, "?")])
    print()
    print(format_table(["media case", "command", "outcome", "test"], rows))
    return status


if __name__ == "__main__":
    sys.exit(main())
