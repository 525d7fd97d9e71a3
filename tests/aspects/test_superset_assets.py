"""
The aspects asset bundle in real Superset: the four plugins rendered by Tutor, the ClickHouse
schema, generated statements and the dbt models in the embedded ClickHouse, then the superset
init job (run natively against MariaDB) imports the bundle with the ClickHouse connection of
the read-only report user, and real Superset answers every chart's query with rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fixtures import running_clickhouse
from tests.harness.mariadb import MariaDBServer
from tests.harness.redis import RedisServer
from tests.harness.superset import Superset, SupersetClient, running_superset
from tests.harness.tutor import TutorRoot
from tutoraspects import xapi_generator

STATEMENTS = 3000
BUNDLE_OBJECTS = ("dbs", "tables", "table_columns", "sql_metrics", "slices", "dashboards")
BUNDLE_OBJECTS += ("dashboard_slices", "row_level_security_filters", "rls_filter_tables")


class Deployment:
    def __init__(self, root: TutorRoot, mariadb: MariaDBServer, home: Path) -> None:
        self.root, self.mariadb, self.home = root, mariadb, home
        self.pythonpath = root.path / "env" / "plugins" / "superset" / "apps" / "pythonpath"
        self.assets = root.path / "env" / "plugins" / "superset" / "build" / "superset" / "assets"

    def init_superset(self) -> str:
        result = self.root.run(
            "local",
            "do",
            "init",
            "--limit",
            "superset",
            PYTHONPATH=str(self.pythonpath),
            SUPERSET_HOME=str(self.home),
            SUPERSET_ASSETS_DIR=str(self.assets),
            TUTOR_DOCKER_SHIM_SKIP="lms-job",
        )
        return result.stdout + result.stderr

    def superset(self) -> Superset:
        lines = self.root.env_file("plugins", "superset", "apps", "superset.env").splitlines()
        secrets = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
        return Superset(self.pythonpath / "superset_config.py", home=self.home, env=secrets)

    def counts(self) -> dict[str, Any]:
        database = self.root.config()["SUPERSET_DB_NAME"]
        return {
            table: self.mariadb.query(f"SELECT count(*) FROM {table}", database=database)[0][0]
            for table in BUNDLE_OBJECTS
        }


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb_server: MariaDBServer,
    redis_server: RedisServer,
) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("assets")
    with running_clickhouse(directory / "clickhouse") as clickhouse:
        root = TutorRoot(directory / "root").save(
            ["clickhouse", "ralph", "superset", "aspects"],
            {
                **clickhouse.tutor_settings(),
                **redis_server.tutor_settings(),
                "MYSQL_HOST": mariadb_server.host,
                "MYSQL_PORT": mariadb_server.port,
                "MYSQL_ROOT_USERNAME": mariadb_server.root_user,
                "MYSQL_ROOT_PASSWORD": mariadb_server.root_password,
                "SUPERSET_DB_NAME": "superset_assets",
            },
        )
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir)
        root.run(
            "local",
            "do",
            "load-xapi-test-data",
            "--statements",
            str(STATEMENTS),
            "--direct",
            ASPECTS_JOB_DIR=job_dir,
        )
        assert (
            "Completed successfully"
            in root.run("local", "do", "dbt", "run", ASPECTS_JOB_DIR=job_dir).stdout
        )
        deployment = Deployment(root, mariadb_server, directory / "home")
        output = deployment.init_superset()
        assert "Asset bundle aspects:" in output, output[-3000:]
        yield deployment


def generated_statements() -> list[dict[str, Any]]:
    """What `do load-xapi-test-data` loaded: the generator's statements for its default seed."""
    config = xapi_generator.sized_config(STATEMENTS, seed=0, lms_url="http://local.openedx.io")
    return list(xapi_generator.iter_statements(config))


def chart_data(client: SupersetClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    body = {
        "datasource": {"id": params["datasource"].split("__")[0], "type": "table"},
        "queries": [chart_query(params)],
        "result_format": "json",
        "result_type": "full",
    }
    return client.post("/api/v1/chart/data", body)["result"][0]["data"]


def chart_query(params: dict[str, Any]) -> dict[str, Any]:
    """The query Superset's front end builds from a chart's parameters (the kinds we use)."""
    metrics = params.get("metrics") or [params["metric"]]
    columns: list[Any] = list(params.get("groupby", []))
    if "x_axis" in params:
        axis = {
            "columnType": "BASE_AXIS",
            "expressionType": "SQL",
            "sqlExpression": params["x_axis"],
            "label": params["x_axis"],
            "timeGrain": params.get("time_grain_sqla"),
        }
        columns.insert(0, axis)
    filters = [
        {"col": f["subject"], "op": f["operator"], "val": f["comparator"]}
        for f in params.get("adhoc_filters", [])
    ]
    return {"columns": columns, "metrics": metrics, "filters": filters, "row_limit": 1000}


def test_every_chart_answers_with_rows(deployment: Deployment) -> None:
    config = deployment.root.config()
    with running_superset(deployment.superset()) as server:
        client: SupersetClient = server.client()
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        charts = client.get("/api/v1/chart/?q=(page_size:100)")["result"]
        assert len(charts) == 6
        rows = {}
        for summary in charts:
            chart = client.get(f"/api/v1/chart/{summary['id']}")["result"]
            rows[chart["slice_name"]] = chart_data(client, json.loads(chart["params"]))
        assert all(rows.values()), {title: len(data) for title, data in rows.items()}
        # A sample of figures, against the generated statements themselves.
        plays = Counter(
            statement["object"]["id"].split("/xblock/", 1)[1]
            for statement in generated_statements()
            if statement["verb"]["id"] == "https://w3id.org/xapi/video/verbs/played"
        )
        shown = {row["video_id"]: row["Plays"] for row in rows["Video engagement"]}
        assert {video: count for video, count in shown.items() if count} == plays
        received = sum(row["Statements"] for row in rows["Statements received per hour"])
        assert received == STATEMENTS
        dashboards = client.get("/api/v1/dashboard/?q=(page_size:100)")["result"]
        assert sorted(d["dashboard_title"] for d in dashboards) == [
            "Course overview",
            "Operator view",
            "Videos and problems",
        ]


def test_importing_again_changes_no_object(deployment: Deployment) -> None:
    before = deployment.counts()
    assert "Asset bundle aspects:" in deployment.init_superset()
    assert deployment.counts() == before


def test_import_assets_twice_changes_no_object(deployment: Deployment) -> None:
    before = deployment.counts()
    for _ in range(2):
        result = deployment.root.run(
            "local",
            "do",
            "import-assets",
            PYTHONPATH=str(deployment.pythonpath),
            SUPERSET_HOME=str(deployment.home),
            SUPERSET_ASSETS_DIR=str(deployment.assets),
        )
        assert "Asset bundle aspects:" in result.stdout + result.stderr
        assert deployment.counts() == before
