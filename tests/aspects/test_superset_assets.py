"""
The aspects asset bundle in real Superset: the four plugins rendered by Tutor, the ClickHouse
schema, generated statements and the dbt models in the embedded ClickHouse, then the superset
init job (run natively against MariaDB) imports the bundle with the ClickHouse connection of
the read-only report user, and real Superset answers every chart's query with rows.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import typing as t
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import sync_playwright

from tests.aspects import figures_video_pages
from tests.aspects.figures_course_tabs import (
    OUTLINE_ORDERED,
    assert_course_tab_figures,
    assert_outline_order,
)
from tests.aspects.figures_learners import assert_learner_figures
from tests.aspects.test_dashboard_languages import expected_tab_charts, tab_charts
from tests.aspects.test_dbt_models import expected_problem_responses
from tests.aspects.test_models_on_generated_data import expected_structure, read_fact
from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, SignedIn, sign_in
from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.lms import running_lms, superset_client_options
from tests.harness.mariadb import MariaDBServer
from tests.harness.processes import free_port
from tests.harness.redis import RedisServer
from tests.harness.superset import (
    SUPERSET_BIN,
    Superset,
    SupersetClient,
    rendered_superset,
    running_superset,
    superset_job_environment,
)
from tests.harness.tutor import TutorRoot
from tutoraspects import superset
from tutoraspects.assets_schema import without_jinja
from tutoraspects.embedding import embedding_uuid
from tutoraspects.job import xapi_generator

# Refreshing docs/screenshots: data as a course team sees it, hundreds of learners per course.
UPDATE_SCREENSHOTS = os.environ.get("ASPECTS_UPDATE_SCREENSHOTS") == "1"
STATEMENTS = 60_000 if UPDATE_SCREENSHOTS else 3000
BUNDLE_OBJECTS = ("dbs", "tables", "table_columns", "sql_metrics", "slices", "dashboards")
BUNDLE_OBJECTS += ("dashboard_slices", "row_level_security_filters", "rls_filter_tables")


class Deployment:
    clickhouse: ClickHouseServer
    loaded_between: tuple[datetime, datetime]  # when the test statements were inserted

    def __init__(self, root: TutorRoot, mariadb: MariaDBServer, home: Path) -> None:
        self.root, self.mariadb, self.home = root, mariadb, home

    def init_superset(self) -> str:
        result = self.root.run(
            *("local", "do", "init", "--limit", "superset"),
            **superset_job_environment(self.root, self.home),
        )
        return result.stdout + result.stderr

    def superset(self) -> Superset:
        return rendered_superset(self.root, self.home)

    def counts(self) -> dict[str, Any]:
        database = self.root.config()["SUPERSET_DB_NAME"]
        return {
            table: self.mariadb.query(f"SELECT count(*) FROM {table}", database=database)[0][0]
            for table in BUNDLE_OBJECTS
        }


def superset_settings(
    mariadb: MariaDBServer, redis: RedisServer, name: str, redis_dbs: tuple[int, int]
) -> dict[str, Any]:
    """
    Superset's settings on the session's MariaDB and Redis, with its own metadata database and
    user (`name`) and Redis databases (cache, celery): see tests/superset/conftest.py.
    """
    return {
        **redis.tutor_settings(),
        "SUPERSET_REDIS_CACHE_DB": redis_dbs[0],
        "SUPERSET_REDIS_CELERY_DB": redis_dbs[1],
        "MYSQL_HOST": mariadb.host,
        "MYSQL_PORT": mariadb.port,
        "MYSQL_ROOT_USERNAME": mariadb.root_user,
        "MYSQL_ROOT_PASSWORD": mariadb.root_password,
        "SUPERSET_DB_NAME": name,
        "SUPERSET_DB_USERNAME": name,
    }


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb_server: MariaDBServer,
    redis_server: RedisServer,
) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("assets")
    lms_url = f"http://127.0.0.1:{free_port()}"
    with running_clickhouse(directory / "clickhouse") as clickhouse:
        root = TutorRoot(directory / "root").save(
            ["clickhouse", "ralph", "superset", "aspects"],
            {
                **clickhouse.tutor_settings(),
                **superset_settings(mariadb_server, redis_server, "superset_assets", (7, 8)),
                # The stand-in LMS, for signing in (test_dashboards_in_a_browser).
                "LMS_HOST": lms_url.split("//", 1)[1],
                "SUPERSET_LMS_INTERNAL_URL": lms_url,
                "JWT_COMMON_ISSUER": f"{lms_url}/oauth2",
                # A language without a catalog beside the bundled ones: imported in English.
                "SUPERSET_DASHBOARD_LOCALES": ["en", "es", "fr", "pt_BR"],
            },
        )
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir)
        load_started = datetime.now(UTC)
        root.run(
            "local",
            "do",
            "load-xapi-test-data",
            "--statements",
            str(STATEMENTS),
            "--direct",
            ASPECTS_JOB_DIR=job_dir,
        )
        loaded_between = (load_started, datetime.now(UTC))
        assert (
            "Completed successfully"
            in root.run("local", "do", "dbt", "run", ASPECTS_JOB_DIR=job_dir).stdout
        )
        deployment = Deployment(root, mariadb_server, directory / "home")
        deployment.clickhouse = clickhouse
        deployment.loaded_between = loaded_between
        output = deployment.init_superset()
        assert "Asset bundle aspects:" in output, output[-3000:]
        yield deployment


def generated_courses(deployment: Deployment) -> list[str]:
    """The courses of the generated statements, as the models have them (more than one)."""
    rows = (
        deployment.clickhouse.client()
        .query(
            "SELECT DISTINCT course_key FROM reporting.course_enrollments_daily ORDER BY course_key"
        )
        .result_rows
    )
    courses = [course for (course,) in rows]
    assert len(courses) > 1
    return courses


def generated_config(deployment: Deployment) -> xapi_generator.Config:
    """What `do load-xapi-test-data` generated from: the generator's config for its default seed."""
    lms_url = "http://" + deployment.root.value("LMS_HOST")
    return xapi_generator.sized_config(STATEMENTS, seed=0, lms_url=lms_url)


def generated_statements(deployment: Deployment) -> list[dict[str, Any]]:
    """What `do load-xapi-test-data` loaded."""
    return list(xapi_generator.iter_statements(generated_config(deployment)))


def chart_data(
    client: SupersetClient, params: dict[str, Any], dashboard_id: int | None = None
) -> list[dict[str, Any]]:
    """A chart's rows; with `dashboard_id`, asked as that dashboard asks (its form data)."""
    body: dict[str, Any] = {
        "datasource": {"id": params["datasource"].split("__")[0], "type": "table"},
        "queries": [chart_query(params)],
        "result_format": "json",
        "result_type": "full",
    }
    if dashboard_id is not None:
        body["form_data"] = {**params, "dashboardId": dashboard_id}
    return client.post("/api/v1/chart/data", body)["result"][0]["data"]


