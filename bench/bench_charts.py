"""
Every chart of the English Aspects dashboards, timed as Superset runs it (`tutor local do
time-charts`: each chart's saved query, Superset's cache bypassed, as the admin, who reads every
course), at each size of the data: the p95 of each chart, and of each dashboard's charts run one
after the other. Targets at the largest size: every chart's p95 at most 1 s, every dashboard's
at most 3 s; the ratio is the growth from the smallest size, measured in the same run.

    python bench/bench_charts.py [--small] [--statements 1000000,10000000] [--runs N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_queries import grow  # noqa: E402
from report import Row, print_rows, seconds  # noqa: E402
from stack import Stack, analytics_stack  # noqa: E402

FULL_SIZES = [1_000_000, 10_000_000]
SMALL_SIZES = [20_000]
RUNS = 5
CHART_TARGET, DASHBOARD_TARGET = 1.0, 3.0
HEADER = re.compile(r"^(.+) \(([^)]+)\), \d+ runs?, seconds:$")
TIMED = re.compile(r"^ +(\d+\.\d{3}) +(\d+\.\d{3})  (.+)$")
ALL_CHARTS = re.compile(r"^all \d+ charts, one after the other$")

# Per dashboard title: chart title -> (p50, p95) in seconds; the dashboard as "" (its charts
# one after the other).
Timings = dict[str, dict[str, tuple[float, float]]]


def parse(output: str) -> Timings:
    """What `do time-charts` printed, per dashboard."""
    timings: Timings = {}
    dashboard = None
    for line in output.splitlines():
        if header := HEADER.match(line):
            dashboard = timings.setdefault(header.group(1), {})
        elif (timed := TIMED.match(line)) and dashboard is not None:
            p50, p95, name = float(timed.group(1)), float(timed.group(2)), timed.group(3)
            dashboard["" if ALL_CHARTS.match(name) else name] = (p50, p95)
    if not timings or any("" not in charts for charts in timings.values()):
        raise RuntimeError(f"`do time-charts` printed no timings:\n{output[-3000:]}")
    return timings


def time_charts(stack: Stack, runs: int) -> Timings:
    return parse(stack.superset_job("time-charts", "--runs", str(runs)))


def slowest_chart(timings: Timings) -> tuple[str, float]:
    return max(
        (
            (f"{chart} ({title})", p95)
            for title, charts in timings.items()
            for chart, (_, p95) in charts.items()
            if chart
        ),
        key=lambda item: item[1],
    )


def slowest_dashboard(timings: Timings) -> tuple[str, float]:
    return max(((title, charts[""][1]) for title, charts in timings.items()), key=lambda i: i[1])


def rows(baseline: tuple[int, Timings], largest: tuple[int, Timings], runs: int) -> list[Row]:
    """The slowest chart and dashboard at the largest size against the smallest."""
    (small, before), (large, after) = baseline, largest
    charts = sum(len(charts) - 1 for charts in after.values())
    chart, chart_p95 = slowest_chart(after)
    _, chart_before = slowest_chart(before)
    dashboard, dashboard_p95 = slowest_dashboard(after)
    _, dashboard_before = slowest_dashboard(before)
    per_dashboard = "; ".join(
        f"{title}: {seconds(times[''][1])} ("
        + ", ".join(f"{name} {seconds(p95)}" for name, (_, p95) in times.items() if name)
        + ")"
        for title, times in after.items()
    )
    return [
        Row(
            benchmark=f"Every dashboard chart via Superset on {large:,} statements, p95 of the "
            "slowest",
            baseline=f"{small:,} statements {seconds(chart_before)}",
            ours=f"{seconds(chart_p95)}",
            ratio=chart_p95 / chart_before,
            target=f"≤ {CHART_TARGET:.0f} s",
            met=chart_p95 <= CHART_TARGET,
            notes=(
                f"{charts} charts of {len(after)} English dashboards, each run {runs} times by "
                f"`tutor local do time-charts` (Superset's chart data command, its cache "
                f"bypassed, as the admin: every course's rows). The slowest: {chart}. p95 per "
                f"dashboard (its charts one after the other), then per chart: {per_dashboard}."
            ),
        ),
        Row(
            benchmark=f"Whole dashboard via Superset on {large:,} statements, p95 of the slowest",
            baseline=f"{small:,} statements {seconds(dashboard_before)}",
            ours=f"{seconds(dashboard_p95)}",
            ratio=dashboard_p95 / dashboard_before,
            target=f"≤ {DASHBOARD_TARGET:.0f} s",
            met=dashboard_p95 <= DASHBOARD_TARGET,
            notes=f"The slowest: {dashboard}, its charts one after the other (a browser asks "
            "for them in parallel).",
        ),
    ]


def measure(stack: Stack, sizes: list[int], runs: int = RUNS) -> list[Row]:
    """Grow the stack to each size, timing every chart there; rows of the smallest vs largest."""
    measured = []
    for size in sizes:
        grow(stack, size)
        measured.append((stack.statements, time_charts(stack, runs)))
    return rows(measured[0], measured[-1], runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: 20,000 statements")
    parser.add_argument(
        "--statements",
        type=lambda text: [int(size) for size in text.split(",")],
        default=FULL_SIZES,
        help="sizes, comma-separated (the smallest is the baseline)",
    )
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each chart")
    args = parser.parse_args(argv)
    sizes = SMALL_SIZES if args.small else sorted(args.statements)
    runs = 1 if args.small else args.runs
    with (
        tempfile.TemporaryDirectory() as directory,
        analytics_stack(Path(directory) / "charts", superset=True) as stack,
    ):
        print_rows(measure(stack, sizes, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
