"""
`make demo` (tools/demo.py), run as a person runs it, in a temporary DEMO_ROOT: every URL it
prints answers, the test data is in the reporting tables, the printed demo accounts sign in to
Superset through the demo LMS in headless Chromium (global staff get every course's rows, the
instructor her one course's, the learner a 403 page), Ctrl-C stops every service, and a second
start reuses the ports, the accounts and the data without loading the test data again.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.harness.tutor import TutorRoot
from tutoraspects.superset import course_columns

REPOSITORY = Path(__file__).resolve().parents[1]
STATEMENTS = 500  # enough for every reporting table to get rows, few to load quickly
READY_TIMEOUT = 300.0
STOP_TIMEOUT = 90.0
REPORTING_TABLES = ["course_enrollments_daily", "navigation_daily", "video_engagement"]
ACCOUNTS = ["global_staff", "instructor", "learner"]


class Demo:
    """tools/demo.py in a subprocess, its output read line by line."""

    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPOSITORY / "tools" / "demo.py"),
                "--statements",
                str(STATEMENTS),
            ],
            env=dict(os.environ, DEMO_ROOT=str(directory)),
            cwd=REPOSITORY,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"the demo did not print {text!r} within {timeout:.0f}s:\n{self.output}"
                )
            if line is None:
                pytest.fail(f"the demo exited before printing {text!r}:\n{self.output}")
            self.output += line
        return self.output

    def interrupt(self) -> int:
        """Ctrl-C; the exit code once every service is stopped."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(STOP_TIMEOUT)
        self.wait_for("Stopped.", 5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def urls(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (Superset|LMS|Ralph|ClickHouse): +(http://\S+)", output, re.M))


def accounts(output: str) -> dict[str, tuple[str, str]]:
    """The printed demo accounts: username -> (password, what they see)."""
    lines = re.findall(r"^  (\w+), password (\S+): (.+)$", output, re.M)
    return {username: (password, sees) for username, password, sees in lines}


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.read()


def clickhouse_query(url: str, user: str, password: str, sql: str) -> str:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url + "/", data=sql.encode(), headers={"Authorization": f"Basic {credentials}"}
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return reply.read().decode()


class SupersetSession:
    """A person signed in to Superset through the demo LMS, in headless Chromium."""

    def __init__(self, browser: Browser, printed: dict[str, str], username: str, password: str):
        self.superset_url = printed["Superset"]
        signed_in = sign_in(browser, self.superset_url, printed["LMS"], username, password)
        self.status, self.text, self.api = signed_in.status, signed_in.text, signed_in.api

    def roles(self) -> set[str]:
        reply = self.api.get(f"{self.superset_url}/api/v1/me/roles/")
        assert reply.status == 200, reply.text()[:300]
        return set(reply.json()["result"]["roles"])

    def dashboards(self) -> set[str]:
        reply = self.api.get(f"{self.superset_url}/api/v1/dashboard/?q=(page_size:100)")
        assert reply.status == 200, reply.text()[:300]
        return {dashboard["dashboard_title"] for dashboard in reply.json()["result"]}

    def course_keys(self) -> dict[str, set[str]]:
        """
        The courses of the rows the chart data API gives this person from each dataset that
        has a course (each dataset of the aspects bundle under row-level security).
        """
        reply = self.api.get(f"{self.superset_url}/api/v1/dataset/?q=(page_size:100)")
        assert reply.status == 200, reply.text()[:300]
        datasets = {dataset["table_name"]: dataset["id"] for dataset in reply.json()["result"]}
        keys = {}
        course_datasets = [table for table, column in course_columns().items() if column]
        for name in (table.rsplit(".", 1)[1] for table in course_datasets):
            body: dict[str, Any] = {
                "datasource": {"id": datasets[name], "type": "table"},
                "queries": [{"columns": ["course_key"], "metrics": [], "row_limit": 100_000}],
                "result_format": "json",
                "result_type": "full",
                "force": True,  # the query itself, not a cached result
            }
            reply = self.api.post(f"{self.superset_url}/api/v1/chart/data", data=body)
            assert reply.status == 200, (name, reply.text()[:300])
            keys[name] = {row["course_key"] for row in reply.json()["result"][0]["data"]}
        return keys


def listening(url: str) -> bool:
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


# Four minutes of the whole stack started twice: `make test-all`.
@pytest.mark.slow
def test_demo_starts_serves_stops_and_restarts_on_its_data(tmp_path: Path) -> None:
    demo_root = tmp_path / "demo"
    demo = Demo(demo_root)
    try:
        output = demo.wait_for("Press Ctrl-C to stop.", READY_TIMEOUT)
        assert "The Aspects demo is ready." in output
        first = urls(output)
        assert set(first) == {"Superset", "LMS", "Ralph", "ClickHouse"}
        assert get(first["Ralph"] + "/__heartbeat__")[0] == 200
        assert get(first["LMS"] + "/heartbeat")[0] == 200
        assert get(first["ClickHouse"] + "/ping") == (200, b"Ok.\n")
        assert get(first["Superset"] + "/health") == (200, b"OK")

        root = TutorRoot(demo_root / "tutor")
        admin = (root.value("CLICKHOUSE_ADMIN_USER"), root.config()["CLICKHOUSE_ADMIN_PASSWORD"])

        def value(sql: str) -> int:
            return int(clickhouse_query(first["ClickHouse"], *admin, sql))

        assert value("SELECT count() FROM xapi.xapi_events_all FINAL") == STATEMENTS
        assert value("SELECT sum(statements) FROM reporting.ingestion_hourly") == STATEMENTS
        for table in REPORTING_TABLES:
            assert value(f"SELECT count() FROM reporting.{table}") > 0, table

        courses = set(
            clickhouse_query(
                first["ClickHouse"],
                *admin,
                "SELECT DISTINCT course_key FROM reporting.course_enrollments_daily",
            ).split()
        )
        assert len(courses) > 1
        # The LMS's course API answers anyone, without permissions, with every course.
        lms_courses = json.loads(get(first["LMS"] + "/api/courses/v1/courses/?page_size=100")[1])
        assert {entry["id"] for entry in lms_courses["results"]} == courses
        printed = accounts(output)
        assert list(printed) == ACCOUNTS
        [course] = re.findall(r"instructor of (\S+) ", printed["instructor"][1])
        assert course in courses
        assert "refused (403 page)" in printed["learner"][1]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            staff, instructor, learner = (
                SupersetSession(browser, first, username, printed[username][0])
                for username in ACCOUNTS
            )
            assert (staff.status, instructor.status) == (200, 200)
            assert staff.roles() == {"Admin"}
            assert set().union(*staff.course_keys().values()) == courses
            assert instructor.roles() == {root.value("SUPERSET_COURSE_STAFF_ROLE")}
            assert "Course overview" in instructor.dashboards()
            shown = instructor.course_keys()
            assert all(keys <= {course} for keys in shown.values()), shown
            assert shown["course_enrollments_daily"] == {course}
            assert learner.status == 403 and "Access denied" in learner.text
            browser.close()
        for service in ("clickhouse", "mariadb", "redis", "ralph", "lms", "superset", "jobs"):
            assert (demo_root / "logs" / f"{service}.log").stat().st_size > 0, service

        assert demo.interrupt() == 0
        config = root.config()
        mariadb, redis = (f"http://127.0.0.1:{config[key]}" for key in ("MYSQL_PORT", "REDIS_PORT"))
        assert not any(listening(url) for url in [*first.values(), mariadb, redis])
    finally:
        demo.close()

    demo = Demo(demo_root)
    try:
        output = demo.wait_for("Press Ctrl-C to stop.", READY_TIMEOUT)
        assert f"Test data already loaded ({STATEMENTS} statements): skipped" in output
        assert "load-xapi-test-data" not in output
        assert urls(output) == first
        assert accounts(output) == printed
        count = "SELECT count() FROM xapi.xapi_events_all FINAL"
        assert int(clickhouse_query(first["ClickHouse"], *admin, count)) == STATEMENTS
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            instructor = SupersetSession(browser, first, "instructor", printed["instructor"][0])
            assert instructor.course_keys()["course_enrollments_daily"] == {course}
            browser.close()
        assert demo.interrupt() == 0
    finally:
        demo.close()
