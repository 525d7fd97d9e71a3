"""The superset plugin's `tutor local|dev|k8s do` commands, run in the superset-job service."""

from __future__ import annotations

import shlex
import typing as t

import click


@click.command(name="import-assets")
def import_assets() -> t.Iterator[tuple[str, str]]:
    """
    Apply again what plugins contribute to Superset: roles, the LMS user, database connections,
    asset bundles, embedded dashboards and row-level security filters. Objects are updated in
    place, never duplicated.
    """
    # Database URIs reach superset_sync through the job's environment: the script holds none.
    yield (
        "superset",
        'echo "Applying the roles, the LMS user, database connections, asset bundles, embedded '
        'dashboards and row-level security filters of plugins"\n'
        "python -m superset_sync\n"
        'echo "Superset assets imported."',
    )


@click.command(name="time-charts")
@click.option("--dashboard", multiple=True, help="Only this dashboard (its slug; repeatable).")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True)
def time_charts(dashboard: tuple[str, ...], runs: int) -> t.Iterator[tuple[str, str]]:
    """
    Time the queries of the dashboards' charts as Superset runs them, cache bypassed: median and
    95th percentile per chart and per dashboard, to measure a deployment's own data.
    """
    options = "".join(f" --dashboard {shlex.quote(slug)}" for slug in dashboard)
    yield (
        "superset",
        f"python -m chart_timing --runs {runs}{options}",
    )


COMMANDS = [import_assets, time_charts]
