"""
`make demo` (tools/demo.py), run as a person runs it, in a temporary DEMO_ROOT: every URL it
prints answers, the test data is in the reporting tables, the printed Superset login works,
Ctrl-C stops every service, and a second start reuses the ports and the data without loading
the test data again.
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
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot

REPOSITORY = Path(__file__).resolve().parents[1]
STATEMENTS = 500  # enough for every reporting table to get rows, few to load quickly
READY_TIMEOUT = 300.0
STOP_TIMEOUT = 90.0
REPORTING_TABLES = ["course_enrollments_daily", "navigation_daily", "video_engagement"]


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
    return dict(re.findall(r"^  (Superset|Ralph|ClickHouse): +(http://\S+)", output, re.M))


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.read()


def clickhouse_value(url: str, user: str, password: str, sql: str) -> int:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url + "/", data=sql.encode(), headers={"Authorization": f"Basic {credentials}"}
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return int(reply.read().decode().strip())


def superset_form_login(url: str, username: str, password: str) -> list[str]:
    """Log in with the login form, as a person does; the dashboards then listed."""

    class KeepRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(CookieJar()), KeepRedirects()
    )
    page = opener.open(url + "/login/", timeout=30).read().decode()
    token = re.search(r'id="csrf_token"\s+value="([^"]+)"', page)
    assert token, "no login form"
    form = {"csrf_token": token.group(1), "username": username, "password": password}
    request = urllib.request.Request(url + "/login/", data=urllib.parse.urlencode(form).encode())
    try:
        opener.open(request, timeout=30)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302 and redirect.headers["Location"] == "/", "login refused"
    with opener.open(url + "/api/v1/dashboard/?q=(page_size:100)", timeout=30) as reply:
        return [dashboard["dashboard_title"] for dashboard in json.load(reply)["result"]]


def listening(url: str) -> bool:
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def test_demo_starts_serves_stops_and_restarts_on_its_data(tmp_path: Path) -> None:
    demo_root = tmp_path / "demo"
    demo = Demo(demo_root)
    try:
        output = demo.wait_for("Press Ctrl-C to stop.", READY_TIMEOUT)
        assert "The Aspects demo is ready." in output
        first = urls(output)
        assert set(first) == {"Superset", "Ralph", "ClickHouse"}
        assert get(first["Ralph"] + "/__heartbeat__")[0] == 200
        assert get(first["ClickHouse"] + "/ping") == (200, b"Ok.\n")
        assert get(first["Superset"] + "/health") == (200, b"OK")

        root = TutorRoot(demo_root / "tutor")
        admin = (root.value("CLICKHOUSE_ADMIN_USER"), root.config()["CLICKHOUSE_ADMIN_PASSWORD"])

        def value(sql: str) -> int:
            return clickhouse_value(first["ClickHouse"], *admin, sql)

        assert value("SELECT count() FROM xapi.xapi_events_all FINAL") == STATEMENTS
        assert value("SELECT sum(statements) FROM reporting.ingestion_hourly") == STATEMENTS
        for table in REPORTING_TABLES:
            assert value(f"SELECT count() FROM reporting.{table}") > 0, table

        username, password = (
            root.value("SUPERSET_ADMIN_USERNAME"),
            root.value("SUPERSET_ADMIN_PASSWORD"),
        )
        assert f"log in as {username}, password {password}" in output
        assert "Course overview" in superset_form_login(first["Superset"], username, password)
        for service in ("clickhouse", "mariadb", "redis", "ralph", "superset", "jobs"):
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
        assert (
            clickhouse_value(
                first["ClickHouse"], *admin, "SELECT count() FROM xapi.xapi_events_all FINAL"
            )
            == STATEMENTS
        )
        assert demo.interrupt() == 0
    finally:
        demo.close()
