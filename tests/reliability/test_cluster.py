"""
Aspects on a ClickHouse cluster (CLICKHOUSE_CLUSTER_NAME set): every statement that changes the
schema, as the real tools send it, parses on the engine, runs ON CLUSTER the configured cluster,
and creates tables with replicated engines only.

The tools run as in a deployment, through `tutor local do`: the clickhouse init job (databases,
users, grants, settings profile), the alembic migrations (up, down to 0002, up again), dbt (first
build by init-clickhouse, an incremental run over new statements, a full refresh). The embedded
server runs a one-node cluster (tests/harness/clickhouse_cluster.py): it records each DDL
statement, formatted by the engine's parser, and each access statement, and runs them locally.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.harness.clickhouse_cluster import Cluster
from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.processes import free_port
from tests.reliability.conftest import aspects_root, generated, job_dir, model_figures

CLUSTER = "aspects_cluster"
STATEMENTS = 400
_ENGINE = re.compile(r"^ENGINE = (\w+)", re.MULTILINE)
_CHANGED_TABLE = re.compile(r"^(?:ALTER TABLE|DELETE FROM) (\S+)")
_DELETE_NEW_DATA = re.compile(
    r"^DELETE FROM (\S+) WHERE .*\bFROM (\S+__dbt_new_data_\w+)", re.DOTALL
)
_CREATED_TABLE = re.compile(r"^CREATE TABLE (?:IF NOT EXISTS )?(\S+)")


def parse(client, statement: str) -> str:
    """The statement as the engine's parser formats it; its syntax error if it does not parse."""
    literal = "'" + statement.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return client.query(f"SELECT formatQuery({literal})").result_rows[0][0]


def insert_statements(client, statements: list[dict]) -> None:
    rows = [
        [uuid.UUID(s["id"]), datetime.fromisoformat(s["timestamp"]), json.dumps(s)]
        for s in statements
    ]
    client.insert("xapi.xapi_events_all", rows, ["event_id", "emission_time", "event"])


class Deployment:
    """Aspects deployed by the real tools on a one-node cluster, phase by phase."""

    def __init__(self, server: ClickHouseServer, root) -> None:
        self.server, self.root = server, root
        self.jobs = job_dir(root)
        # name: (DDL statements, access statements, seconds)
        self.phases: dict[str, tuple[list[dict], list[dict], float]] = {}

    def tutor(self, *args: str) -> None:
        self.root.run("local", "do", *args, ASPECTS_JOB_DIR=self.jobs)

    def phase(self, name: str, *commands: tuple[str, ...]) -> None:
        """Run `tutor local do` commands; keep what the server recorded meanwhile."""
        ddl, access = len(self.server.cluster_log()), len(self.server.access_log())
        started = time.monotonic()
        for command in commands:
            self.tutor(*command)
        elapsed = time.monotonic() - started
        recorded = self.server.cluster_log()[ddl:], self.server.access_log()[access:]
        self.phases[name] = (*recorded, elapsed)

    def statements(self, name: str) -> list[str]:
        return [entry["statement"] for entry in self.phases[name][0]]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("cluster")
    with running_clickhouse(directory / "clickhouse", cluster=CLUSTER) as server:
        deployment = Deployment(server, aspects_root(directory / "root", server, free_port()))
        deployment.phase("clickhouse init job", ("init", "--limit", "clickhouse"))
        deployment.phase("migrations (upgrade head)", ("alembic", "upgrade", "head"))
        deployment.phase("init-clickhouse (dbt first build)", ("init-clickhouse",))
        insert_statements(server.client(), generated(STATEMENTS, seed=10))
        deployment.phase("dbt run (incremental)", ("dbt", "run"))
        yield deployment