def chart_query(params: dict[str, Any]) -> dict[str, Any]:
    """The query Superset's front end builds from a chart's parameters (the kinds we use)."""
    if params.get("query_mode") == "raw":
        return {"columns": params["all_columns"], "metrics": [], "row_limit": 1000}
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
        assert len(charts) == len(list((superset.BUNDLE / "charts").iterdir()))
        rows = {}
        for summary in charts:
            chart = client.get(f"/api/v1/chart/{summary['id']}")["result"]
            rows[chart["slice_name"]] = chart_data(client, json.loads(chart["params"]))
        assert all(rows.values()), {title: len(data) for title, data in rows.items()}
        # A sample of figures, against the generated statements themselves.
        plays = Counter(
            statement["object"]["id"].split("/xblock/", 1)[1]
            for statement in generated_statements(deployment)
            if statement["verb"]["id"] == "https://w3id.org/xapi/video/verbs/played"
        )
        shown = {row["video_id"]: row["Plays"] for row in rows["Video engagement"]}
        assert {video: count for video, count in shown.items() if count} == plays
        # Names, not keys: courses by name, problems and videos by their place in the course,
        # from the course structure the loader wrote to the event sink as the CMS does.
        structure = expected_structure(generated_config(deployment))
        labels = {row["block_id"]: row["location_label"] for row in structure["course_block_names"]}
        names = {row["course_key"]: row["course_name"] for row in structure["course_names"]}
        for title, key, name in (
            ("Video engagement", "video_id", "video_name"),
            ("Problem performance", "problem_id", "problem_name"),
        ):
            assert {row[name] for row in rows[title]} == {labels[row[key]] for row in rows[title]}
            assert {row["course_name"] for row in rows[title]} <= set(names.values())
        assert {row["course_name"] for row in rows["Learners"]} == {
            names[row["course_key"]] for row in rows["Learners"]
        }
        assert_answers_and_forum_figures(deployment, rows, labels, names)
        figures_video_pages.assert_video_and_page_figures(
            [read_fact(statement) for statement in generated_statements(deployment)],
            structure,
            rows,
        )
        facts = [read_fact(statement) for statement in generated_statements(deployment)]
        criteria = {
            name: int(deployment.root.value(f"ASPECTS_AT_RISK_{name.upper()}"))
            for name in ("inactive_days", "grade_below_percent", "progress_below_percent")
        }
        assert_learner_figures(rows, facts, structure, criteria)
        assert_course_tab_figures(rows, facts, structure)
        # The problem, video and page tables in outline order, as their saved query contexts
        # sort them.
        saved = {
            summary["slice_name"]: client.get(f"/api/v1/chart/{summary['id']}/data/")["result"][0][
                "data"
            ]
            for summary in charts
            if summary["slice_name"] in OUTLINE_ORDERED + figures_video_pages.OUTLINE_ORDERED
        }
        assert_outline_order(saved, structure)
        figures_video_pages.assert_outline_order(saved, structure)
        received = sum(row["Statements"] for row in rows["Statements received per hour"])
        assert received == STATEMENTS
        assert_operator_figures(deployment, rows)
        dashboards = client.get("/api/v1/dashboard/?q=(page_size:100)")["result"]
        titles = {d["dashboard_title"] for d in dashboards}
        # Each dashboard in each language of SUPERSET_DASHBOARD_LOCALES (en, es, fr, pt_BR).
        assert len(dashboards) == 4 * len(superset.DASHBOARDS)
        assert {"Course overview", "Resumen del curso", "Vue d'ensemble du cours"} <= titles
        portuguese = client.get("/api/v1/dashboard/course-overview-pt_BR")["result"]
        assert portuguese["dashboard_title"] == "Course overview"
        # Dashboards in tabs: Superset keeps each tab, titled in the dashboard's language,
        # with its charts, which the dashboard holds.
        for slug in superset.DASHBOARDS:
            for locale in ("en", "es"):
                suffix = "" if locale == "en" else f"-{locale}"
                dashboard = client.get(f"/api/v1/dashboard/{slug}{suffix}")["result"]
                tabs = tab_charts(json.loads(dashboard["position_json"]))
                assert tabs == expected_tab_charts(slug, locale), (slug, locale)
                held = client.get(f"/api/v1/dashboard/{slug}{suffix}/charts")["result"]
                titles_held = {chart["slice_name"] for chart in held}
                charts = superset.dashboard_charts(slug)
                assert titles_held == {superset.CHART_TITLES[chart] for chart in charts}, slug
        assert len(tab_charts(json.loads(portuguese["position_json"]))) == len(superset.COURSE_TABS)
        embedded = client.get("/api/v1/dashboard/course-overview-pt_BR/embedded")["result"]
        assert embedded["uuid"] == embedding_uuid("course-overview", "pt_BR")
        # Without ASPECTS_ENABLE_PII, no dataset has a learner's name, username or email.
        for dataset in client.get("/api/v1/dataset/?q=(page_size:100)")["result"]:
            columns = client.get(f"/api/v1/dataset/{dataset['id']}")["result"]["columns"]
            names = {column["column_name"] for column in columns}
            assert not names & {"username", "name", "email"}, dataset["table_name"]


def assert_operator_figures(deployment: Deployment, rows: dict[str, list[dict[str, Any]]]) -> None:
    """
    The operator view against the statements: a statement inserted without a stored time (the
    loader's --direct) arrives when it is inserted, so each hour's average arrival delay lies
    between the load's start and end less the hour's average timestamp; the raw table holds
    one row per statement.
    """
    stated: dict[datetime, list[datetime]] = {}
    for statement in generated_statements(deployment):
        when = datetime.fromisoformat(statement["timestamp"].replace("Z", "+00:00"))
        stated.setdefault(when.replace(minute=0, second=0, microsecond=0), []).append(when)
    start, end = deployment.loaded_between
    shown = {
        datetime.fromtimestamp(row["emission_hour"] / 1000, UTC): row["Average delay (s)"]
        for row in rows["Average arrival delay (s)"]
    }
    assert set(shown) == set(stated)
    for hour, times in stated.items():
        average = sum(t.timestamp() for t in times) / len(times)
        assert start.timestamp() - average - 1 <= shown[hour] <= end.timestamp() - average + 1

    storage = {(row["database"], row["table"]): row for row in rows["Storage by table"]}
    raw = (
        deployment.root.value("ASPECTS_XAPI_DATABASE"),
        deployment.root.value("ASPECTS_RAW_XAPI_TABLE"),
    )
    assert storage[raw]["Rows"] == STATEMENTS
    assert all(row["Bytes on disk"] > 0 for row in storage.values())
    databases = {
        "ASPECTS_XAPI_DATABASE",
        "ASPECTS_EVENT_SINK_DATABASE",
        "DBT_PROFILE_TARGET_DATABASE",
    }
    assert {database for database, _ in storage} <= {deployment.root.value(d) for d in databases}


