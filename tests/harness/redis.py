"""
A real Redis server (Debian package `redis-server`), run natively for tests: it stands in for
the platform's Redis, which holds Superset's cache (and so the course lists of signed-in people).

Nothing is persisted (no RDB, no AOF) and nothing from /etc/redis applies; the server listens on
127.0.0.1 only, with protected mode on.

Pytest fixture, enabled with ``pytest_plugins = ["tests.harness.redis"]``:

- ``redis_server``: one server for the whole test session; tests share it, so each uses a
  database number of its own.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness.processes import free_port, terminate

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class RedisError(RuntimeError):
    """The server did not start as expected; the message ends with its log."""


class RedisServer:
    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self._requested_port = port  # 0: a free port at each start
        self.port = port
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._log_path or self.directory / "redis.log"

    def tutor_settings(self) -> dict[str, object]:
        return {"REDIS_HOST": self.host, "REDIS_PORT": self.port}

    def ping(self) -> bool:
        """Whether the server answers PING with PONG (RESP, no client library needed)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as connection:
                connection.sendall(b"*1\r\n$4\r\nPING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> RedisServer:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisError("redis-server is missing: install the Debian package (`make install`)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = self._requested_port or free_port(self.host)
        command = [executable, "--bind", self.host, "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        command += ["--logfile", str(self.log_path)]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise RedisError(f"Redis did not start on port {self.port}:\n{log[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        terminate(self._process, STOP_TIMEOUT)
        self._process = None


@contextmanager
def running_redis(
    directory: Path, port: int = 0, log_path: Path | None = None
) -> Iterator[RedisServer]:
    server = RedisServer(directory, port=port, log_path=log_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server