def check_recorded(deployment: Deployment) -> dict[str, int]:
    """
    Every statement recorded so far parses, and the schema is the cluster's: tables created
    replicated, each statement ON CLUSTER unless it changes a replicated table (ALTER, DELETE:
    those replicate through Keeper by themselves, such as the version table's bookkeeping, dbt's
    data-skipping index and its deletes).
    """
    phases = deployment.phases.values()
    ddl = [entry for recorded, _, _ in phases for entry in recorded]
    access = [entry for _, recorded, _ in phases for entry in recorded]
    parser = deployment.server.client()
    # Each recorded statement is the engine's own formatting: it parses again, unchanged.
    for entry in ddl + access:
        assert parse(parser, entry["statement"]) == entry["statement"]
    replicated = set()
    for entry in ddl:
        if created := _CREATED_TABLE.match(entry["statement"]):
            engine = _ENGINE.search(entry["statement"])
            assert engine and re.fullmatch(r"Replicated\w*MergeTree", engine[1]), entry
            replicated.add(created[1])
    without_cluster = [entry["statement"] for entry in ddl if entry["cluster"] != CLUSTER]
    for statement in without_cluster:
        changed = _CHANGED_TABLE.match(statement)
        assert changed and changed[1] in replicated, statement
    assert all(entry["cluster"] in (CLUSTER, "") for entry in ddl)
    assert all(f" ON CLUSTER {CLUSTER}" in entry["statement"] for entry in access)
    report = {name: (len(d), len(a), round(t, 1)) for name, (d, a, t) in deployment.phases.items()}
    print(f"\n(DDL, access statements, seconds) per phase: {report}")
    print(
        f"{len(ddl)} DDL statements ({len(without_cluster)} changes of replicated tables "
        f"without ON CLUSTER), {len(access)} access statements, {len(replicated)} tables"
    )
    return {"ddl": len(ddl), "access": len(access), "tables": len(replicated)}


def test_init_clickhouse_and_dbt_runs_send_cluster_ddl_only(deployment: Deployment) -> None:
    counts = check_recorded(deployment)
    assert counts["access"] == 2 * len(deployment.phases["clickhouse init job"][1])
    assert counts["tables"] >= 20

    init_job = deployment.statements("clickhouse init job")
    assert init_job == [
        f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {CLUSTER}"
        for database in ("xapi", "event_sink", "reporting")
    ]
    grants = [e["statement"] for e in deployment.phases["clickhouse init job"][1]]
    assert f"GRANT ON CLUSTER {CLUSTER} CLUSTER ON *.* TO ch_migrations" in grants
    assert f"GRANT ON CLUSTER {CLUSTER} SYSTEM SYNC REPLICA ON reporting.* TO ch_migrations" in (
        grants
    )
    migrations = deployment.statements("migrations (upgrade head)")
    assert migrations[0].startswith(
        f"CREATE TABLE IF NOT EXISTS xapi.aspects_schema_version ON CLUSTER {CLUSTER}"
    )
    assert f"CREATE TABLE IF NOT EXISTS xapi.xapi_events_all ON CLUSTER {CLUSTER}" in "\n".join(
        migrations
    )

    first_build = deployment.statements("init-clickhouse (dbt first build)")
    assert any(
        s.startswith(f"CREATE TABLE reporting.xapi_events_parsed ON CLUSTER {CLUSTER}")
        and "ENGINE = ReplicatedReplacingMergeTree(dedup_version)" in s
        for s in first_build
    )
    view = "CREATE MATERIALIZED VIEW IF NOT EXISTS reporting.xapi_events_parsed_mv"
    target = "TO reporting.xapi_events_parsed"
    assert any(s.startswith(f"{view} ON CLUSTER {CLUSTER} {target}") for s in first_build)
    assert any(
        s.startswith(f"CREATE TABLE IF NOT EXISTS xapi.aspects_dbt_state ON CLUSTER {CLUSTER}")
        and "ENGINE = ReplicatedMergeTree" in s
        for s in first_build
    )

    # Each delete of an incremental run reads rows that every replica was made to hold first.
    incremental = deployment.statements("dbt run (incremental)")
    deletes = [found.groups() for s in incremental if (found := _DELETE_NEW_DATA.match(s))]
    assert {model for model, _ in deletes} >= {
        "reporting.video_engagement",
        "reporting.course_enrollments_daily",
    }
    for model, new_data in deletes:
        delete = next(i for i, s in enumerate(incremental) if s.startswith(f"DELETE FROM {model} "))
        assert f"SYSTEM SYNC REPLICA ON CLUSTER {CLUSTER} {new_data}" in incremental[:delete]

    admin = deployment.server.client()
    figures = model_figures(admin)
    assert figures["video_engagement"] and figures["course_enrollments_daily"]
    clusters = (
        "SELECT cluster, shard_num, replica_num FROM system.clusters WHERE cluster = {c:String}"
    )
    assert admin.query(clusters, parameters={"c": CLUSTER}).result_rows == [(CLUSTER, 1, 1)]


