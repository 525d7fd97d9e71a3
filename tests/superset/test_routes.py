"""
An instructor sees her courses' rows only, whatever route of Superset she takes: SQL Lab and
saved queries are closed to course staff, database connections are not shown to them, exports
(CSV, Excel, the legacy explore_json CSV) hold her courses' rows only, no GET route of Superset
answers with another course's key or learners. Attacks through the query routes:
test_adversarial.py.
The stack (real Superset, MariaDB, Redis, the stand-in LMS, Chromium): conftest.py.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from collections import Counter
from urllib.parse import quote, quote_plus

import pytest
from playwright.sync_api import APIResponse

from tests.harness.superset import SUPERSET_BIN
from tests.superset.conftest import (
    DEMO_COURSE,
    ENROLLMENTS,
    OTHER_COURSE,
    READER_PASSWORD,
    THIRD_COURSE,
    SignedIn,
    Stack,
)
from tests.superset.test_rls import dataset_id, superset_query

TIMEOUT_MS = 60_000
# What another course's rows would show: its key (as such, in a URL, in a form) or a learner.
OTHER_KEYS = [
    form for key in (OTHER_COURSE, THIRD_COURSE) for form in (key, quote(key), quote_plus(key))
]
OTHER_LEARNERS = re.compile(
    r"(?<![A-Za-z0-9_])("
    + "|".join(
        learner for course in (OTHER_COURSE, THIRD_COURSE) for learner in ENROLLMENTS[course]
    )
    + r")(?![A-Za-z0-9_])"
)
# The database connection's user (in its URI) and password.
CONNECTION = ["courses_reader", READER_PASSWORD]
HER_ROWS = sorted((DEMO_COURSE, learner) for learner in ENROLLMENTS[DEMO_COURSE])

# Every GET route of Superset, from its own URL map (the rendered configuration, the plugin's
# security manager).
ROUTES_SCRIPT = """
import json
from superset.app import create_app

app = create_app()
rules = [
    {"rule": rule.rule, "methods": sorted(rule.methods or ()), "args": sorted(rule.arguments)}
    for rule in app.url_map.iter_rules()
]
print("ROUTES " + json.dumps(rules))
"""
# Routes not requested: signing out or in again (embedded dashboards' pages sign the browser out,
# to use a guest token), switching language, static files, and FAB's GET routes that change
# things (deletes, actions).
SKIPPED = re.compile(
    r"^/(static|logout|login|oauth-authorized|lang|embedded)\b|^/dashboard/[^/]+/embedded$"
    r"|/delete/|/action/"
)


def readable(body: bytes) -> str:
    """A response body as text; the sheets of an Excel file unzipped."""
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "\n".join(
                archive.read(name).decode(errors="replace") for name in archive.namelist()
            )
    return body.decode(errors="replace")


def leaks(body: bytes) -> list[str]:
    """What of other courses' rows, or of the database connection, a response body holds."""
    text = readable(body)
    found = [key for key in OTHER_KEYS if key in text]
    found += OTHER_LEARNERS.findall(text)
    return found + [secret for secret in CONNECTION if secret in text]


class Person:
    """Someone signed in, calling Superset as their browser does (CSRF token included)."""

    def __init__(self, stack: Stack, signed_in: SignedIn) -> None:
        self.url, self.signed_in = stack.superset_url, signed_in
        csrf = signed_in.page.locator("#csrf_token").get_attribute("value")
        assert csrf, "no CSRF token in Superset's page"
        self.headers = {"X-CSRFToken": csrf, "Referer": self.url}

    def get(self, path: str) -> APIResponse:
        api = self.signed_in.api
        return api.get(self.url + path, headers=self.headers, max_redirects=0, timeout=TIMEOUT_MS)

    def post(self, path: str, data: object = None, form: dict | None = None) -> APIResponse:
        return self.signed_in.api.post(
            self.url + path, data=data, form=form, headers=self.headers, timeout=TIMEOUT_MS
        )


@pytest.fixture(scope="module")
def ida(stack: Stack) -> Person:
    signed_in = stack.sign_in("ida_instructor")
    assert signed_in.status == 200, signed_in.text[:500]
    return Person(stack, signed_in)


@pytest.fixture(scope="module")
def ids(stack: Stack) -> dict[str, int]:
    [(chart,)] = superset_query(stack, "SELECT id FROM slices")
    [(database,)] = superset_query(stack, "SELECT id FROM dbs WHERE database_name = 'courses_demo'")
    return {"dataset": dataset_id(stack), "chart": int(chart), "database": int(database)}


def chart_data(
    ida: Person, ids: dict[str, int], query: dict, result_format: str = "json", result_type="full"
) -> APIResponse:
    body = {
        "datasource": {"id": ids["dataset"], "type": "table"},
        "queries": [{"columns": ["course_key", "learner"], "metrics": [], **query}],
        "result_format": result_format,
        "result_type": result_type,
        "force": True,
    }
    return ida.post("/api/v1/chart/data", data=body)