def assert_answers_and_forum_figures(
    deployment: Deployment,
    rows: dict[str, list[dict[str, Any]]],
    labels: dict[str, str],
    names: dict[str, str],
) -> None:
    """The problem responses and forum charts, figure by figure, against the statements."""
    facts = [read_fact(statement) for statement in generated_statements(deployment)]
    # Answers: learners per answer at their first and final attempt, by the names shown.
    answers: Counter[tuple[Any, ...]] = Counter()
    for row in expected_problem_responses(facts):
        question = row["question_id"]
        shown = (
            names[row["course_key"]],
            labels.get(row["problem_id"], row["problem_id"]),
            f"Question {int(question.split('_')[0]) - 1}" if question else "",
            row["response"],
            "Correct" if row["correct"] else "Incorrect",
        )
        answers[(*shown, "first")] += row["first_attempt_learners"]
        answers[(*shown, "final")] += row["final_attempt_learners"]
    shown_answers: Counter[tuple[Any, ...]] = Counter()
    for row in rows["Answers per problem, first and final attempt"]:
        shown = tuple(row[c] for c in ("course_name", "problem_name", "question", "response"))
        shown_answers[(*shown, row["result"], "first")] += row["First attempt"]
        shown_answers[(*shown, row["result"], "final")] += row["Final attempt"]
    assert +shown_answers == +answers
    assert any(key[2] for key in answers), "no multi-question problem was answered"
    # The forum: threads and responses posted, votes, per thread, learner and week.
    titles = {f.thread: f.object_name for f in facts if f.post_type == "thread" and f.object_name}
    kinds = {("thread", "posted"): "Posts", ("reply", "posted"): "Responses"}
    threads: Counter[tuple[str, str, str]] = Counter()
    learners: Counter[tuple[str, str, str]] = Counter()
    weeks: Counter[tuple[str, str]] = Counter()
    for f in facts:
        figure = "Votes" if f.verb == "voted" else kinds.get((f.post_type, f.verb))
        if figure:
            course = names[f.course.key]
            threads[course, titles.get(f.thread, f.thread), figure] += 1
            learners[course, f.actor, figure] += 1
            monday = f.time.date() - timedelta(days=f.time.weekday())
            weeks[monday.isoformat(), figure] += 1
    assert sum(threads.values()) > 0, "no forum post generated"

    def shown(title: str, keys: tuple[str, ...]) -> Counter[tuple[Any, ...]]:
        found: Counter[tuple[Any, ...]] = Counter()
        for row in rows[title]:
            for figure in ("Posts", "Responses", "Votes"):
                found[(*(row[k] for k in keys), figure)] += row[figure]
        return +found

    assert shown("Forum activity per thread", ("course_name", "thread_name")) == threads
    assert shown("Forum activity per learner", ("course_name", "actor_id")) == learners
    per_week: Counter[tuple[Any, ...]] = Counter()
    for (day, figure), count in shown("Forum activity per week", ("activity_date",)).items():
        per_week[datetime.fromtimestamp(day / 1000, UTC).date().isoformat(), figure] += count
    assert per_week == weeks


def same_rows(rows: list[dict[str, Any]]) -> Counter[str]:
    """Rows regardless of order, a whole number the same whether a float or not."""

    def value(cell: Any) -> Any:
        return int(cell) if isinstance(cell, float) and cell.is_integer() else cell

    return Counter(
        json.dumps({key: value(cell) for key, cell in row.items()}, sort_keys=True) for row in rows
    )


def test_every_chart_answers_from_its_saved_query_context(deployment: Deployment) -> None:
    """
    /api/v1/chart/<id>/data runs the query context saved with the chart (as do scheduled
    reports): every chart of every dashboard answers it with the rows its params ask for, and
    Superset warms its cache from it.
    """
    config = deployment.root.config()
    with running_superset(deployment.superset()) as server:
        client: SupersetClient = server.client()
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        dashboards = client.get("/api/v1/dashboard/?q=(page_size:100)")["result"]
        on_dashboards = {
            chart["id"]
            for dashboard in dashboards
            for chart in client.get(f"/api/v1/dashboard/{dashboard['id']}/charts")["result"]
        }
        charts = client.get("/api/v1/chart/?q=(page_size:100)")["result"]
        assert on_dashboards == {chart["id"] for chart in charts}
        compare_saved_and_asked(client, sorted(on_dashboards))


def test_words_among_values_are_in_the_language_of_the_dashboard_or_the_interface(
    deployment: Deployment,
) -> None:
    """
    The datasets are shared by every language's dashboards: their words (enrollment status,
    pass status) come in the language of the dashboard a chart is shown in, as its chart data
    request names it (form_data.dashboardId), else in that of Superset's interface.
    """
    config = deployment.root.config()
    with running_superset(deployment.superset()) as server:
        client: SupersetClient = server.client()
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        charts = {}
        for chart in client.get("/api/v1/chart/?q=(page_size:100)")["result"]:
            saved = client.get(f"/api/v1/chart/{chart['id']}")["result"]
            charts[chart["slice_name"]] = json.loads(saved["params"])

        def shown(title: str, column: str, dashboard: str | None = None) -> Counter[str]:
            dashboard_id = None
            if dashboard:
                dashboard_id = client.get(f"/api/v1/dashboard/{dashboard}")["result"]["id"]
            rows = chart_data(client, charts[title], dashboard_id)
            return Counter({row[column]: row["Learners"] for row in rows})

        status, passing = "Learners by enrollment status", "Learners with a passing grade"
        english = shown(status, "enrollment_status")
        # Learners enrolled before collection began have no known status.
        assert set(english) == {"Enrolled", "Unenrolled", "Unknown"}, english
        french = shown(status, "enrollment_status", "learner-progress-fr")
        in_french = {"Enrolled": "Inscrit", "Unenrolled": "Désinscrit", "Unknown": "Inconnu"}
        assert french == {in_french[word]: count for word, count in english.items()}
        english_passing = shown(passing, "pass_status", "course-overview")
        assert set(english_passing) == {"Passing", "Not passing"}, english_passing
        spanish = shown(passing, "pass_status", "course-overview-es")
        assert spanish == {
            "Aprobado": english_passing["Passing"],
            "No aprobado": english_passing["Not passing"],
        }
        # Portuguese has no catalog: its copy is in English, values too.
        assert shown(status, "enrollment_status", "learner-progress-pt_BR") == english
        # Outside a dashboard (Explore), the language the person chose for Superset.
        assert client.request("GET", "/lang/es").status in (200, 302)
        assert set(shown(status, "enrollment_status")) == {
            "Inscrito",
            "Dado de baja",
            "Desconocido",
        }
        assert shown(status, "enrollment_status", "learner-progress-fr") == french


