"""
Every benchmark in one run, as one table: printed, and written with the machine's description
to docs/performance.md (unless --small, which writes only where --output says).

    python bench/run_all.py [--small] [--output PATH]

The data benchmarks share two stacks: one with Ralph for ingest, and one that grows to each
size of the dashboard queries, whose storage and re-init are measured at the largest size
(with --small, the ingest stack goes on to serve as the second).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_charts  # noqa: E402
import bench_ingest  # noqa: E402
import bench_queries  # noqa: E402
import bench_reinit  # noqa: E402
import bench_render  # noqa: E402
import bench_storage  # noqa: E402
import bench_xapi_generator  # noqa: E402
from report import Row, machine, table  # noqa: E402
from stack import RAW_TABLE, REPOSITORY, Stack, analytics_stack  # noqa: E402

DOCUMENT = REPOSITORY / "docs" / "performance.md"
INGEST = {"small": (600, 1), "full": (24_000, bench_ingest.ROUNDS)}  # statements, rounds
# Each benchmark on its own, as `make bench` runs them here (for the document).
COMMANDS = [
    "python bench/bench_render.py --profile",
    "python bench/bench_ingest.py --profile --statements 24000 --workers 2 --busy-timeout 5",
    "python bench/bench_queries.py --statements 1000000,10000000",
    "python bench/bench_charts.py --statements 1000000,10000000",
    "python bench/bench_reinit.py",
    "python bench/bench_storage.py",
    "python bench/bench_xapi_generator.py",
]


def run(small: bool) -> list[Row]:
    """The rows, in the order of the table: render, ingest, queries, re-init, storage, data."""
    render = bench_render.measure(small)
    generation = bench_xapi_generator.measure(small)
    sizes = bench_queries.SMALL_SIZES if small else bench_queries.FULL_SIZES
    statements, rounds = INGEST["small" if small else "full"]
    with tempfile.TemporaryDirectory() as directory:
        # Superset on the stack that measures the data (the ingest one, when small).
        with analytics_stack(Path(directory) / "ingest", ralph=True, superset=small) as stack:
            ingest = bench_ingest.measure(
                stack,
                statements,
                bench_ingest.CLIENTS,
                rounds,
                profile=True,
                workers=None if small else bench_ingest.MORE_WORKERS,
                busy_timeout_ms=bench_ingest.SHORT_BUSY_TIMEOUT_MS,
            )
            if small:  # one stack for everything keeps the smoke run short
                data = measure_data(stack, sizes, chart_runs=1)
        if not small:
            with analytics_stack(Path(directory) / "data", superset=True) as stack:
                data = measure_data(stack, sizes, bench_charts.RUNS)
    return [*render, ingest, *data, generation]


def measure_data(stack: Stack, sizes: list[int], chart_runs: int) -> list[Row]:
    """Queries and charts at each size, then re-init and storage at the largest."""
    stack.statements = stack.value(f"SELECT count() FROM {RAW_TABLE}")
    rows: list[Row] = []
    charts = []
    for size in sizes:
        rows += bench_queries.measure(stack, bench_queries.grow(stack, size))
        charts.append((stack.statements, bench_charts.time_charts(stack, chart_runs)))
    rows += bench_charts.rows(charts[0], charts[-1], chart_runs)
    return [*rows, bench_reinit.measure(stack), *bench_storage.measure(stack)]


def document(rows: list[Row], elapsed: float, command: str) -> str:
    description = machine()
    lines = [
        "# Performance",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d} in {elapsed / 60:.1f} "
        "minutes, on this machine:",
        "",
        "| " + " | ".join(description) + " |",
        "|" + "---|" * len(description),
        "| " + " | ".join(description.values()) + " |",
        "",
        "The machine is shared, so absolute times are noise: each figure comes with a baseline "
        "measured in the same run, and the ratio between the two is what to compare. Figures "
        "in bold miss their target; the notes say what limits them.",
        "",
        table(rows),
        "",
        "## Notes",
        "",
    ]
    lines += [f"- **{row.benchmark}**: {row.notes}" for row in rows if row.notes]
    lines += [
        "",
        "## How these figures were produced",
        "",
        "```sh",
        "make bench    # creates .venv-reference (the reference plugin), then:",
        command,
        "```",
        "",
        "Each benchmark also runs on its own, from `bench/` (see `bench/README.md`), with "
        "`--small` for a smoke run of seconds; the test suite runs `run_all.py --small`.",
        "",
        "```sh",
        *(f".venv/bin/{line}" for line in COMMANDS),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run of every benchmark")
    parser.add_argument("--output", type=Path, help=f"where to write (default {DOCUMENT})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run(args.small)
    elapsed = time.perf_counter() - started
    print(table(rows))
    for row in rows:
        if row.notes:
            print(f"\n{row.benchmark}: {row.notes}")
    output = args.output or (None if args.small else DOCUMENT)
    if output:
        command = shlex.join([".venv/bin/python", "bench/run_all.py", *(argv or sys.argv[1:])])
        output.write_text(document(rows, elapsed, command), encoding="utf-8")
        print(f"\nWritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
