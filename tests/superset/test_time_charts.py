"""
`tutor local do time-charts`: the superset job times each dashboard chart's saved query, as
Superset runs it, on the stack of conftest.py (real Superset and MariaDB, the stand-in plugin's
dashboard over the embedded ClickHouse). Its numbers are printed; here only their presence and
form are checked, never their values.
"""

from __future__ import annotations

import re

import pytest

from tests.harness.superset import superset_job_environment
from tests.superset.conftest import Stack

TIMED = re.compile(r"^ +(\d+\.\d{3}) +(\d+\.\d{3})  (.+)$", re.MULTILINE)


def time_charts(stack: Stack, *options: str, check: bool = True):
    return stack.root.run(
        "local",
        "do",
        "time-charts",
        *options,
        check=check,
        **superset_job_environment(stack.root, stack.home),
    )


def test_each_chart_and_dashboard_gets_a_median_and_95th_percentile(stack: Stack) -> None:
    output = time_charts(stack, "--runs", "3", "--dashboard", "courses").stdout
    assert "Courses (courses), 3 runs, seconds:" in output
    timed = {name: (float(p50), float(p95)) for p50, p95, name in TIMED.findall(output)}
    assert set(timed) == {
        "Learners per course",
        "all 1 charts, one after the other",
        "all 1 charts at once, as a browser asks",
    }
    for p50, p95 in timed.values():
        assert 0 < p50 <= p95


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--dashboard", "no-such-dashboard"), "No dashboard with the slug no-such-dashboard"),
        (("--runs", "0"), "Invalid value for '--runs'"),
    ],
)
def test_bad_options_are_refused_by_name(stack: Stack, options, message: str) -> None:
    result = time_charts(stack, *options, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