def test_a_chart_opens_one_connection_to_clickhouse(deployment: Deployment) -> None:
    """
    Superset takes the connection's default schema from its URI (tutoraspects'
    superset_default_schema.py): a chart's query, its cache bypassed, opens one connection to
    ClickHouse, whose set-up queries come before the chart's own; without it, three (13 requests).
    """
    config = deployment.root.config()
    with running_superset(deployment.superset()) as server:
        client: SupersetClient = server.client()
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        chart = client.get("/api/v1/chart/?q=(page_size:1)")["result"][0]
        path = f"/api/v1/chart/{chart['id']}/data/?force=true"
        assert client.request("GET", path).status == 200  # first use: imports, the dialect
        before = deployment.clickhouse.log().count("\n")
        reply = client.request("GET", path)
        requests = deployment.clickhouse.log().splitlines()[before:]
    assert reply.status == 200, reply.text[:500]
    # clickhouse-connect's three set-up queries, SQLAlchemy's first-connect one, the chart's.
    assert 0 < len(requests) <= 5, requests


# The engine spec as the rendered configuration leaves it, for connections to a closed port:
# the schema each URI gives, or the error of asking the server for it.
DEFAULT_SCHEMA_SCRIPT = """
from superset.app import create_app

app = create_app()
with app.app_context():
    from superset.db_engine_specs.clickhouse import ClickHouseConnectEngineSpec
    from superset.models.core import Database

    for path in ("/reporting", "", "/__default__"):
        database = Database(sqlalchemy_uri=f"clickhousedb://report@127.0.0.1:1{path}")
        try:
            schema = ClickHouseConnectEngineSpec.get_default_schema(database, None)
        except Exception as error:
            schema = "asked the server: " + type(error).__name__
        print(f"SCHEMA {path!r} {schema}")
"""


