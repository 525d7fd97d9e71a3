"""
Time the queries of dashboards' charts as Superset runs them (`tutor local do time-charts`), so
that operators measure their own data: each chart's saved query context, run by Superset's chart
data command with the cache bypassed, several times; per chart and per dashboard (its charts one
after the other), the median and 95th percentile in seconds. Nothing is changed or cached.

    python -m chart_timing [--dashboard SLUG]... [--runs N]

A chart without a saved query context cannot be run without a browser: it is listed, not timed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

# The queries run as the admin user, whose name Tutor renders into superset_sync.py (no shell
# quoting on the way).
from superset_sync import ADMIN_USERNAME


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of them below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def row(p50: str, p95: str, name: str) -> str:
    return f"  {p50:>8} {p95:>8}  {name}"


def seconds(values: list[float]) -> tuple[str, str]:
    return f"{percentile(values, 0.5):.3f}", f"{percentile(values, 0.95):.3f}"


def time_chart(chart, runs: int) -> list[float]:
    from superset.charts.schemas import ChartDataQueryContextSchema
    from superset.commands.chart.data.get_data_command import ChartDataCommand

    payload = json.loads(chart.query_context)
    # The saved datasource id is the exporting instance's: the chart's own is the one here.
    payload["datasource"] = {"id": chart.datasource_id, "type": chart.datasource_type}
    payload["force"] = True  # the query itself, not Superset's cache
    durations = []
    for _ in range(runs):
        command = ChartDataCommand(ChartDataQueryContextSchema().load(payload))
        command.validate()
        start = time.perf_counter()
        command.run()
        durations.append(time.perf_counter() - start)
    return durations


def time_dashboard(dashboard, runs: int) -> None:
    print(f"{dashboard.dashboard_title} ({dashboard.slug or dashboard.id}), {runs} runs, seconds:")
    print(row("p50", "p95", "chart"))
    totals = [0.0] * runs
    timed = 0
    for chart in sorted(dashboard.slices, key=lambda chart: chart.slice_name):
        if not chart.query_context:
            print(row("-", "-", f"{chart.slice_name} (no saved query context: not timed)"))
            continue
        durations = time_chart(chart, runs)
        totals = [total + duration for total, duration in zip(totals, durations, strict=True)]
        timed += 1
        print(row(*seconds(durations), chart.slice_name), flush=True)
    if timed:
        print(row(*seconds(totals), f"all {timed} charts, one after the other"))
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboard", action="append", default=[], help="slug (repeatable)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be 1 or more, not {args.runs}")

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.extensions import db
        from superset.models.dashboard import Dashboard
        from superset.utils.core import override_user

        user = app.appbuilder.sm.find_user(username=ADMIN_USERNAME)
        if user is None:
            sys.exit(f"No Superset user {ADMIN_USERNAME!r}")
        query = db.session.query(Dashboard)
        if args.dashboard:
            query = query.filter(Dashboard.slug.in_(args.dashboard))
        dashboards = query.order_by(Dashboard.dashboard_title).all()
        if missing := set(args.dashboard) - {dashboard.slug for dashboard in dashboards}:
            sys.exit(f"No dashboard with the slug {', '.join(sorted(missing))}")
        with override_user(user):
            for dashboard in dashboards:
                time_dashboard(dashboard, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