@pytest.mark.slow
def test_full_refresh_and_migrations_down_and_up_send_cluster_ddl_only(
    deployment: Deployment,
) -> None:
    deployment.phase("dbt run --full-refresh", ("dbt", "run", "--full-refresh"))
    deployment.phase(
        "migrations (down to 0002, up)",
        ("alembic", "downgrade", "0002"),
        ("alembic", "upgrade", "head"),
    )
    check_recorded(deployment)
    refresh = deployment.statements("dbt run --full-refresh")
    # A full refresh swaps each rebuilt table in once every replica holds its rows.
    exchanges = [s for s in refresh if s.startswith("EXCHANGE TABLES ")]
    assert exchanges and all(f" ON CLUSTER {CLUSTER}" in s for s in exchanges)
    assert any(s.startswith(f"SYSTEM SYNC REPLICA ON CLUSTER {CLUSTER} ") for s in refresh)
    down_and_up = deployment.statements("migrations (down to 0002, up)")
    assert f"DROP TABLE IF EXISTS event_sink.user_profile ON CLUSTER {CLUSTER}" in down_and_up


def test_local_form_of_cluster_statements() -> None:
    """What the embedded server runs for ON CLUSTER DDL: the clause and Replicated gone."""
    from tests.harness.clickhouse import _tokens

    cluster = Cluster(Path("/nonexistent"), CLUSTER, lambda s: s, _tokens)
    cases = {
        f"CREATE TABLE a.b ON CLUSTER '{CLUSTER}' (x Int8, v UInt64) "
        "ENGINE = ReplicatedReplacingMergeTree(v) ORDER BY x": (
            "CREATE TABLE a.b  (x Int8, v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY x"
        ),
        f'create table `a`.`b` on cluster "{CLUSTER}" engine = ReplicatedMergeTree() '
        "order by tuple() as select 1": (
            "create table `a`.`b`  engine = MergeTree() order by tuple() as select 1"
        ),
        f"CREATE TABLE a.b ON CLUSTER {CLUSTER} (x Int8) ENGINE = ReplicatedMergeTree("
        "'/clickhouse/tables/{{shard}}/b', '{{replica}}') ORDER BY x": (
            "CREATE TABLE a.b  (x Int8) ENGINE = MergeTree() ORDER BY x"
        ),
        f"CREATE TABLE a.b ON CLUSTER {CLUSTER} (x Int8, v UInt64) ENGINE = "
        "ReplicatedReplacingMergeTree('/p/{{uuid}}', '{{replica}}', v) ORDER BY x": (
            "CREATE TABLE a.b  (x Int8, v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY x"
        ),
        # ON CLUSTER only where it is the clause: not a column named cluster in a join.
        f"CREATE VIEW a.v ON CLUSTER {CLUSTER} AS SELECT * FROM t JOIN u ON cluster = c": (
            "CREATE VIEW a.v  AS SELECT * FROM t JOIN u ON cluster = c"
        ),
        f"DELETE FROM a.b ON CLUSTER {CLUSTER} WHERE x IN (SELECT 1)": (
            "DELETE FROM a.b  WHERE x IN (SELECT 1)"
        ),
    }
    for statement, local in cases.items():
        assert cluster.without_cluster(statement) == local


