"""
A real MariaDB server (Debian package `mariadb-server`), run natively for tests and tools; it
stands in for the LMS MySQL that holds Superset's metadata database.

The data directory is created once with ``mariadb-install-db``; the server then runs with
``--no-defaults``, so nothing from /etc/mysql applies, on 127.0.0.1 and a socket in the data
directory. Root logs in with a password (ROOT_PASSWORD) over TCP or the socket, as a service
would; the harness runs SQL as root through the ``mariadb`` client of the same package.

Pytest fixture, enabled with ``pytest_plugins = ["tests.harness.mariadb"]``:

- ``mariadb_server``: one server for the whole test session; tests share it, so they use
  database and user names of their own.

Outside pytest::

    with running_mariadb(Path("/tmp/mariadb")) as server:
        server.sql("CREATE DATABASE demo")
        url = server.url("root", server.root_password, "demo")
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.harness.processes import free_port, terminate

ROOT_USER = "root"
ROOT_PASSWORD = "harness-mariadb-root-password"
LOG_NAME = "mariadb.log"  # install and server output, kept in the data directory
SOCKET_NAME = "sock"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
SQL_TIMEOUT = 120.0
SOCKET_PATH_LIMIT = 107  # sun_path holds 108 bytes, the last one a NUL
XML_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
APT_HINT = "install the Debian package mariadb-server (`make install`)"


class MariaDBError(RuntimeError):
    """The server did not start or stop as expected, or SQL failed; the message says why."""


class MariaDBServer:
    """A MariaDB server running natively on a data directory of its own."""

    def __init__(
        self, data_dir: Path, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._log_path = log_path  # install and server output; in the data directory unless given
        self.host = host
        self.port = port  # 0 until started: then a free port, kept across restarts
        self.root_user = ROOT_USER
        self.root_password = ROOT_PASSWORD
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / SOCKET_NAME

    @property
    def log_path(self) -> Path:
        return self._log_path or self.data_dir / LOG_NAME

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, user: str, password: str, database: str = "", driver: str = "pymysql") -> str:
        """An SQLAlchemy URL for user over TCP, e.g. a Superset SQLALCHEMY_DATABASE_URI."""
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"mysql+{driver}://{credentials}@{self.host}:{self.port}/{database}"

    def start(self) -> MariaDBServer:
        for binary in ("mariadb-install-db", "mariadbd", "mariadb", "mariadb-admin"):
            if shutil.which(binary) is None:
                raise MariaDBError(f"{binary} is not on PATH: {APT_HINT}")
        if len(str(self.socket_path)) > SOCKET_PATH_LIMIT:
            raise MariaDBError(f"socket path too long for a Unix socket: {self.socket_path}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "mysql").is_dir():
            self._install()
        if self.port == 0:
            # mariadbd has no "any free port": --port=0 means its default, 3306
            self.port = free_port(self.host)
        command = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--tmpdir={self.tmp_dir()}",
            f"--socket={self.socket_path}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            # MySQL 8's defaults, which the LMS database server has (MariaDB's are latin1)
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")  # mariadbd refuses to run as root otherwise
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_answering(time.monotonic() + START_TIMEOUT)
        self._set_root_password()
        return self

    def stop(self) -> None:
        """Stop with SIGTERM (a clean InnoDB shutdown); kill only if it hangs."""
        process, self._process = self._process, None
        if not terminate(process, STOP_TIMEOUT):
            raise MariaDBError(self._with_log("the server ignored SIGTERM"))

    def restart(self) -> None:
        """Stop, then start again on the same data directory and port."""
        self.stop()
        self.start()

    def sql(self, statements: str, database: str | None = None) -> str:
        """
        Run statements (separated by semicolons) as root; return the client's tab-separated
        output without column names. Raises MariaDBError with the server's message on error.
        """
        return self._client(statements, database, ["--batch", "--skip-column-names"])

    def query(self, statement: str, database: str | None = None) -> list[tuple[str | None, ...]]:
        """Rows of one SELECT run as root, each value a string, or None for NULL."""
        output = self._client(statement, database, ["--xml"])
        if not output.strip():
            return []
        rows = ElementTree.fromstring(output).iter("row")
        return [tuple(_field_value(field) for field in row.iter("field")) for row in rows]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> MariaDBServer:
        return self if self.running else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def tmp_dir(self) -> Path:
        """Temporary tables of its own: servers bootstrapped at once in /tmp clash there."""
        path = self.data_dir.parent / f"{self.data_dir.name}-tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _install(self) -> None:
        # --skip-test-db: no `test` database, whose default grants let any user write to it
        command = ["mariadb-install-db", "--no-defaults", f"--datadir={self.data_dir}"]
        command += ["--skip-test-db", f"--tmpdir={self.tmp_dir()}"]
        if os.geteuid() == 0:
            command.append("--user=root")
        with self.log_path.open("ab") as log:
            result = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=START_TIMEOUT
            )
        if result.returncode != 0:
            raise MariaDBError(
                self._with_log(f"mariadb-install-db exited with {result.returncode}")
            )

    def _wait_until_answering(self, deadline: float) -> None:
        # `mariadb-admin ping` succeeds as soon as the server answers on TCP, even before any
        # account can log in.
        ping = ["mariadb-admin", "--no-defaults", "--protocol=tcp", f"--host={self.host}"]
        ping += [f"--port={self.port}", "--connect-timeout=1", "ping"]
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                code = self._process.returncode
                self._fail(f"mariadbd exited with code {code} before it answered")
            result = subprocess.run(ping, capture_output=True, timeout=10)
            if result.returncode == 0:
                return
            time.sleep(0.1)
        self._fail(
            f"mariadbd did not answer on {self.host}:{self.port} within {START_TIMEOUT:.0f}s"
        )

    def _set_root_password(self) -> None:
        """
        mariadb-install-db lets root (and the installing system user) in only through the
        socket, by system identity. Give root a password, kept next to socket login, and an
        account for 127.0.0.1 so TCP logins do not depend on name resolution. Idempotent.
        """
        password = self.root_password.replace("\\", "\\\\").replace("'", "\\'")
        statements = f"""
            ALTER USER root@localhost
                IDENTIFIED VIA mysql_native_password USING PASSWORD('{password}') OR unix_socket;
            CREATE USER IF NOT EXISTS root@'127.0.0.1';
            ALTER USER root@'127.0.0.1' IDENTIFIED BY '{password}';
            GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
        """
        # Log in by system identity: works on a fresh directory and after the password is set.
        socket_login = ["mariadb", "--no-defaults", f"--socket={self.socket_path}"]
        socket_login += [f"--user={getpass.getuser()}", "--batch"]
        result = subprocess.run(
            socket_login, input=statements, capture_output=True, text=True, timeout=SQL_TIMEOUT
        )
        if result.returncode != 0:
            self._fail(f"setting the root password failed: {result.stderr.strip()}")

    def _client(self, statements: str, database: str | None, options: list[str]) -> str:
        if not self.running:
            raise MariaDBError(f"the server on {self.data_dir} is not running")
        command = ["mariadb", "--no-defaults", f"--socket={self.socket_path}"]
        command += [f"--user={self.root_user}", *options]
        if database:
            command.append(f"--database={database}")
        # MYSQL_PWD keeps the password off the process list
        env = {"PATH": os.environ.get("PATH", ""), "MYSQL_PWD": self.root_password}
        result = subprocess.run(
            command, input=statements, capture_output=True, text=True, env=env, timeout=SQL_TIMEOUT
        )
        if result.returncode != 0:
            # the client names the failing statement in its message
            raise MariaDBError(f"SQL failed: {result.stderr.strip()}")
        return result.stdout

    def _fail(self, reason: str) -> Any:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
        raise MariaDBError(self._with_log(reason))

    def _with_log(self, reason: str) -> str:
        tail = "\n".join(self.log().splitlines()[-40:])
        return f"{reason} (data directory {self.data_dir}).\nServer log:\n{tail}"


def _field_value(field: ElementTree.Element) -> str | None:
    return None if field.get(XML_NIL) == "true" else (field.text or "")


@contextmanager
def running_mariadb(
    data_dir: Path | str, port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None
) -> Iterator[MariaDBServer]:
    """A server running on data_dir (initialised on first use) for the duration of the block."""
    with MariaDBServer(Path(data_dir), host, port, log_path) as server:
        yield server


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    with running_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
        yield server
