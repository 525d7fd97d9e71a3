"""
Every chart of the English Aspects dashboards, timed as Superset runs it (`tutor local do
time-charts`: each chart's saved query, Superset's cache bypassed, as the admin, who reads every
course), at each size of the data: the p95 of each chart, of each tab's and each dashboard's
charts run one after the other, and of each dashboard's charts asked for at once, as a browser
asks for them. Targets at the largest size: every chart's p95 at most 1 s, every tab or
dashboard a person opens and every whole dashboard at most 3 s; the ratio is the growth from
the smallest size, measured in the same run.

    python bench/bench_charts.py [--small] [--statements 1000000,10000000] [--runs N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass, field
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
AT_ONCE = re.compile(r"^all \d+ charts at once, as a browser asks$")
TAB = re.compile(r"^tab (.+): \d+ charts, one after the other$")


@dataclass
class Dashboard:
    """What `do time-charts` printed of a dashboard: (p50, p95) in seconds of each."""

    charts: dict[str, tuple[float, float]] = field(default_factory=dict)
    tabs: dict[str, tuple[float, float]] = field(default_factory=dict)
    all_charts: tuple[float, float] = (0.0, 0.0)  # one after the other
    at_once: tuple[float, float] = (0.0, 0.0)  # all asked for at once

    def views(self) -> dict[str, tuple[float, float]]:
        """What a person opens: each tab of a dashboard in tabs, else the whole dashboard."""
        return self.tabs or {"": self.all_charts}


Timings = dict[str, Dashboard]  # by dashboard title


def parse(output: str) -> Timings:
    """What `do time-charts` printed, per dashboard."""
    timings: Timings = {}
    dashboard = None
    for line in output.splitlines():
        if header := HEADER.match(line):
            dashboard = timings.setdefault(header.group(1), Dashboard())
        elif (timed := TIMED.match(line)) and dashboard is not None:
            p50, p95, name = float(timed.group(1)), float(timed.group(2)), timed.group(3)
            if ALL_CHARTS.match(name):
                dashboard.all_charts = (p50, p95)
            elif AT_ONCE.match(name):
                dashboard.at_once = (p50, p95)
            elif tab := TAB.match(name):
                dashboard.tabs[tab.group(1)] = (p50, p95)
            else:
                dashboard.charts[name] = (p50, p95)
    if not timings or not all(dashboard.charts for dashboard in timings.values()):
        raise RuntimeError(f"`do time-charts` printed no timings:\n{output[-3000:]}")
    return timings


def time_charts(stack: Stack, runs: int) -> Timings:
    return parse(stack.superset_job("time-charts", "--runs", str(runs)))


def slowest(timings: Timings, of: str) -> tuple[str, float]:
    """The slowest chart, view (tab or dashboard) or whole dashboard, by p95: name, seconds."""
    candidates = []
    for title, dashboard in timings.items():
        if of == "chart":
            candidates += [
                (f"{name} ({title})", p95) for name, (_, p95) in dashboard.charts.items()
            ]
        elif of == "view":
            candidates += [
                (f"{title}, tab {tab}" if tab else title, p95)
                for tab, (_, p95) in dashboard.views().items()
            ]
        elif of == "sequential":
            candidates.append((title, dashboard.all_charts[1]))
        else:
            candidates.append((title, dashboard.at_once[1]))
    return max(candidates, key=lambda candidate: candidate[1])


def rows(baseline: tuple[int, Timings], largest: tuple[int, Timings], runs: int) -> list[Row]:
    """The slowest chart, view and dashboard at the largest size against the smallest."""
    (small, before), (large, after) = baseline, largest
    charts = sum(len(dashboard.charts) for dashboard in after.values())
    per_dashboard = "; ".join(
        f"{title}: {seconds(dashboard.all_charts[1])} ("
        + ", ".join(f"{name} {seconds(p95)}" for name, (_, p95) in dashboard.charts.items())
        + ")"
        for title, dashboard in after.items()
    )
    per_tab = "; ".join(
        f"{title}, tab {tab}: {seconds(p95)}"
        for title, dashboard in after.items()
        for tab, (_, p95) in dashboard.tabs.items()
    )
    kinds = ("chart", "view", "all", "sequential")
    figures = {of: (slowest(before, of)[1], *slowest(after, of)) for of in kinds}
    notes = {
        "chart": (
            f"{charts} charts of {len(after)} English dashboards, each run {runs} times by "
            f"`tutor local do time-charts` (Superset's chart data command, its cache bypassed, "
            f"as the admin: every course's rows). p95 per dashboard (its charts one after the "
            f"other), then per chart: {per_dashboard}."
        ),
        "view": (
            "What a person waits for when opening a dashboard: Superset loads the charts of "
            f"the open tab only (here one after the other; a browser asks in parallel). Per "
            f"tab: {per_tab or 'no dashboard in tabs'}."
        ),
        "all": (
            "Every chart of a dashboard, every tab included, asked for at once as a browser "
            "asks (6 at a time), run in threads of one Superset process as in one web worker "
            "(the deployment runs 2, of 8 threads each), the HTTP requests' own cost left out. "
            "Per dashboard: "
            + "; ".join(f"{title}: {seconds(d.at_once[1])}" for title, d in after.items())
            + "."
        ),
        "sequential": (
            "Every chart of a dashboard, every tab included, one after the other: no one waits "
            "for this (a browser asks in parallel); the sum of the charts' own times."
        ),
    }
    labels = {
        "chart": ("Every dashboard chart", CHART_TARGET),
        "view": ("Dashboard or tab opened", DASHBOARD_TARGET),
        "all": ("Whole dashboard, all tabs at once", DASHBOARD_TARGET),
        "sequential": ("Whole dashboard, all tabs one after the other", None),
    }
    result = []
    for of, (label, target) in labels.items():
        before_p95, name, after_p95 = figures[of]
        result.append(
            Row(
                benchmark=f"{label} via Superset on {large:,} statements, p95 of the slowest",
                baseline=f"{small:,} statements {seconds(before_p95)}",
                ours=f"{seconds(after_p95)}",
                ratio=after_p95 / before_p95,
                target=f"≤ {target:.0f} s" if target else "",
                met=after_p95 <= target if target else None,
                notes=f"The slowest: {name}. {notes[of]}",
            )
        )
    return result


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
