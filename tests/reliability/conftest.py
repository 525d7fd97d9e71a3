"""
The native Aspects stack the reliability tests share: the embedded ClickHouse server, the
schema and models made by `tutor local do init-clickhouse`, and Ralph run from its rendered
settings as a process the tests may kill and start again. Loopback only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.aspects.test_dbt_models import BOOKKEEPING_COLUMNS
from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.processes import free_port
from tests.harness.ralph import RalphProcess
from tests.harness.tutor import TutorRoot
from tutoraspects.job import xapi_generator

LMS_URL = "http://local.openedx.io"
ASPECTS_DATABASES = ("xapi", "event_sink", "reporting")


class Stack:
    """A Tutor root with the Aspects plugins, its ClickHouse server and its Ralph."""

    def __init__(self, root: TutorRoot, server: ClickHouseServer, ralph: RalphProcess) -> None:
        self.root, self.server, self.ralph = root, server, ralph
        self.job_dir = job_dir(root)
        self.lms = (root.value("RALPH_LMS_USERNAME"), root.config()["RALPH_LMS_PASSWORD"])

    def admin(self) -> Any:
        # A new client each time: the server may have been restarted since the last one.
        return self.server.client()

    def post(self, statements: list[dict], timeout: float = 30) -> requests.Response:
        return requests.post(
            f"{self.ralph.url}/xAPI/statements", json=statements, auth=self.lms, timeout=timeout
        )

    def tutor(self, *args: str) -> str:
        result = self.root.run("local", "do", *args, ASPECTS_JOB_DIR=self.job_dir)
        return result.stdout + result.stderr

    def count(self, ids: list[str], final: bool) -> int:
        """How many rows of the raw table hold one of these statement ids."""
        return self.admin().command(
            f"SELECT count() FROM xapi.xapi_events_all{' FINAL' if final else ''} "
            f"WHERE event_id IN ({uuid_list(ids)})"
        )

    def stored_ids(self, ids: list[str]) -> list[str]:
        """Which of these ids the raw table holds, each once per row, read with FINAL."""
        rows = (
            self.admin()
            .query(
                "SELECT toString(event_id) FROM xapi.xapi_events_all FINAL "
                f"WHERE event_id IN ({uuid_list(ids)})"
            )
            .result_rows
        )
        return [event_id for (event_id,) in rows]


def uuid_list(ids: list[str]) -> str:
    # Inline: clickhouse-connect sends a long array parameter as external data, which the
    # embedded server does not take. Each id is parsed first, so nothing else gets in.
    return ", ".join(f"'{uuid.UUID(event_id)}'" for event_id in ids) or "NULL"


def job_dir(root: TutorRoot) -> str:
    return str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")


def aspects_root(path: Path, server: ClickHouseServer, ralph_port: int) -> TutorRoot:
    return TutorRoot(path).save(
        ["clickhouse", "ralph", "aspects"],
        {**server.tutor_settings(), "RALPH_HOST": "127.0.0.1", "RALPH_PORT": ralph_port},
    )


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("reliability")
    port = free_port()
    with running_clickhouse(directory / "clickhouse") as server:
        root = aspects_root(directory / "root", server, port)
        init = root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir(root)).stdout
        assert "ClickHouse is initialised." in init and "Completed successfully" in init
        ralph = RalphProcess(root, port).start()
        try:
            yield Stack(root, server, ralph)
        finally:
            ralph.stop()


def generated(statements: int, seed: int) -> list[dict]:
    """Statements as the LMS sends them; the same seed gives the same ids."""
    config = xapi_generator.sized_config(statements, seed=seed, lms_url=LMS_URL)
    return list(xapi_generator.iter_statements(config))


def model_figures(
    client: Any, database: str = "reporting", arrival_delays: bool = True
) -> dict[str, list[str]]:
    """
    Every table and view of the reporting database, as sorted JSON rows without the columns
    that record arrival times (nor, unless `arrival_delays`, the delays measured from them: a
    build from scratch dates every statement's arrival to itself). xapi_events_parsed keeps a
    replayed statement twice until its parts merge, so it is read with FINAL.
    """
    names = [
        name
        for (name,) in client.query(
            "SELECT name FROM system.tables WHERE database = {db:String} "
            "AND NOT startsWith(name, '.inner') ORDER BY name",
            parameters={"db": database},
        ).result_rows
    ]
    figures = {}
    for name in names:
        engine = client.command(
            "SELECT engine FROM system.tables WHERE database = {db:String} AND name = {n:String}",
            parameters={"db": database, "n": name},
        )
        if engine == "MaterializedView":
            continue  # a trigger: the table it writes to is read on its own
        final = " FINAL" if "ReplacingMergeTree" in engine else ""
        result = client.query(f"SELECT * FROM {database}.`{name}`{final}")
        columns = [
            c
            for c in result.column_names
            if c not in BOOKKEEPING_COLUMNS
            and (arrival_delays or not c.endswith("arrival_delay_seconds"))
        ]
        figures[name] = sorted(
            json.dumps({c: _figure(row[c]) for c in columns}, default=str, sort_keys=True)
            for row in result.named_results()
        )
    return figures


def _figure(value: Any) -> Any:
    """A value as compared: a float to 12 significant digits (an average of floats depends, in
    its last bits, on the order ClickHouse adds them in, which parts and merges decide)."""
    return float(f"{value:.12g}") if isinstance(value, float) else value
