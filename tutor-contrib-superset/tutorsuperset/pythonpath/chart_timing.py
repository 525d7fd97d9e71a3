"""
Time the queries of dashboards' charts as Superset runs them (`tutor local do time-charts`), so
that operators measure their own data: each chart's saved query context, run by Superset's chart
data command with the cache bypassed, several times; per chart and per dashboard (its charts one
after the other, per tab of a dashboard in tabs, and all its charts at once as a browser asks
for them), the median and 95th percentile in seconds. Nothing is changed or cached.

    python -m chart_timing [--dashboard SLUG]... [--runs N]

A chart without a saved query context cannot be run without a browser: it is listed, not timed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

# The queries run as the admin user, whose name Tutor renders into superset_sync.py (no shell
# quoting on the way).
from superset_sync import ADMIN_USERNAME

# How many requests a browser sends to one server at a time (HTTP/1.1): a dashboard's charts
# are asked for at once, this many at a time. Here they run in threads of this one process,
# as in one of Superset's web workers (gunicorn threads), without the HTTP requests' own cost.
BROWSER_CONNECTIONS = 6


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


def tabs(position_json: str | None) -> dict[str, set[int]]:
    """The title of each tab of a dashboard's layout -> the ids of the charts under it."""
    position = json.loads(position_json or "{}")

    def charts_under(key: str) -> set[int]:
        node = position.get(key) or {}
        found = {node["meta"]["chartId"]} if node.get("type") == "CHART" else set()
        for child in node.get("children", []):
            found |= charts_under(child)
        return found

    return {
        node.get("meta", {}).get("text") or key: charts_under(key)
        for key, node in position.items()
        if isinstance(node, dict) and node.get("type") == "TAB"
    }


def sum_runs(runs: list[list[float]], count: int) -> list[float]:
    """Each run's total over the charts: what waiting for them one after the other takes."""
    return [sum(chart[run] for chart in runs) for run in range(count)]


def time_at_once(app, chart_ids: list[int], runs: int) -> list[float]:
    """Each run's time for all the charts asked for at once, BROWSER_CONNECTIONS at a time."""
    from superset.extensions import db
    from superset.models.slice import Slice
    from superset.utils.core import override_user

    def run(chart_id: int) -> None:
        with app.app_context():
            user = app.appbuilder.sm.find_user(username=ADMIN_USERNAME)
            with override_user(user):
                time_chart(db.session.get(Slice, chart_id), 1)

    durations = []
    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        for _ in range(runs):
            start = time.perf_counter()
            list(pool.map(run, chart_ids))
            durations.append(time.perf_counter() - start)
    return durations


def time_dashboard(app, dashboard, runs: int) -> None:
    print(f"{dashboard.dashboard_title} ({dashboard.slug or dashboard.id}), {runs} runs, seconds:")
    print(row("p50", "p95", "chart"))
    timed: dict[int, list[float]] = {}
    for chart in sorted(dashboard.slices, key=lambda chart: chart.slice_name):
        if not chart.query_context:
            print(row("-", "-", f"{chart.slice_name} (no saved query context: not timed)"))
            continue
        timed[chart.id] = time_chart(chart, runs)
        print(row(*seconds(timed[chart.id]), chart.slice_name), flush=True)
    if timed:
        totals = sum_runs(list(timed.values()), runs)
        print(row(*seconds(totals), f"all {len(timed)} charts, one after the other"))
        at_once = time_at_once(app, sorted(timed), runs)
        print(row(*seconds(at_once), f"all {len(timed)} charts at once, as a browser asks"))
    # Superset loads the charts of the open tab only: what a person waits for is a tab's.
    for title, charts in tabs(dashboard.position_json).items():
        if in_tab := [timed[chart] for chart in sorted(charts) if chart in timed]:
            totals = sum_runs(in_tab, runs)
            print(row(*seconds(totals), f"tab {title}: {len(in_tab)} charts, one after the other"))
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
                time_dashboard(app, dashboard, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
