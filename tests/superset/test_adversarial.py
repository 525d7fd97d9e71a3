"""
Attacks on row-level security, sent as an instructor of one course (signed in through the LMS)
and as a guest of an embedded dashboard (a token for that course), through every route on which
Superset builds a query from a request: each is refused with a 4xx that says why, or answers
with her course's rows only. No answer holds another course's key or learner, or the database
connection's user or password (body and headers).

Course staff and guests send no SQL of their own: custom SQL, WHERE/HAVING and Jinja are refused
whatever they hold (query_guard.py), so the attacks below are refused without being read. The
classes are those a parser-based check loses to. The stack: conftest.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from tests.superset.conftest import DEMO_COURSE, ENROLLMENTS, Stack
from tests.superset.test_rls import superset_query
from tests.superset.test_routes import Person, leaks, readable

ENROLLMENTS_TABLE = "courses_demo.enrollments"
# The attacks name no other course nor learner, so that an answer that echoes one leaks nothing;
# other courses' learners sort after "d", hers before.
ATTACKS = {
    "parser disagreements": [
        "1 /* unterminated",
        "course_key /* /* nested */ ) OR (1=1 */",
        "x -- /*",
        "1=1 --\n) OR (1=1",
        "'a\\' OR 1=1 --'",
        "course_key = '\\\\' OR 1=1 -- '",
        "course_key \uff1d 'x' OR 1=1",  # a full-width equals sign
        "1=1\u2028OR 1=1",
        "course_key FROM courses_demo.enrollments UNION ALL SELECT course_key",
    ],
    "error oracles": [
        "toUInt8(learner)",
        "throwIf(learner > 'd', 'another course')",
        "1 / (learner < 'd')",
        "CAST(course_key AS Int32)",
        "intDiv(1, toUInt8(learner < 'd'))",
    ],
    "IN a table": [
        f"course_key IN {ENROLLMENTS_TABLE}",
        f"learner IN (SELECT learner FROM {ENROLLMENTS_TABLE})",
    ],
    "sub-queries": [
        f"(SELECT groupArray(learner) FROM {ENROLLMENTS_TABLE})",
        f"EXISTS (SELECT 1 FROM {ENROLLMENTS_TABLE} WHERE learner > 'd')",
    ],
    "UNION": [
        f"1=1) UNION ALL SELECT course_key, learner FROM {ENROLLMENTS_TABLE} --",
        f"learner UNION ALL SELECT course_key, learner FROM {ENROLLMENTS_TABLE} ORDER BY learner",
    ],
    "SETTINGS and FORMAT": [
        "1 SETTINGS readonly = 0",
        "1 FORMAT JSONEachRow",
        "1 SETTINGS additional_table_filters = {'courses_demo.enrollments': '1'}",
    ],
    "table functions": [
        "(SELECT count() FROM url('http://127.0.0.1:9/', CSV, 'a String'))",
        "(SELECT * FROM file('/etc/passwd', LineAsString))",
        f"(SELECT groupArray(learner) FROM remote('127.0.0.1', {ENROLLMENTS_TABLE}))",
        "(SELECT count() FROM system.tables)",
        "(SELECT count() FROM numbers(1e12))",
    ],
    "Jinja": [
        "{{ 'a' * 100000000 }}",
        "{% for x in range(10**9) %}{% endfor %}",
        "{{ can_view_courses('1=1 OR course_key') }}",
        "course_key = '{{ \"%c) OR (1=1) OR (%c\"|format(39, 39) }}'",
        "{{ current_username() }}",
        "{# a comment #}course_key",
    ],
}


def custom(text: str, label: str = "x") -> dict[str, str]:
    return {"label": label, "sqlExpression": text, "expressionType": "SQL"}


# Where a string can go in a query of the chart data API (the dataset: course_key, learner and
# the saved metric "learners").
PLACES: dict[str, Callable[[str], dict[str, Any]]] = {
    "custom SQL column": lambda text: {"columns": ["course_key", custom(text)]},
    "custom SQL metric": lambda text: {"columns": ["course_key"], "metrics": [custom(text)]},
    "custom SQL ORDER BY": lambda text: {"orderby": [[custom(text), True]]},
    "custom SQL filter column": lambda text: {
        "filters": [{"col": custom(text), "op": "IS NOT NULL"}]
    },
    "WHERE": lambda text: {"extras": {"where": text}},
    "HAVING": lambda text: {
        "columns": ["course_key"],
        "metrics": ["learners"],
        "extras": {"having": text},
    },
    "column name": lambda text: {"columns": ["course_key", text]},
    "metric name": lambda text: {"columns": ["course_key"], "metrics": [text]},
    "column label": lambda text: {"columns": ["course_key", custom("learner", label=text)]},
    "time grain": lambda text: {"extras": {"time_grain_sqla": text}},
    "filter operator": lambda text: {"filters": [{"col": "course_key", "op": text, "val": "x"}]},
    # Values are data: allowed, compared as literals.
    "filter value": lambda text: {"filters": [{"col": "course_key", "op": "==", "val": text}]},
    "filter values": lambda text: {"filters": [{"col": "learner", "op": "IN", "val": [text]}]},
    "LIKE filter": lambda text: {"filters": [{"col": "learner", "op": "LIKE", "val": text}]},
    # Values that are not text, a number or a list of them (Superset answered 500).
    "filter value in a list": lambda text: {
        "filters": [{"col": "learner", "op": "IN", "val": [[text]]}]
    },
    "filter value in an object": lambda text: {
        "filters": [{"col": "learner", "op": "==", "val": {"value": text}}]
    },
}
VALUE_PLACES = {"filter value", "filter values", "LIKE filter", "column label"}


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return readable(self.body)


class Guest:
    """A guest of the embedded dashboard, calling Superset as the embedded page does."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def post(self, path: str, data: object = None, form: dict | None = None) -> Reply:
        assert form is None, "guests post JSON only"
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(data).encode(),
            headers={"Content-Type": "application/json", "X-GuestToken": self.token},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return Reply(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())


