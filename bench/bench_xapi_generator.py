"""Statements per second of the xAPI test-data generator, written as JSON lines.

Compares the fast path (``write_jsonl``: pre-built templates filled with pre-serialised
fragments) with a baseline measured in the same run: the same statements built as dicts and
serialised with ``json.dumps`` one by one. Prints both rates and their ratio (fast / baseline).

    python bench/bench_xapi_generator.py            # 300,000 statements, best of 3
    python bench/bench_xapi_generator.py --small    # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run from a checkout without installing the plugin.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tutor-contrib-aspects"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, rate  # noqa: E402

from tutoraspects.job.xapi_generator import Config, iter_statements, sized_config, write_jsonl  # noqa: E402


class CountingSink:
    """A text stream that only counts what is written, so the disk is not measured."""

    def __init__(self) -> None:
        self.characters = 0

    def write(self, text: str) -> int:
        self.characters += len(text)
        return len(text)


def fast(config: Config, sink: CountingSink) -> int:
    return write_jsonl(config, sink)


def baseline(config: Config, sink: CountingSink) -> int:
    count = 0
    for statement in iter_statements(config):
        sink.write(json.dumps(statement))
        sink.write("\n")
        count += 1
    return count


def best_rate(run: Callable[[Config, CountingSink], int], config: Config, repeat: int) -> float:
    """Statements per second of the fastest of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        sink = CountingSink()
        started = time.perf_counter()
        count = run(config, sink)
        best = min(best, time.perf_counter() - started)
    return count / best


def measure(small: bool = False, statements: int | None = None, repeat: int | None = None) -> Row:
    statements = statements or (5_000 if small else 300_000)
    repeat = repeat or (1 if small else 3)
    config = sized_config(statements, seed=1)
    fast_rate = best_rate(fast, config, repeat)
    baseline_rate = best_rate(baseline, config, repeat)
    print(f"statements per run: {statements:,} (best of {repeat})")
    print(f"fast path (templates):     {fast_rate:12,.0f} statements/s")
    print(f"baseline (dict + dumps):   {baseline_rate:12,.0f} statements/s")
    print(f"ratio fast/baseline:       {fast_rate / baseline_rate:12.2f}")
    return Row(
        benchmark="Test data generation, statements/s (one core)",
        baseline=f"dicts + json.dumps {rate(baseline_rate)}",
        ours=f"templates {rate(fast_rate)}",
        ratio=fast_rate / baseline_rate,
        target="≥ 100,000/s",
        met=fast_rate >= 100_000,
        notes=f"{statements:,} statements as JSON lines, best of {repeat}, not written to disk.",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smoke run: few statements, once")
    parser.add_argument("--statements", type=int, help="statements per run")
    parser.add_argument("--repeat", type=int, help="runs per approach (the best one counts)")
    args = parser.parse_args(argv)
    measure(args.small, args.statements, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