def test_embedded_server_as_a_one_node_cluster(tmp_path: Path) -> None:
    """The harness's cluster mode behaves as a cluster of one server would, and records DDL."""
    with running_clickhouse(tmp_path / "clickhouse", cluster=CLUSTER) as server:
        admin = server.client()
        admin.command(f"CREATE DATABASE IF NOT EXISTS r ON CLUSTER '{CLUSTER}'")
        admin.command(
            f"CREATE TABLE r.t ON CLUSTER {CLUSTER} (x Int8, v UInt64) "
            "ENGINE = ReplicatedReplacingMergeTree(v) ORDER BY x"
        )
        admin.insert("r.t", [[1, 1], [1, 2]], ["x", "v"])
        admin.command(f"SYSTEM SYNC REPLICA ON CLUSTER {CLUSTER} r.t")
        assert admin.command("SELECT v FROM r.t FINAL") == 2
        # What the engine knows of the cluster, as dbt-clickhouse reads it.
        tables = f"clusterAllReplicas('{CLUSTER}', system.tables)"
        shards = f"SELECT count(DISTINCT _shard_num) FROM {tables} WHERE database = 'r'"
        assert admin.command(shards) == 1
        # As on a server: another cluster does not exist, and a replicated table needs
        # ON CLUSTER (its default replica path takes the UUID that ON CLUSTER gives).
        for statement, code in (
            ("CREATE TABLE r.u ON CLUSTER other (x Int8) ENGINE = MergeTree ORDER BY x", 701),
            ("CREATE USER u ON CLUSTER other IDENTIFIED BY 'secret-1'", 701),
            ("CREATE TABLE r.u (x Int8) ENGINE = ReplicatedMergeTree ORDER BY x", 36),
        ):
            with pytest.raises(Exception, match=f"code: {code}"):
                admin.command(statement)
        assert admin.command("EXISTS TABLE r.u") == 0
        recorded = [(entry["cluster"], entry["statement"]) for entry in server.cluster_log()]
    assert recorded == [
        (CLUSTER, f"CREATE DATABASE IF NOT EXISTS r ON CLUSTER {CLUSTER}"),
        (
            CLUSTER,
            f"CREATE TABLE r.t ON CLUSTER {CLUSTER}\n(\n    `x` Int8,\n    `v` UInt64\n)\n"
            "ENGINE = ReplicatedReplacingMergeTree(v)\nORDER BY x",
        ),
        (CLUSTER, f"SYSTEM SYNC REPLICA ON CLUSTER {CLUSTER} r.t"),
        ("", "CREATE TABLE r.u\n(\n    `x` Int8\n)\nENGINE = ReplicatedMergeTree\nORDER BY x"),
    ]


def test_the_aspects_jobs_get_the_cluster_name(deployment: Deployment) -> None:
    """Migrations and dbt, run once or on schedule, under compose and Kubernetes."""
    root = deployment.root
    services = root.compose_config(jobs=True)["services"]
    for name in ("aspects-job", "aspects-dbt"):
        assert services[name]["environment"]["CLICKHOUSE_CLUSTER_NAME"] == CLUSTER, name
    manifests = root.manifests()
    pods = {
        "aspects-job": manifests[("Job", "aspects-job")]["spec"]["template"]["spec"],
        "aspects-dbt": manifests[("CronJob", "aspects-dbt")]["spec"]["jobTemplate"]["spec"][
            "template"
        ]["spec"],
    }
    for name, pod in pods.items():
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["CLICKHOUSE_CLUSTER_NAME"] == CLUSTER, name