def as_reply(response: Any) -> Reply:
    if isinstance(response, Reply):
        return response
    return Reply(response.status, response.headers, response.body())


class Ids(NamedTuple):
    dataset: int
    chart: int
    dashboard: int


@pytest.fixture(scope="module")
def ids(stack: Stack) -> Ids:
    [(dataset,)] = superset_query(stack, "SELECT id FROM tables WHERE table_name = 'enrollments'")
    [(chart,)] = superset_query(stack, "SELECT id FROM slices")
    [(dashboard,)] = superset_query(stack, "SELECT id FROM dashboards WHERE slug = 'courses'")
    return Ids(int(dataset), int(chart), int(dashboard))


@pytest.fixture
def guest(stack: Stack) -> Guest:
    # A token of its own for each test: one lives SUPERSET_GUEST_TOKEN_EXP_SECONDS (5 minutes),
    # less than this module takes on a loaded machine.
    return new_guest(stack)


@pytest.fixture(scope="module")
def ida(stack: Stack) -> Person:
    signed_in = stack.sign_in("ida_instructor")
    assert signed_in.status == 200, signed_in.text[:500]
    return Person(stack, signed_in)


def new_guest(stack: Stack) -> Guest:
    """A guest token for Ida's course, asked for as the LMS does (its Superset user)."""
    config = stack.root.config()
    client = stack.superset.client()
    client.login(config["SUPERSET_LMS_USERNAME"], config["SUPERSET_LMS_PASSWORD"])
    grant = {
        "user": {"username": "ida_guest"},
        "resources": [{"type": "dashboard", "id": "6a1d3c52-95b0-5bd5-8a3e-0f7c2d9e4b61"}],
        "rls": [{"clause": f"course_key = '{DEMO_COURSE}'"}],
    }
    return Guest(stack.superset_url, client.post("/api/v1/security/guest_token/", grant)["token"])


def chart_data(result_format: str = "json", result_type: str = "full") -> Callable:
    def route(person: Any, ids: Ids, query: dict[str, Any]) -> Reply:
        body = {
            "datasource": {"id": ids.dataset, "type": "table"},
            # The embedded dashboard's chart: what a guest may ask for.
            "form_data": {
                "slice_id": ids.chart,
                "dashboardId": ids.dashboard,
                "viz_type": "table",
                "groupby": ["course_key"],
                "metrics": ["learners"],
            },
            "queries": [{"columns": ["course_key"], "metrics": ["learners"], **query}],
            "result_format": result_format,
            "result_type": result_type,
            "force": True,
        }
        return as_reply(person.post("/api/v1/chart/data", data=body))

    return route


def dataset_samples(person: Any, ids: Ids, query: dict[str, Any]) -> Reply | None:
    """Drill to detail's samples of the dataset: it takes filters and extras only."""
    payload = {key: query[key] for key in ("filters", "extras") if key in query}
    if not payload:
        return None
    path = f"/datasource/samples?datasource_id={ids.dataset}&datasource_type=table&force=true"
    return as_reply(person.post(path, data=payload))