def rows(reply: APIResponse) -> list[tuple[str, ...]]:
    assert reply.status == 200, reply.text()[:500]
    return sorted(tuple(row.values()) for row in reply.json()["result"][0]["data"])


def legacy_chart(ids: dict[str, int]) -> dict[str, object]:
    """A chart of the legacy endpoint, of a type it still serves (parallel coordinates)."""
    return {
        "datasource": f"{ids['dataset']}__table",
        "viz_type": "para",
        "series": "course_key",
        "metrics": ["learners"],
        "row_limit": 1000,
    }


def csv_rows(text: str) -> list[tuple[str, ...]]:
    return sorted(tuple(line.split(",")) for line in text.strip().splitlines()[1:])


def test_sql_lab_and_saved_queries_are_closed_to_course_staff(
    ida: Person, ids: dict[str, int]
) -> None:
    database = ids["database"]
    select = "SELECT course_key, learner FROM courses_demo.enrollments"
    statuses = {
        "SQL Lab's page": ida.get("/sqllab/").status,
        "run SQL": ida.post(
            "/api/v1/sqllab/execute/",
            data={"database_id": database, "sql": select, "runAsync": False},
        ).status,
        "results of a query": ida.get("/api/v1/sqllab/results/?q=(key:'abc')").status,
        "export of a query": ida.get("/api/v1/sqllab/export/abc/").status,
        "estimate a query": ida.post(
            "/api/v1/sqllab/estimate/", data={"database_id": database, "sql": select}
        ).status,
        "format a query": ida.post("/api/v1/sqllab/format_sql/", data={"sql": select}).status,
        "queries run": ida.get("/api/v1/query/").status,
        "saved queries": ida.get("/api/v1/saved_query/").status,
        "save a query": ida.post(
            "/api/v1/saved_query/", data={"db_id": database, "label": "mine", "sql": select}
        ).status,
        "SQL Lab tab state": ida.post("/tabstateview/", form={"queryEditor": "{}"}).status,
        # Dashboards embedded elsewhere: a guest token names its own row-level security.
        "grant a guest token": ida.post(
            "/api/v1/security/guest_token/",
            data={"user": {"username": "x"}, "resources": [], "rls": []},
        ).status,
        "user registrations": ida.get("/api/v1/security/user_registrations/").status,
        "add a user registration": ida.post(
            "/api/v1/security/user_registrations/",
            data={"username": "x", "email": "x@example.com", "first_name": "x", "last_name": "x"},
        ).status,
    }
    assert statuses == {name: 403 for name in statuses}


def test_database_connections_are_not_shown_to_course_staff(
    ida: Person, ids: dict[str, int]
) -> None:
    database = ids["database"]
    statuses, counts = {}, {}
    for path in (
        "/api/v1/database/",
        "/api/v1/database/?q=(columns:!(sqlalchemy_uri,password,database_name))",
        f"/api/v1/database/{database}",
        f"/api/v1/database/{database}/connection",
        f"/api/v1/database/{database}/schemas/",
        f"/datasource/get/table/{ids['dataset']}/",
        f"/api/v1/dataset/{ids['dataset']}",
    ):
        reply = ida.get(path)
        assert not leaks(reply.body()), f"{path}: {reply.status} {reply.text()[:300]}"
        statuses[path] = reply.status
        if reply.status == 200 and "count" in reply.json():
            counts[path] = reply.json()["count"]
    print(f"\nDatabase connections as Ida: {statuses}")
    # The database of the dataset she reads is listed, by name and engine only (Superset shows
    # a database to whoever reads one of its datasets); its connection is not.
    assert list(statuses.values()) == [200, 200, 200, 403, 200, 200, 200]
    assert counts == {
        "/api/v1/database/": 1,
        "/api/v1/database/?q=(columns:!(sqlalchemy_uri,password,database_name))": 1,
    }
    tables = ida.get(f"/api/v1/database/{database}/tables/?q=(schema_name:courses_demo)").json()
    assert [table["value"] for table in tables["result"]] == ["enrollments"]
    # The statement SQL Lab would start with, no rows.
    reply = ida.get(f"/api/v1/database/{database}/select_star/enrollments/courses_demo/")
    assert (reply.status, reply.json()) == (
        200,
        {"result": 'SELECT\n  *\nFROM "courses_demo"."enrollments"\nLIMIT 100'},
    )


@pytest.fixture(scope="module")
def saved_query_context(stack: Stack, ids: dict[str, int]) -> None:
    """The chart's query as Explore saves it (the bundle has none), for /chart/<id>/data."""
    query_context = {
        "datasource": {"id": ids["dataset"], "type": "table"},
        "force": True,
        "queries": [{"columns": ["course_key", "learner"], "metrics": [], "row_limit": 1000}],
        "form_data": {"viz_type": "table", "datasource": f"{ids['dataset']}__table"},
        "result_format": "json",
        "result_type": "full",
    }
    text = json.dumps(query_context).replace("'", "''")
    stack.mariadb.query(
        f"UPDATE slices SET query_context = '{text}' WHERE id = {ids['chart']}",
        database=stack.metadata,
    )


