"""
The embedded ClickHouse server (tests/harness/clickhouse.py) as a subprocess, for tests and tools.

Pytest fixtures, enabled with ``pytest_plugins = ["tests.harness.fixtures"]``:

- ``clickhouse_server``: one server for the whole test session; tests share it, so they use
  table and user names of their own.
- ``fresh_clickhouse_server``: a server of its own on an empty directory, for one test.

Outside pytest (demos, benchmarks)::

    with running_clickhouse(Path("/tmp/ch")) as server:
        client = clickhouse_connect.get_client(
            host=server.host, port=server.port, username=server.user, password=server.password
        )
"""

from __future__ import annotations

import json
import queue
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from tests.harness.clickhouse import READY_MESSAGE
from tests.harness.processes import terminate

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_USER = "harness_admin"
ADMIN_PASSWORD = "harness-admin-password"
READY_PREFIX = READY_MESSAGE.partition("{scheme}")[0]
LOG_NAME = "server.log"  # the server's stderr, kept in its data directory
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class ClickHouseServerError(RuntimeError):
    """The server did not start or stop as expected; the message ends with its log."""


class ClickHouseServer:
    """A running embedded ClickHouse server, in a subprocess."""

    def __init__(
        self,
        data_dir: Path,
        user: str = ADMIN_USER,
        password: str = ADMIN_PASSWORD,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
        log_path: Path | None = None,
        cluster: str = "",
        receive_timeout: float | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.receive_timeout = receive_timeout  # seconds a request body may stall
        self.tls = tls  # (certificate, key): serve HTTPS instead of HTTP
        self.cluster = cluster  # a one-node cluster of this name (clickhouse_cluster.py)
        self._log_path = log_path  # the server's stderr; in the data directory unless given
        self.user = user
        self.password = password
        self.host = host
        self.port = port  # 0 until started: then the port it listens on, kept across restarts
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._log_path or self.data_dir / LOG_NAME

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> ClickHouseServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "tests.harness.clickhouse", "--host", self.host]
        command += ["--port", str(self.port), "--data", str(self.data_dir)]
        command += ["--user", self.user, "--password", self.password]
        if self.tls:
            command += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        if self.cluster:
            command += ["--cluster", self.cluster]
        if self.receive_timeout is not None:
            command += ["--receive-timeout", str(self.receive_timeout)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        ready_line = self._wait_for_ready_line(deadline)
        self.port = int(ready_line.rsplit(":", 1)[1])
        self._wait_for_ping(deadline)
        return self

    def stop(self) -> None:
        """Stop with SIGTERM, as a service manager would; kill only if it hangs."""
        process, self._process = self._process, None
        if not terminate(process, STOP_TIMEOUT):
            raise ClickHouseServerError(self._with_log("the server ignored SIGTERM"))

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would end it; start() runs it again."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop, then start again on the same data directory and port."""
        self.stop()
        self.start()

    def tutor_settings(self) -> dict[str, Any]:
        """Settings that point the clickhouse plugin at this server, with its admin user."""
        return {
            "CLICKHOUSE_HOST": self.host,
            "CLICKHOUSE_HTTP_PORT": self.port,
            "CLICKHOUSE_ADMIN_USER": self.user,
            "CLICKHOUSE_ADMIN_PASSWORD": self.password,
            **({"CLICKHOUSE_CLUSTER_NAME": self.cluster} if self.cluster else {}),
        }

    def client(self, username: str | None = None, password: str | None = None) -> Any:
        """A clickhouse-connect client, as the admin unless a user is given."""
        import clickhouse_connect  # the server itself does not need it

        return clickhouse_connect.get_client(
            host=self.host,
            port=self.port,
            username=username or self.user,
            password=self.password if username is None else password,
        )

    def access_log(self) -> list[dict[str, Any]]:
        """The access statements the server recorded, oldest first."""
        path = self.data_dir / "access_control.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def cluster_log(self) -> list[dict[str, Any]]:
        """The DDL statements the server recorded in cluster mode, oldest first."""
        path = self.data_dir / "cluster_ddl.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ClickHouseServer:
        return self if self.running else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_for_ready_line(self, deadline: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=_forward_lines, args=(self._process.stdout, lines), daemon=True
        ).start()
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._fail(f"the server exited with code {code} before it was ready")
                continue
            if line.startswith(READY_PREFIX):
                return line.strip()
        self._fail(f"the server did not report ready within {START_TIMEOUT:.0f}s")

    def _wait_for_ping(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                tls = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1, context=tls) as reply:
                    if reply.read() == b"Ok.\n":
                        return
            except OSError:
                time.sleep(0.05)
        self._fail(f"{self.url}/ping did not answer within {START_TIMEOUT:.0f}s")

    def _fail(self, reason: str) -> Any:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
        raise ClickHouseServerError(self._with_log(reason))

    def _with_log(self, reason: str) -> str:
        tail = "\n".join(self.log().splitlines()[-40:])
        return f"{reason} (data directory {self.data_dir}).\nServer log:\n{tail}"


def _forward_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Read the server's stdout to its end, so it can never block on a full pipe."""
    for line in stream:
        lines.put(line)


@contextmanager
def running_clickhouse(
    data_dir: Path | str,
    user: str = ADMIN_USER,
    password: str = ADMIN_PASSWORD,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
    log_path: Path | None = None,
    cluster: str = "",
    receive_timeout: float | None = None,
) -> Iterator[ClickHouseServer]:
    """A server running on data_dir for the duration of the block."""
    server = ClickHouseServer(
        Path(data_dir), user, password, host, port, tls, log_path, cluster, receive_timeout
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    with running_clickhouse(tmp_path_factory.mktemp("clickhouse")) as server:
        yield server


@pytest.fixture
def fresh_clickhouse_server(tmp_path: Path) -> Iterator[ClickHouseServer]:
    with running_clickhouse(tmp_path / "clickhouse") as server:
        yield server