def legacy_form_data(ids: Ids, query: dict[str, Any]) -> dict[str, Any] | None:
    """The query as a chart of the legacy explore_json endpoint (parallel coordinates)."""
    form_data: dict[str, Any] = {
        "datasource": f"{ids.dataset}__table",
        "viz_type": "para",
        "series": "course_key",
        "metrics": query.get("metrics") or ["learners"],
        "row_limit": 1000,
        "adhoc_filters": [],
    }
    extras = query.get("extras") or {}
    for clause in ("where", "having"):
        if clause in extras:
            form_data["adhoc_filters"].append(
                {"expressionType": "SQL", "clause": clause.upper(), "sqlExpression": extras[clause]}
            )
    if "time_grain_sqla" in extras:
        form_data["time_grain_sqla"] = extras["time_grain_sqla"]
    for condition in query.get("filters") or []:
        form_data["adhoc_filters"].append(
            {
                "expressionType": "SIMPLE",
                "clause": "WHERE",
                "subject": condition["col"],
                "operator": condition["op"],
                "comparator": condition.get("val"),
            }
        )
    columns = [column for column in query.get("columns") or [] if column != "course_key"]
    if columns:
        form_data["series"] = columns[0]
    if "orderby" in query:
        return None  # the legacy endpoint takes no ORDER BY
    return form_data


def legacy(csv_export: bool) -> Callable:
    def route(person: Any, ids: Ids, query: dict[str, Any]) -> Reply | None:
        form_data = legacy_form_data(ids, query)
        if form_data is None:
            return None
        path = "/superset/explore_json/" + ("?csv=true" if csv_export else "")
        return as_reply(person.post(path, form={"form_data": json.dumps(form_data)}))

    return route


ROUTES: dict[str, Callable[[Any, Ids, dict[str, Any]], Reply | None]] = {
    "chart data": chart_data(),
    "chart data, CSV": chart_data("csv"),
    "chart data, Excel": chart_data("xlsx"),
    "chart data, samples": chart_data(result_type="samples"),
    "chart data, drill to detail": chart_data(result_type="drill_detail"),
    "dataset samples": dataset_samples,
    "legacy explore_json": legacy(csv_export=False),
    "legacy explore_json, CSV": legacy(csv_export=True),
}
# Guests have the chart data API only (explore_json and the dataset's samples need a login).
GUEST_ROUTES = [route for route in ROUTES if route.startswith("chart data")]


def course_keys(reply: Reply) -> set[str]:
    """The course keys in an answer's rows (JSON or CSV), wherever a column holds one."""
    text = reply.text()
    if text.lstrip().startswith("{"):
        payload = json.loads(text)
        results = payload.get("result") or [payload]
        rows = [row for result in results for row in result.get("data") or []]
        return {value for row in rows for value in row.values() if str(value).startswith("course")}
    if reply.body.startswith(b"PK"):
        return set()  # Excel: checked by leaks() only
    header, *rows = csv.reader(io.StringIO(text))
    return {value for row in rows for value in row if value.startswith("course")}


def refusal_message(reply: Reply) -> str:
    payload = json.loads(reply.body)
    return json.dumps(payload.get("message") or payload.get("errors") or payload.get("error"))


def outcome(reply: Reply, attack: str) -> str:
    """Checks one answer; says what it was."""
    found = leaks(reply.body) + leaks(json.dumps(reply.headers).encode())
    assert not found, f"{attack!r}: {reply.status} leaks {found}: {reply.text()[:500]}"
    if reply.status == 200:
        keys = course_keys(reply)
        assert keys <= {DEMO_COURSE}, f"{attack!r}: {keys} in {reply.text()[:500]}"
        return "her rows"
    assert reply.status in (400, 403, 422), f"{attack!r}: {reply.status} {reply.text()[:500]}"
    message = refusal_message(reply)
    assert message and message != "null", f"{attack!r}: {reply.status} without a message"
    return "refused: " + ("SQL" if "Only administrators may send" in message else "other")


# Routes that build their query from the whole request (samples and drill to detail keep its
# filters only): SQL anywhere in it is refused there.
WHOLE_QUERY_ROUTES = {"chart data", "chart data, CSV", "chart data, Excel", "legacy explore_json"}


def run_attacks(person: Any, ids: Ids, route: str, every_attack: bool) -> Counter[str]:
    """Each attack (or the first of each class) in each place, through the route."""
    outcomes: Counter[str] = Counter()
    for place, fragment in PLACES.items():
        for attacks in ATTACKS.values():
            for attack in attacks if every_attack else attacks[:1]:
                reply = ROUTES[route](person, ids, {"row_limit": 1000, **fragment(attack)})
                if reply is None:
                    continue
                kind = outcome(reply, f"{route} / {place} / {attack}")
                outcomes[kind] += 1
                # SQL is refused unread wherever it goes; only values may reach the database.
                if route in WHOLE_QUERY_ROUTES and place not in VALUE_PLACES:
                    assert kind != "her rows", (place, attack, kind)
    return outcomes


