"""
How much the four plugins add to `tutor config save`: the same command timed on a plain Tutor
root and on a root with clickhouse, ralph, superset and aspects enabled, alternately, in one
run. Prints the median times and their ratio (target: at most 1.3 times plain Tutor).

    python bench/bench_render.py [--small] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness.tutor import TutorRoot  # noqa: E402

PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]


def timed_save(root: TutorRoot) -> float:
    started = time.perf_counter()
    root.run("config", "save")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: one save each")
    parser.add_argument("--repeat", type=int, default=9, help="saves per root (median counts)")
    args = parser.parse_args()
    repeat = 1 if args.small else args.repeat
    with tempfile.TemporaryDirectory() as directory:
        plain = TutorRoot(Path(directory) / "plain").save()
        suite = TutorRoot(Path(directory) / "suite").save(PLUGINS)
        times: dict[str, list[float]] = {"plain": [], "suite": []}
        for _ in range(repeat):  # alternate, so that machine noise hits both alike
            times["plain"].append(timed_save(plain))
            times["suite"].append(timed_save(suite))
    plain_median, suite_median = (statistics.median(times[k]) for k in ("plain", "suite"))
    print("| Benchmark | Baseline | Ours | Ratio (ours / baseline) | Target |")
    print("|---|---|---|---|---|")
    print(
        f"| `tutor config save`, {repeat} runs, median | plain Tutor {plain_median:.2f} s "
        f"| four plugins {suite_median:.2f} s | {suite_median / plain_median:.2f} | ≤ 1.30 |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
