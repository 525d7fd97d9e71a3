"""
clickhouse-connect 0.7 against the embedded ClickHouse server.

The 0.7 line conflicts with the current clickhouse-connect, so tests/harness/cc07_contract.py runs
with the Python of its own virtualenv: CC07_PYTHON, relative to the repository root, by default
.venv-cc07/bin/python (created by `make install`).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fixtures import REPO_ROOT, ClickHouseServer

SCRIPT = Path(__file__).with_name("cc07_contract.py")


def cc07_python() -> Path:
    return REPO_ROOT / os.environ.get("CC07_PYTHON", ".venv-cc07/bin/python")


def run_contract(server: ClickHouseServer) -> dict[str, Any]:
    python = cc07_python()
    if not python.exists():
        pytest.fail(f"{python} does not exist: run `make install` to create the virtualenv")
    completed = subprocess.run(
        [str(python), str(SCRIPT), "--host", server.host, "--port", str(server.port)]
        + ["--user", server.user, "--password", server.password],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def server_version(server: ClickHouseServer) -> str:
    request = urllib.request.Request(
        f"{server.url}/?query=SELECT%20version()",
        headers={"X-ClickHouse-User": server.user, "X-ClickHouse-Key": server.password},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.read().decode().strip()


def test_clickhouse_connect_07_contract(clickhouse_server: ClickHouseServer) -> None:
    results = run_contract(clickhouse_server)
    version = server_version(clickhouse_server)
    user = clickhouse_server.user

    assert results["clickhouse_connect"].startswith("0.7.")
    assert results["ping"] is True
    assert results["server_version"] == version
    assert results["version_timezone"] == [version, "Etc/UTC"]
    assert results["server_side_parameter"] == ["it's", 42]
    assert results["client_side_parameter"] == "o'clock"
    assert results["max_threads_in_session_that_set_it"] == 3
    assert results["max_threads_in_other_session"] != 3
    assert results["table_exists_after_create"] == 1
    assert results["inserted_rows"] == 100
    assert results["table_count_sum_nulls"] == [100, 4950, 50]
    assert results["row_42"] == ["row42", 42, "2024-05-06T07:08:09.123456+00:00", 42, ["a", "42"]]
    assert results["command_select"] == 42
    assert "returned response code 404" in results["unknown_table_error"]
    assert (
        "Code: 60. DB::Exception: Unknown table expression identifier 'no_such_table'"
        in results["unknown_table_error"]
    )
    assert "returned response code 400" in results["syntax_error"]
    assert "Code: 62. DB::Exception: Syntax error" in results["syntax_error"]
    assert "returned response code 403" in results["wrong_password_error"]
    assert (
        f"Code: 516. DB::Exception: {user}: Authentication failed: password is incorrect, "
        "or there is no user with such name. (AUTHENTICATION_FAILED)"
    ) in results["wrong_password_error"]
