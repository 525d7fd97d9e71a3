"""
`tutor local do init-clickhouse` run five times, as every `tutor local launch` and every
upgrade runs it: the fifth run leaves the very schema and access rights the first one made.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.fixtures import running_clickhouse
from tests.harness.processes import free_port
from tests.reliability.conftest import ASPECTS_DATABASES, aspects_root, job_dir

RUNS = 5


def schema(client) -> dict[str, str]:
    """SHOW CREATE of every database and object of Aspects, and the recorded revision."""
    shown = {}
    for database in ASPECTS_DATABASES:
        shown[database] = client.command(f"SHOW CREATE DATABASE {database}")
        names = client.query(
            "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
            parameters={"db": database},
        ).result_rows
        for (name,) in names:
            shown[f"{database}.{name}"] = client.command(f"SHOW CREATE TABLE {database}.`{name}`")
    shown["revision"] = client.command(
        "SELECT groupArray(version_num) FROM xapi.aspects_schema_version"
    )
    return shown


@pytest.mark.slow
def test_five_runs_of_the_init_job_leave_the_same_schema_and_grants(tmp_path: Path) -> None:
    with running_clickhouse(tmp_path / "clickhouse") as server:
        root = aspects_root(tmp_path / "root", server, free_port())
        client = server.client()
        schemas, access = [], []
        for _ in range(RUNS):
            recorded = len(server.access_log())
            result = root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir(root))
            # Later runs build only the models changed since the last complete run: none.
            assert "ClickHouse is initialised." in result.stdout
            assert "Building the Aspects reporting models with dbt" in result.stdout
            schemas.append(schema(client))
            access.append([entry["statement"] for entry in server.access_log()[recorded:]])
    first, last = schemas[0], schemas[-1]
    assert len(first) > len(ASPECTS_DATABASES) + 1
    assert last.keys() == first.keys()
    for name in first:
        assert last[name] == first[name], name
    # Each run asks for the same users and grants, and for nothing else.
    assert access[0] and any(s.startswith("GRANT") for s in access[0])
    assert access[-1] == access[0]
    print(f"\n{len(first) - 1} objects, {len(access[0])} access statements per run, {RUNS} runs")