def test_the_default_schema_is_the_database_the_uri_names(deployment: Deployment) -> None:
    result = subprocess.run(
        [str(SUPERSET_BIN / "python"), "-c", DEFAULT_SCHEMA_SCRIPT],
        env=deployment.superset().environment(),
        cwd=deployment.home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    answers = [line for line in result.stdout.splitlines() if line.startswith("SCHEMA ")]
    assert len(answers) == 3, result.stderr[-3000:]
    named, unnamed, default = answers
    assert named == "SCHEMA '/reporting' reporting"
    # Nothing listens on port 1: asking the server fails, alike for both.
    assert unnamed.startswith("SCHEMA '' asked the server: ")
    assert default.startswith("SCHEMA '/__default__' asked the server: ")
    assert unnamed.split(": ")[1] == default.split(": ")[1] != "AttributeError"


# The storage chart's sizes on disk change as ClickHouse merges parts in the background,
# between the two requests of the chart: compared as present, not as equal.
SIZES_ON_DISK = "Bytes on disk"


def steady(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if SIZES_ON_DISK in row:
            assert row[SIZES_ON_DISK] > 0, row
    return [{key: cell for key, cell in row.items() if key != SIZES_ON_DISK} for row in rows]


def pivoted(rows: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """
    Rows as a time series chart's saved query gives them when it has series (groupby): one
    row per time, a column per metric and series ("Enrolled learners, audit"), null where a
    series has no row at that time.
    """
    groupby = params.get("groupby") or []
    if "x_axis" not in params or not groupby:
        return rows
    axis = params["x_axis"]
    labels = [
        metric["label"] if isinstance(metric, dict) else metric for metric in params["metrics"]
    ]

    def series(row: dict[str, Any]) -> str:
        return ", ".join(str(row[column]) for column in groupby)

    names = sorted({series(row) for row in rows})
    by_time: dict[Any, dict[str, Any]] = {}
    for row in rows:
        shown = by_time.setdefault(
            row[axis],
            {axis: row[axis], **{f"{label}, {name}": None for label in labels for name in names}},
        )
        for label in labels:
            shown[f"{label}, {series(row)}"] = row[label]
    return list(by_time.values())


def compare_saved_and_asked(client: SupersetClient, chart_ids: list[int]) -> None:
    """Each chart's saved query context gives the rows its params ask for; it warms the cache."""
    for chart_id in chart_ids:
        chart = client.get(f"/api/v1/chart/{chart_id}")["result"]
        title = chart["slice_name"]
        reply = client.request("GET", f"/api/v1/chart/{chart_id}/data/")
        assert reply.status == 200, (title, reply.status, reply.text[:500])
        saved = reply.json()["result"][0]["data"]
        params = json.loads(chart["params"])
        asked = pivoted(chart_data(client, params), params)
        assert saved, title
        assert same_rows(steady(saved)) == same_rows(steady(asked)), title
        warmed = client.put("/api/v1/chart/warm_up_cache", {"chart_id": chart_id})
        assert [result["viz_error"] for result in warmed["result"]] == [None], title


def test_time_charts_times_every_chart_of_the_english_dashboards(deployment: Deployment) -> None:
    """`do time-charts` on the Aspects dashboards: each chart timed, none left out."""
    options = [option for slug in superset.DASHBOARDS for option in ("--dashboard", slug)]
    output = deployment.root.run(
        *("local", "do", "time-charts", "--runs", "1", *options),
        **superset_job_environment(deployment.root, deployment.home),
    ).stdout
    assert "not timed" not in output
    for slug, (title, _) in superset.DASHBOARDS.items():
        charts = [superset.CHART_TITLES[chart] for chart in superset.dashboard_charts(slug)]
        assert f"{title} ({slug}), 1 runs, seconds:" in output
        assert f"all {len(set(charts))} charts, one after the other" in output, slug
        # All at once, as a browser asks for them, in threads of one Superset process.
        assert f"all {len(set(charts))} charts at once, as a browser asks" in output, slug
    # The course dashboard's tabs, each with the charts Superset loads when it is open.
    for tab, rows in superset.COURSE_TABS.items():
        charts = {chart for row in rows for chart in row}
        assert f"tab {tab}: {len(charts)} charts, one after the other" in output, tab


def test_importing_again_changes_no_object(deployment: Deployment) -> None:
    before = deployment.counts()
    assert "Asset bundle aspects:" in deployment.init_superset()
    assert deployment.counts() == before


def test_import_assets_twice_changes_no_object(deployment: Deployment) -> None:
    before = deployment.counts()
    for _ in range(2):
        environment = superset_job_environment(deployment.root, deployment.home)
        result = deployment.root.run("local", "do", "import-assets", **environment)
        assert "Asset bundle aspects:" in result.stdout + result.stderr
        assert deployment.counts() == before


# A plugin of an operator's: their own asset bundle, imported beside the aspects bundle.
OWN_BUNDLE_PLUGIN = """
from tutorsuperset.hooks import ASSETS

ASSETS.add_item({bundle!r})
"""


def dashboard_shape(client: SupersetClient, uuid: str) -> dict[str, Any]:
    """What a dashboard shows, whatever the instance: charts by uuid in its layout, filters."""
    dashboard = client.get(f"/api/v1/dashboard/{uuid}")["result"]
    position = json.loads(dashboard["position_json"])
    layout = {
        key: (node["type"], node.get("parents"), node.get("children"), {
            name: value for name, value in node.get("meta", {}).items() if name != "chartId"
        })
        for key, node in position.items()
        if isinstance(node, dict)
    }  # fmt: skip
    filters = [
        (f["name"], f["filterType"], [target.get("column") for target in f["targets"]])
        for f in json.loads(dashboard["json_metadata"])["native_filter_configuration"]
    ]
    charts = sorted(
        chart["slice_name"] for chart in client.get(f"/api/v1/dashboard/{uuid}/charts")["result"]
    )
    return {"title": dashboard["dashboard_title"], "layout": layout, "filters": filters,
            "charts": charts}  # fmt: skip


def test_a_dashboard_saved_in_superset_becomes_a_bundle_that_imports_it_the_same(
    deployment: Deployment,
    tmp_path: Path,
    mariadb_server: MariaDBServer,
    redis_server: RedisServer,
) -> None:
    """
    Saved as a new dashboard in Superset's UI, exported, turned into bundle files by
    `tutor aspects bundle-superset-export`, which check-superset-assets passes, and imported by
    another deployment: the same dashboard there, and importing it again changes nothing.
    """
    config = deployment.root.config()
    with running_superset(deployment.superset()) as server:
        client: SupersetClient = server.client()
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        original = client.get("/api/v1/dashboard/learner-progress")["result"]
        metadata = json.loads(original["json_metadata"])
        metadata["positions"] = json.loads(original["position_json"])
        copy = client.post(
            f"/api/v1/dashboard/{original['id']}/copy/",
            {
                "dashboard_title": "Our course team's view",
                "json_metadata": json.dumps(metadata),
                "duplicate_slices": False,
            },
        )["result"]
        # The copy leaves the shared deployment once exported: other tests count its dashboards.
        try:
            bundles = []
            for attempt in range(2):
                reply = client.request(
                    "GET", "/api/v1/dashboard/export/", params={"q": f"!({copy['id']})"}
                )
                assert reply.status == 200, reply.text[:300]
                archive = tmp_path / f"export-{attempt}.zip"
                archive.write_bytes(reply.body)
                bundle = tmp_path / f"bundle-{attempt}"
                output = deployment.root.run(
                    "aspects", "bundle-superset-export", str(archive), str(bundle)
                )
                assert f"written to {bundle}" in output.stdout
                bundles.append(
                    {
                        p.relative_to(bundle).as_posix(): p.read_text()
                        for p in bundle.rglob("*.yaml")
                    }
                )
            # The same objects exported again: the same files.
            assert bundles[0] == bundles[1]
            assert not any(
                "password" in text.lower() or config["ASPECTS_CLICKHOUSE_REPORT_PASSWORD"] in text
                for text in bundles[0].values()
            )
            [dashboard_file] = [p for p in bundles[0] if p.startswith("dashboards/")]
            uuid = yaml.safe_load(bundles[0][dashboard_file])["uuid"]
            shape = dashboard_shape(client, uuid)
        finally:
            client.delete(f"/api/v1/dashboard/{copy['id']}")
    assert shape["charts"] and shape["filters"]

    # Another deployment, with the operator's bundle.
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ownbundle.py").write_text(
        OWN_BUNDLE_PLUGIN.format(bundle=str(tmp_path / "bundle-0"))
    )
    root = TutorRoot(tmp_path / "fresh", plugins_root=plugins).save(
        ["clickhouse", "ralph", "superset", "aspects", "ownbundle"],
        {
            **deployment.clickhouse.tutor_settings(),
            **superset_settings(mariadb_server, redis_server, "superset_own_bundle", (9, 10)),
        },
    )
    fresh = Deployment(root, mariadb_server, tmp_path / "fresh-home")
    rendered = (
        root.path / "env" / "plugins" / "superset" / "build" / "superset" / "assets" / "bundle-0"
    )
    # Exits with 1 on a problem.
    root.run("aspects", "check-superset-assets", "--bundle", str(rendered))
    counts = []
    for _ in range(2):
        assert "Asset bundle bundle-0:" in fresh.init_superset()
        counts.append(fresh.counts())
    assert counts[0] == counts[1]
    with running_superset(fresh.superset()) as server:
        client = server.client()
        client.login(root.value("SUPERSET_ADMIN_USERNAME"), root.value("SUPERSET_ADMIN_PASSWORD"))
        assert dashboard_shape(client, uuid) == shape


PER_LEARNER = ("learner_details", "learner_problem_results", "learner_section_engagement")


def test_with_pii_the_per_learner_datasets_and_charts_name_learners(
    deployment: Deployment, tmp_path: Path
) -> None:
    settings = {
        key: deployment.root.value(key) for key in ("CLICKHOUSE_HOST", "CLICKHOUSE_HTTP_PORT")
    }
    root = TutorRoot(tmp_path / "root").save(
        ["clickhouse", "ralph", "superset", "aspects"], {**settings, "ASPECTS_ENABLE_PII": True}
    )
    assets = ("plugins", "superset", "build", "superset", "assets", "aspects")
    datasets = {
        name: yaml.safe_load(root.env_file(*assets, "datasets", "reporting", f"{name}.yaml"))
        for name in PER_LEARNER
    }
    for name, dataset in datasets.items():
        assert {"username", "name", "email"} <= {c["column_name"] for c in dataset["columns"]}
        chart = yaml.safe_load(root.env_file(*assets, "charts", f"{name}.yaml"))
        shown = chart["params"]["all_columns"]  # JSON, read by YAML as a mapping
        assert shown[shown.index("actor_id") + 1 : shown.index("actor_id") + 3] == [
            "username",
            "name",
        ], name
        context = json.loads(chart["query_context"])
        assert {"username", "name"} <= set(context["queries"][0]["columns"]), name
    # The report user may read the personal data tables, with PII only.
    for pii, expected in ((root, True), (deployment.root, False)):
        sql = "\n".join(script for _, script in pii.init_scripts("clickhouse"))
        assert ("GRANT SELECT ON event_sink.user_profile TO ch_report" in sql) is expected
    # Each dataset's SQL runs on the schema the migrations made, and joins the LMS's profile.
    client = deployment.clickhouse.client()
    [(actor,)] = client.query(
        "SELECT actor_id FROM reporting.problem_learner_attempts WHERE actor_id IN "
        "(SELECT actor_id FROM reporting.block_engagement_daily) ORDER BY actor_id LIMIT 1"
    ).result_rows
    client.command(
        "INSERT INTO event_sink.external_id (external_user_id, external_id_type, username, user_id,"
        f" dump_id, time_last_dumped) VALUES ('{actor}', 'xapi', 'ana', 7, generateUUIDv4(), '1')"
    )
    client.command(
        "INSERT INTO event_sink.user_profile (id, user_id, name, username, email, dump_id,"
        " time_last_dumped) VALUES"
        " (1, 7, 'Ana Lopez', 'ana', 'ana@example.com', generateUUIDv4(), '1')"
    )
    for name, dataset in datasets.items():
        rows = client.query(
            f"SELECT DISTINCT username, name, email FROM ({without_jinja(dataset['sql'])}) "
            f"WHERE actor_id = '{actor}'"
        ).result_rows
        assert rows == [("ana", "Ana Lopez", "ana@example.com")], name


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a-password-for-tests"


class OpenedDashboard(t.NamedTuple):
    chart_statuses: list[int]
    course_keys: set[str]  # in the rows of every chart and filter
    course_names: set[str]  # likewise
    alerts: list[str]
    native_filter_statuses: list[int]  # the values of its filters (chart data requests too)
    applied_filters: set[str]  # columns the charts' queries were filtered on


def open_page(signed_in: SignedIn, url: str, shot: Path) -> OpenedDashboard:
    """Open a page as the browser does, note what its charts got, and take a screenshot."""
    replies = []
    page = signed_in.page

    def note(reply: t.Any) -> None:
        if "/api/v1/chart/data" in reply.url:
            replies.append(reply)

    page.on("response", note)

    def drawn() -> None:
        # Superset draws a chart once it is scrolled into view: down a screen at a time to the
        # end, until every chart got its data; then back to the top, where the dashboard's
        # header sticks (a screenshot of the whole page shows it where the page was left).
        for _ in range(50):
            page.evaluate("window.scrollBy(0, window.innerHeight)")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            if page.evaluate("scrollY + innerHeight >= document.body.scrollHeight"):
                break
        for _ in range(120):  # polled from here: Superset's CSP refuses wait_for_function's eval
            if not page.evaluate("document.body.innerText.includes('Waiting on')"):
                break
            page.wait_for_timeout(500)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(1000)  # charts draw after their data arrives

    page.goto(url)
    page.wait_for_load_state("networkidle")
    drawn()
    page.screenshot(path=str(shot), full_page=True)
    # A dashboard in tabs draws a tab's charts when it is opened: open each.
    for number, tab in enumerate(page.locator(".dashboard-component-tabs [role='tab']").all()):
        tab.click()
        page.wait_for_load_state("networkidle")
        drawn()
        if number:  # the first tab is the page's own screenshot
            name = re.sub(r"[^a-z0-9]+", "-", tab.inner_text().strip().lower()).strip("-")
            page.screenshot(path=str(shot.with_stem(f"{shot.stem}-{name}")), full_page=True)
    page.remove_listener("response", note)
    course_keys, course_names, applied = set(), set(), set()
    for reply in replies:
        if reply.status == 200:
            for result in reply.json()["result"]:
                course_keys.update(
                    row["course_key"] for row in result["data"] if "course_key" in row
                )
                course_names.update(
                    row["course_name"] for row in result["data"] if "course_name" in row
                )
                applied.update(item["column"] for item in result.get("applied_filters") or [])
    alerts = page.locator(".ant-alert-error, [data-test='error-message']").all_inner_texts()
    native = [r.status for r in replies if "NATIVE_FILTER" in (r.request.post_data or "")]
    statuses = [reply.status for reply in replies]
    return OpenedDashboard(statuses, course_keys, course_names, alerts, native, applied)


def open_dashboard(
    signed_in: SignedIn, superset_url: str, slug: str, shot: Path
) -> OpenedDashboard:
    return open_page(signed_in, f"{superset_url}/superset/dashboard/{slug}/", shot)


def test_dashboards_in_a_browser_show_an_instructor_their_course_only(
    deployment: Deployment, tmp_path: Path
) -> None:
    courses = generated_courses(deployment)
    [(her_course_name,)] = (
        deployment.clickhouse.client()
        .query(f"SELECT course_name FROM reporting.course_names WHERE course_key = '{courses[0]}'")
        .result_rows
    )
    people = {
        "courses": [{"id": course, "name": course} for course in courses],
        "users": [
            {
                "username": "ida",
                "password": PASSWORD,
                "email": "ida@example.com",
                "name": "Ida",
                "is_staff": False,
                "is_superuser": False,
                "courses": {"instructor": [courses[0]]},
            },
        ],
    }
    config = deployment.root.config()
    lms_url = config["SUPERSET_LMS_INTERNAL_URL"]
    superset_port = free_port()
    with (
        running_lms(
            tmp_path / "lms",
            people,
            [f"http://127.0.0.1:{superset_port}/oauth-authorized/openedxsso"],
            port=int(lms_url.rsplit(":", 1)[1]),
            **superset_client_options(config),
        ),
        running_superset(deployment.superset(), port=superset_port) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ida = sign_in(browser, server.url, lms_url, "ida", PASSWORD)
        assert ida.status == 200, ida.text[:300]
        shown_keys, shown_names = set(), set()
        for slug in superset.COURSE_DASHBOARDS:
            shot = (SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path) / f"{slug}.png"
            opened = open_dashboard(ida, server.url, slug, shot)
            assert opened.chart_statuses and set(opened.chart_statuses) == {200}, (slug, opened)
            # Every chart asked for its data, those of every tab too.
            charts = len(superset.dashboard_charts(slug))
            assert len(opened.chart_statuses) >= charts, (slug, opened.chart_statuses)
            assert not opened.alerts, (slug, opened.alerts)
            assert opened.course_keys <= {courses[0]}, (slug, opened.course_keys)
            # Charts that show courses by name only (problem responses, forum) too.
            assert opened.course_names <= {her_course_name}, (slug, opened.course_names)
            if slug == "course-overview":
                # Its filters (organisation, course, run) ask for their values as she opens it.
                assert opened.native_filter_statuses == [200, 200, 200], opened
            shown_keys |= opened.course_keys
            shown_names |= opened.course_names
        # The course tables and the course filter did show her course.
        assert shown_keys == {courses[0]} and shown_names == {her_course_name}
        # A chart in Explore, with a simple filter of her own (what Explore sends).
        [(chart_id,)] = deployment.mariadb.query(
            "SELECT id FROM slices WHERE slice_name = 'Problem performance'",
            database=config["SUPERSET_DB_NAME"],
        )
        simple_filter = {
            "expressionType": "SIMPLE",
            "clause": "WHERE",
            "subject": "course_key",
            "operator": "IN",
            "comparator": courses,
        }
        # Explore keeps what is being edited under a key (as the page does when she edits).
        headers = {
            "X-CSRFToken": ida.page.locator("#csrf_token").get_attribute("value") or "",
            "Referer": server.url,
        }
        chart = ida.api.get(f"{server.url}/api/v1/chart/{chart_id}").json()["result"]
        form_data = {**json.loads(chart["params"]), "slice_id": int(chart_id)}
        form_data["adhoc_filters"] = [*form_data.get("adhoc_filters", []), simple_filter]
        [dataset_id, _] = form_data["datasource"].split("__")
        stored = ida.api.post(
            f"{server.url}/api/v1/explore/form_data",
            headers=headers,
            data={
                "datasource_id": int(dataset_id),
                "datasource_type": "table",
                "chart_id": int(chart_id),
                "form_data": json.dumps(form_data),
            },
        )
        assert stored.status == 201, stored.text()[:300]
        url = f"{server.url}/explore/?form_data_key={stored.json()['key']}&slice_id={chart_id}"
        explored = open_page(ida, url, tmp_path / "explore.png")
        assert explored.chart_statuses and set(explored.chart_statuses) == {200}, explored
        # The chart shows courses by name: hers only.
        [(name,)] = (
            deployment.clickhouse.client()
            .query(
                f"SELECT course_name FROM reporting.course_names WHERE course_key = '{courses[0]}'"
            )
            .result_rows
        )
        assert explored.course_names == {name} and not explored.alerts, explored
        assert "course_key" in explored.applied_filters, explored
        browser.close()


OPENEDX_STANDIN = Path(__file__).parent / "openedx_standin"
OPENEDX_PYTHON = Path(__file__).resolve().parents[2] / ".venv-openedx" / "bin" / "python"
# What platform-plugin-aspects' guest token view (SupersetTokenView.get) does for a course.
GUEST_TOKEN_VIEW = """
import json, sys
from types import SimpleNamespace
from django.conf import settings
from opaque_keys.edx.keys import CourseKey
from platform_plugin_aspects.utils import DEFAULT_FILTERS_FORMAT, generate_guest_token

dashboards = settings.ASPECTS_INSTRUCTOR_DASHBOARDS.copy()
if settings.ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS:
    dashboards.extend(settings.ASPECTS_IN_CONTEXT_DASHBOARDS.values())
token = generate_guest_token(
    user=SimpleNamespace(username="ida"),
    course=CourseKey.from_string(sys.argv[-1]),
    dashboards=dashboards,
    filters=DEFAULT_FILTERS_FORMAT + settings.SUPERSET_EXTRA_FILTERS_FORMAT,
)
print(json.dumps({"token": token}))
"""


def run_in_lms(deployment: Deployment, directory: Path, code: str, *args: str) -> Any:
    """
    Code run in the stand-in LMS with the deployment's LMS settings (the real
    platform-plugin-aspects); what it prints last, as JSON.
    """
    shutil.copytree(OPENEDX_STANDIN, directory, dirs_exist_ok=True)
    (directory / "code.py").write_text(code)
    settings_dir = deployment.root.path / "env" / "apps" / "openedx" / "settings"
    environ = {
        "PATH": os.environ["PATH"],
        "OPENEDX_STANDIN_DATABASE": str(directory / "openedx.sqlite3"),
        "OPENEDX_STANDIN_SETTINGS_DIR": str(settings_dir),
        "OPENEDX_STANDIN_LMS_ROOT_URL": "http://" + deployment.root.value("LMS_HOST"),
    }
    result = subprocess.run(
        [str(OPENEDX_PYTHON), "manage.py", "lms", "shell", "--command",
         f"import sys; sys.argv += {list(args)!r}; exec(open('code.py').read())"],
        cwd=directory, env=environ, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def lms_guest_token(deployment: Deployment, directory: Path, course: str) -> str:
    """A guest token, asked of Superset by the real platform-plugin-aspects (LMS settings)."""
    return run_in_lms(deployment, directory, GUEST_TOKEN_VIEW, course)["token"]


def guest_request(
    url: str, token: str | None, body: dict[str, Any] | None = None, referer: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """A request as the embedded dashboard's page makes it: the guest token in X-GuestToken."""
    headers = {"Content-Type": "application/json"}
    headers.update({"X-GuestToken": token} if token else {})
    headers.update({"Referer": referer} if referer else {})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def guest_chart_rows(
    server_url: str, token: str, dashboard_id: int, chart: dict[str, Any]
) -> tuple[int, list[dict[str, Any]]]:
    """A chart's data as the embedded dashboard asks for it, from the chart's saved form data."""
    form_data = {**chart["form_data"], "dashboardId": dashboard_id}
    body = {
        "datasource": {"id": form_data["datasource"].split("__")[0], "type": "table"},
        "form_data": form_data,
        "queries": [chart_query(form_data)],
        "result_format": "json",
        "result_type": "full",
    }
    status, _, payload = guest_request(f"{server_url}/api/v1/chart/data", token, body)
    rows = json.loads(payload)["result"][0]["data"] if status == 200 else []
    return status, rows


def test_the_lms_embeds_course_dashboards_for_one_course_with_a_guest_token(
    deployment: Deployment, tmp_path: Path
) -> None:
    courses = generated_courses(deployment)
    superset_port = free_port()
    server_url = f"http://127.0.0.1:{superset_port}"
    # The LMS reaches this Superset (in the platform: http://superset:8088).
    deployment.root.save((), {"SUPERSET_INTERNAL_URL": server_url})
    lms_origin = "http://" + deployment.root.value("LMS_HOST")
    with running_superset(deployment.superset(), port=superset_port):
        token = lms_guest_token(deployment, tmp_path / "lms", courses[0])
        slug = superset.INSTRUCTOR_DASHBOARDS[0]
        # What the instructor dashboard embeds for an English-speaking instructor.
        embedding = embedding_uuid(slug, "en")
        status, headers, _ = guest_request(
            f"{server_url}/embedded/{embedding}", None, None, lms_origin
        )
        assert status == 200
        assert f"frame-ancestors 'self' {lms_origin}" in headers["Content-Security-Policy"]
        elsewhere = guest_request(
            f"{server_url}/embedded/{embedding}", None, None, "http://elsewhere.example"
        )
        assert elsewhere[0] == 403
        # The embedded page's calls, as the guest, for each course dashboard.
        statuses, keys = {}, set()
        for slug in superset.INSTRUCTOR_DASHBOARDS:
            url = f"{server_url}/api/v1/dashboard/{superset.asset_uuid('dashboard', slug)}"
            status, _, payload = guest_request(url, token)
            assert status == 200, payload[:300]
            dashboard_id = json.loads(payload)["result"]["id"]
            status, _, payload = guest_request(
                f"{url.rsplit('/', 1)[0]}/{dashboard_id}/charts", token
            )
            assert status == 200, payload[:300]
            for chart in json.loads(payload)["result"]:
                status, rows = guest_chart_rows(server_url, token, dashboard_id, chart)
                statuses[chart["slice_name"]] = status
                keys.update(row["course_key"] for row in rows if "course_key" in row)
        assert set(statuses.values()) == {200}, statuses
        # The rows of the token's course only (the tables that show the course key).
        assert keys == {courses[0]}, keys
        # Without a token, or for a dashboard the token does not name, nothing.
        assert guest_request(f"{server_url}/api/v1/dashboard/{dashboard_id}", None)[0] in (401, 403)
        operator = superset.asset_uuid("dashboard", "operator")
        assert guest_request(f"{server_url}/api/v1/dashboard/{operator}", token)[0] in (403, 404)


# The legacy instructor dashboard's Reports section, as platform-plugin-aspects' filter step
# renders it for a course: its HTML and the scripts it adds.
REPORTS_SECTION = """
import json, sys
from types import SimpleNamespace
from crum import impersonate
from django.contrib.auth import get_user_model
from opaque_keys.edx.keys import CourseKey
from openedx_filters.learning.filters import InstructorDashboardRenderStarted

import os
from django.core.management import call_command

call_command("migrate", verbosity=0)
instructor, _ = get_user_model().objects.get_or_create(username="ida")
# Her language preference, as edx-platform keeps it (openedx_standin/edx_platform).
os.environ["OPENEDX_STANDIN_PEOPLE"] = "people.json"
with open("people.json", "w") as people:
    json.dump([{"id": instructor.id, "username": "ida", "language": "en"}], people)
context = {"course": SimpleNamespace(id=CourseKey.from_string(sys.argv[-1])), "sections": []}
with impersonate(instructor):
    context, _ = InstructorDashboardRenderStarted.run_filter(context, "instructor_dashboard_2.html")
[section] = context["sections"]
scripts = [r.data for r in section["fragment"].resources if r.mimetype == "application/javascript"]
print(json.dumps({"html": section["fragment"].content, "scripts": scripts}))
"""
EMBEDDED_SDK = (
    Path(__file__).resolve().parents[2]
    / ".npm"
    / "node_modules"
    / "@superset-ui"
    / "embedded-sdk"
    / "bundle"
)


def test_an_embedded_dashboard_outlives_its_guest_tokens(
    deployment: Deployment, tmp_path: Path
) -> None:
    """
    The Reports tab in a browser, its guest tokens living 20 s: the page that
    platform-plugin-aspects renders embeds the course overview with the embedded SDK, which
    asks the LMS for a new token before each expires; a chart refreshed once the first token
    has expired asks Superset with a valid one, and gets its rows.
    """
    courses = generated_courses(deployment)
    superset_port = free_port()
    server_url = f"http://127.0.0.1:{superset_port}"
    lifetime = 20
    deployment.root.save(
        (), {"SUPERSET_INTERNAL_URL": server_url, "SUPERSET_GUEST_TOKEN_EXP_SECONDS": lifetime}
    )
    lms_origin = "http://" + deployment.root.value("LMS_HOST")
    section = run_in_lms(deployment, tmp_path / "lms", REPORTS_SECTION, courses[0])
    config = deployment.root.config()
    # The browser reaches Superset on this machine's port rather than at its public host name.
    public_url = section["html"].split('window.superset_url = "', 1)[1].split('"', 1)[0]
    page_html = section["html"].replace(public_url, server_url + "/") + "".join(
        f"<script>{script}</script>" for script in section["scripts"]
    )
    tokens: list[str] = []

    def lms(route: t.Any) -> None:
        url = route.request.url
        if url.startswith(f"{lms_origin}/aspects/superset_guest_token/"):
            # platform-plugin-aspects' guest token view, for the course of the URL.
            assert url.endswith(courses[0]), url
            tokens.append(
                lms_guest_token(deployment, tmp_path / f"token-{len(tokens)}", courses[0])
            )
            route.fulfill(json={"guestToken": tokens[-1]})
        else:
            route.fulfill(body=page_html, content_type="text/html")

    chart_requests: list[tuple[int, str]] = []  # status, the guest token it carried

    def chart_data(response: t.Any) -> None:
        if "/api/v1/chart/data" in response.url:
            token = response.request.all_headers().get("x-guesttoken", "")
            chart_requests.append((response.status, token))

    try:
        with (
            running_superset(deployment.superset(), port=superset_port) as server,
            sync_playwright() as playwright,
        ):
            assert server.url == server_url
            # The LMS page is served by the test, from no address: Chromium would take it for
            # a public site and refuse it the local network, where Superset is here.
            args = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            sdk = (EMBEDDED_SDK / "index.js").read_text()
            context.route(
                "https://unpkg.com/@superset-ui/embedded-sdk",
                lambda route: route.fulfill(body=sdk, content_type="text/javascript"),
            )
            context.route(f"{lms_origin}/**", lms)
            context.on("response", chart_data)
            page = context.new_page()
            page.goto(f"{lms_origin}/courses/{courses[0]}/instructor#view-aspects")
            frame = page.wait_for_selector("iframe", timeout=60_000).content_frame()
            assert frame is not None
            frame.wait_for_selector('[aria-label="More Options"]', timeout=90_000)
            loaded = -1
            while loaded < len(chart_requests):  # until its charts stop asking
                loaded = len(chart_requests)
                page.wait_for_timeout(3_000)
            # Past two lifetimes: the SDK has asked for new tokens before each expiry.
            page.wait_for_timeout((2 * lifetime + 5) * 1000)
            assert len(tokens) >= 3, tokens
            # She asks a chart for fresh figures: it asks Superset with the current token.
            frame.locator('[aria-label="More Options"]').first.click()
            # The menu may open past the bottom of the frame: clicked where it is, unseen.
            frame.get_by_text("Force refresh").dispatch_event("click")
            page.wait_for_timeout(5_000)
            browser.close()
    finally:
        deployment.root.save((), {"SUPERSET_GUEST_TOKEN_EXP_SECONDS": 300})
    assert loaded and {status for status, _ in chart_requests[:loaded]} == {200}, chart_requests
    assert all(token == tokens[0] for _, token in chart_requests[:loaded])
    [(status, token)] = chart_requests[loaded:]
    assert status == 200
    # A token the LMS gave after the first expired, and itself still valid.
    assert token in tokens[2:], (token, tokens)
    expiries = [guest_token_claims(token)["exp"] for token in tokens]
    assert expiries == sorted(expiries) and expiries[-1] - expiries[0] >= 2 * lifetime - 10
    assert config["SUPERSET_GUEST_TOKEN_EXP_SECONDS"] == lifetime


def guest_token_claims(token: str) -> dict[str, Any]:
    """A guest token's claims (a JWT's payload; its signature is Superset's business)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