@pytest.mark.usefixtures("saved_query_context")
def test_exports_hold_her_courses_rows_only(ida: Person, ids: dict[str, int]) -> None:
    # Instructors download their own courses' rows: what an operator expects of exports.
    for result_type in ("samples", "drill_detail"):
        reply = chart_data(ida, ids, {"row_limit": 1000}, result_type=result_type)
        assert reply.status == 200 and not leaks(reply.body()), reply.text()[:300]
        data = reply.json()["result"][0]["data"]
        assert sorted((row["course_key"], row["learner"]) for row in data) == HER_ROWS
    csv = chart_data(ida, ids, {"row_limit": 1000}, "csv")
    assert csv.status == 200, csv.text()[:300]
    assert csv_rows(csv.text()) == HER_ROWS
    xlsx = chart_data(ida, ids, {"row_limit": 1000}, "xlsx")
    assert xlsx.status == 200 and xlsx.body().startswith(b"PK")
    sheets = readable(xlsx.body())
    assert all(learner in sheets for learner in ENROLLMENTS[DEMO_COURSE]) and DEMO_COURSE in sheets
    assert not leaks(xlsx.body())
    saved = ida.get(f"/api/v1/chart/{ids['chart']}/data/?format=csv")
    assert saved.status == 200, saved.text()[:300]
    assert csv_rows(saved.text()) == HER_ROWS
    saved = ida.get(f"/api/v1/chart/{ids['chart']}/data/?format=xlsx")
    assert saved.status == 200 and not leaks(saved.body())
    # The legacy endpoint.
    form_data = legacy_chart(ids)
    legacy = ida.post("/superset/explore_json/?csv=true", form={"form_data": json.dumps(form_data)})
    assert legacy.status == 200, legacy.text()[:300]
    assert csv_rows(legacy.text()) == [(DEMO_COURSE, str(len(ENROLLMENTS[DEMO_COURSE])))]


def superset_routes(stack: Stack) -> list[dict]:
    environment = stack.superset.superset.environment()
    result = subprocess.run(
        [str(SUPERSET_BIN / "python"), "-c", ROUTES_SCRIPT],
        env=environment,
        cwd=stack.home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("ROUTES ")]
    assert lines, result.stderr[-3000:]
    return json.loads(lines[0].removeprefix("ROUTES "))


def path_of(rule: str, ids: dict[str, int], values: dict[str, str]) -> str:
    """A route's URL with the ids she can see (and sensible names) for its arguments."""

    def argument(match: re.Match) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        for prefix, key in (
            ("/api/v1/chart", "chart"),
            ("/superset/slice", "chart"),
            ("/api/v1/database", "database"),
            ("/api/v1/dataset", "dataset"),
            ("/dataset", "dataset"),
            ("/superset/explore", "dataset"),
            ("/datasource", "dataset"),
        ):
            if rule.startswith(prefix):
                return str(ids[key])
        return "1"

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", argument, rule)


@pytest.mark.usefixtures("saved_query_context")
def test_no_get_route_shows_another_courses_rows(
    stack: Stack, ida: Person, ids: dict[str, int]
) -> None:
    # Results an admin has just had, in Superset's cache: their key must give Ida nothing more.
    sam = Person(stack, stack.sign_in("sam_staff"))
    admin = chart_data(sam, ids, {"row_limit": 1000})
    assert len(rows(admin)) == sum(len(learners) for learners in ENROLLMENTS.values())
    values = {
        "table_name": "enrollments",
        "schema_name": "courses_demo",
        "column_name": "course_key",
        "datasource_type": "table",
        "cache_key": admin.json()["result"][0]["cache_key"],
        "id_or_slug": "1",
    }
    routes = superset_routes(stack)
    paths = sorted(
        {
            path_of(route["rule"], ids, values)
            for route in routes
            if "GET" in route["methods"] and not SKIPPED.search(route["rule"])
        }
    )
    # Routes whose query parameters say what to read.
    database, dataset = ids["database"], ids["dataset"]
    paths += [
        f"/api/v1/database/{database}/table_metadata/?name=enrollments&schema=courses_demo",
        f"/api/v1/database/{database}/table_metadata/extra/?name=enrollments&schema=courses_demo",
        f"/api/v1/database/{database}/tables/?q=(schema_name:courses_demo)",
        f"/explore/?datasource_type=table&datasource_id={dataset}",
        f"/api/v1/explore/?datasource_type=table&datasource_id={dataset}",
        f"/api/v1/chart/{ids['chart']}/data/?format=csv",
        f"/superset/explore_json/table/{dataset}/?csv=true",
    ]
    statuses: Counter[str] = Counter()
    leaked: dict[str, list[str]] = {}
    for path in paths:
        reply = ida.get(path)
        statuses[f"{reply.status // 100}xx"] += 1
        if found := leaks(reply.body()):
            leaked[path] = found
    print(f"\n{len(paths)} GET routes of {len(routes)} as Ida: {dict(sorted(statuses.items()))}")
    assert len(paths) > 200 and statuses["2xx"] > 50
    assert leaked == {}