# In the default suite, the instructor sends every attack through the chart data API, and the
# first of each class through the other routes; the guest the first of each class everywhere
# (the same check in the same code). The slow test sends every attack through every route.
def attacks_everywhere(person: Any, who: str, ids: Ids, routes: list[str], every: bool) -> None:
    for route in routes:
        every_attack = every or (route == "chart data" and who == "Instructor")
        outcomes = run_attacks(person, ids, route, every_attack=every_attack)
        print(f"\n{who}, {route}: {dict(sorted(outcomes.items()))}")
        assert sum(outcomes.values()) >= len(ATTACKS) * len(PLACES) // 2


def test_attacks_as_an_instructor(ida: Person, ids: Ids) -> None:
    attacks_everywhere(ida, "Instructor", ids, list(ROUTES), every=False)


def test_attacks_as_a_guest(guest: Guest, ids: Ids) -> None:
    attacks_everywhere(guest, "Guest", ids, GUEST_ROUTES, every=False)


@pytest.mark.slow
def test_every_attack_through_every_route(stack: Stack, ida: Person, ids: Ids) -> None:
    attacks_everywhere(ida, "Instructor", ids, list(ROUTES), every=True)
    for route in GUEST_ROUTES:
        # A token lives 5 minutes (Superset's default): a new one for each route.
        attacks_everywhere(new_guest(stack), "Guest", ids, [route], every=True)


def test_simple_queries_still_answer_with_her_rows(ida: Person, guest: Guest, ids: Ids) -> None:
    # What dashboards send: columns, saved and simple metrics, simple filters, a time grain.
    simple_metric = {
        "expressionType": "SIMPLE",
        "column": {"column_name": "learner"},
        "aggregate": "COUNT_DISTINCT",
        "label": "distinct learners",
    }
    query = {
        "columns": ["course_key"],
        "metrics": ["learners", simple_metric],
        "filters": [{"col": "learner", "op": "IN", "val": ENROLLMENTS[DEMO_COURSE] + ["dee"]}],
        "orderby": [[simple_metric, False]],
        "extras": {"time_grain_sqla": "P1D", "where": "", "having": ""},
    }
    learners = len(ENROLLMENTS[DEMO_COURSE])
    reply = ROUTES["chart data"](ida, ids, query)
    assert reply.status == 200, reply.text()[:500]
    assert json.loads(reply.body)["result"][0]["data"] == [
        {"course_key": DEMO_COURSE, "learners": learners, "distinct learners": learners}
    ]
    # A guest may not change the embedded chart's columns and metrics (Superset's own check).
    query = {key: query[key] for key in ("filters", "extras")}
    reply = ROUTES["chart data"](guest, ids, query)
    assert reply.status == 200, reply.text()[:500]
    assert json.loads(reply.body)["result"][0]["data"] == [
        {"course_key": DEMO_COURSE, "learners": learners}
    ]


def test_dashboard_export_with_data_is_for_administrators(
    stack: Stack, ida: Person, ids: Ids
) -> None:
    # Superset 6.1 writes every row of a dashboard's datasets into this export, row-level
    # security aside, for anyone who may read the dashboard.
    path = f"/api/v1/dashboard/{ids.dashboard}/export_as_example/"
    reply = ida.get(path)
    assert (reply.status, reply.json()) == (
        403,
        {"message": "Only administrators may use this route"},
    )
    sam = Person(stack, stack.sign_in("sam_staff"))
    export = sam.get(path)
    assert export.status == 200 and export.body().startswith(b"PK")
    assert leaks(export.body()), "the admin's export holds every course's rows"


def test_database_errors_reach_non_administrators_as_an_id(
    stack: Stack, ida: Person, guest: Guest, ids: Ids
) -> None:
    # Text compared with a number passes Superset and fails in the database.
    failing = {"filters": [{"col": "learner", "op": ">", "val": 5}]}
    sam = Person(stack, stack.sign_in("sam_staff"))
    admin = ROUTES["chart data"](sam, ids, failing)
    assert admin.status == 400 and "Code: " in admin.text(), admin.text()[:500]
    for person in (ida, guest):
        reply = ROUTES["chart data"](person, ids, failing)
        assert reply.status == 400, reply.text()[:500]
        message = json.loads(reply.body)["message"]
        match = re.fullmatch(
            r"Error: The query failed \(error (\w{12})\)\. An administrator finds the "
            r"database's message in Superset's log under this id\.",
            message,
        )
        assert match, message
        error_id = match.group(1)
        assert "Code: " not in reply.text() and "supertype" not in reply.text()
        # The log holds the database's message under the id.
        [logged] = [line for line in stack.superset.log().splitlines() if error_id in line]
        assert "Code: " in logged, logged
