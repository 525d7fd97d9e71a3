"""
What plugins contribute through the superset plugin's hooks, applied by its init job (roles,
a database connection, an asset bundle, a row-level security filter, an SQL macro), and
row-level security at work: instructors of different courses signed in through the LMS each
get only their courses' rows from the chart data API, with their course lists cached for
SUPERSET_USER_COURSES_CACHE_TIMEOUT seconds and asked of the LMS again with a renewed token.
The stack (real Superset, MariaDB, Redis, the stand-in LMS, Chromium): conftest.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter

import pytest

from tests.harness.superset import SUPERSET_BIN, rendered_superset, superset_job_environment
from tests.superset.conftest import (
    COURSES_CACHE_TIMEOUT,
    DEMO_COURSE,
    ENROLLMENTS,
    JWT_EXPIRE_SECONDS,
    OTHER_COURSE,
    READER_PASSWORD,
    THIRD_COURSE,
    SignedIn,
    Stack,
)

SUPERSET_OBJECTS = (
    "ab_role",
    "ab_permission_view_role",
    "dbs",
    "tables",
    "table_columns",
    "sql_metrics",
    "slices",
    "row_level_security_filters",
    "rls_filter_roles",
    "rls_filter_tables",
)


def superset_query(stack: Stack, statement: str) -> list[tuple[str | None, ...]]:
    return stack.mariadb.query(statement, database=stack.metadata)


def dataset_id(stack: Stack) -> int:
    [(identifier,)] = superset_query(
        stack, "SELECT id FROM tables WHERE table_name = 'enrollments'"
    )
    return int(identifier)


def chart_result(stack: Stack, signed_in: SignedIn, force: bool = True, limit: int = 1000) -> dict:
    """The chart data API's answer to this person for the learners of each course."""
    query = {"columns": ["course_key", "learner"], "metrics": [], "row_limit": limit}
    body = {
        "datasource": {"id": dataset_id(stack), "type": "table"},
        "queries": [query],
        "result_format": "json",
        "result_type": "full",
        "force": force,  # forced: never Superset's result cache, each call runs the query
    }
    reply = signed_in.api.post(f"{stack.superset_url}/api/v1/chart/data", data=body)
    assert reply.status == 200, reply.text()[-300:] + "\n" + stack.superset.log()[-4000:]
    return reply.json()["result"][0]


def enrollment_rows(stack: Stack, signed_in: SignedIn) -> Counter[str]:
    """Learners per course, as the chart data API gives them to this person."""
    return Counter(row["course_key"] for row in chart_result(stack, signed_in)["data"])


def learners(*courses: str) -> Counter[str]:
    return Counter({course: len(ENROLLMENTS[course]) for course in courses})


class LmsDatabase:
    """The stand-in LMS's own database, to change a person's course roles under it."""

    def __init__(self, stack: Stack) -> None:
        self.path = stack.lms.data_dir / "lms.sqlite3"

    def execute(self, statement: str, *parameters: object) -> list[tuple]:
        with sqlite3.connect(self.path, timeout=20) as connection:
            return connection.execute(statement, parameters).fetchall()

    def user_id(self, username: str) -> int:
        return self.execute("SELECT id FROM auth_user WHERE username = ?", username)[0][0]

    def access_tokens(self, username: str) -> set[int]:
        statement = "SELECT id FROM oauth2_provider_accesstoken WHERE user_id = ?"
        return {row[0] for row in self.execute(statement, self.user_id(username))}


@pytest.fixture(scope="module")
def ida(stack: Stack) -> SignedIn:
    signed_in = stack.sign_in("ida_instructor")
    assert signed_in.status == 200, signed_in.text[:500]
    return signed_in


def test_init_applies_what_plugins_contribute(stack: Stack) -> None:
    # The course-staff role: Gamma's permissions but user management, plus the one the stand-in
    # plugin adds, and read access to the one dataset its row-level security filter covers.
    permissions = (
        "SELECT count(*) FROM ab_permission_view_role pvr JOIN ab_role r ON r.id = pvr.role_id "
        "JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id "
        "JOIN ab_permission p ON p.id = pv.permission_id "
        "JOIN ab_view_menu v ON v.id = pv.view_menu_id WHERE "
    )
    [(staff, gamma, registrations, extra)] = superset_query(
        stack,
        f"SELECT ({permissions} r.name = 'Course Staff'), ({permissions} r.name = 'Gamma'), "
        f"({permissions} r.name = 'Gamma' AND v.name = 'UserRegistrationsRestAPI'), "
        f"({permissions} r.name = 'Course Staff' AND v.name = 'Annotation')",
    )
    assert int(registrations) > 0  # what Superset gives Gamma, and the sync leaves out
    access = superset_query(
        stack,
        permissions.replace("count(*)", "p.name, v.name")
        + "r.name = 'Course Staff' AND p.name IN ('datasource_access', 'schema_access', "
        "'database_access', 'catalog_access', 'all_datasource_access', 'all_database_access')",
    )
    [(dataset_perm,)] = superset_query(
        stack, "SELECT perm FROM tables WHERE table_name = 'enrollments'"
    )
    assert access == [("datasource_access", dataset_perm)]
    # Plus the dataset its row-level security filter covers (datasource_access), and no other.
    assert (int(staff), int(extra)) == (int(gamma) - int(registrations) + 2, 1)
    # The database, with the URI of the DATABASES filter (password stored encrypted).
    [(uri, password)] = superset_query(
        stack, "SELECT sqlalchemy_uri, password FROM dbs WHERE database_name = 'courses_demo'"
    )
    assert uri.startswith("clickhousedb://courses_reader:XXXXXXXXXX@") and password
    # The bundle's dataset and chart, and the filter on that dataset for the role.
    assert superset_query(stack, "SELECT slice_name FROM slices") == [("Learners per course",)]
    rls = superset_query(
        stack,
        "SELECT f.name, f.filter_type, f.clause, r.name, t.table_name "
        "FROM row_level_security_filters f "
        "JOIN rls_filter_roles fr ON fr.rls_filter_id = f.id JOIN ab_role r ON r.id = fr.role_id "
        "JOIN rls_filter_tables ft ON ft.rls_filter_id = f.id JOIN tables t ON t.id = ft.table_id",
    )
    assert rls == [
        (
            "courses_demo: course staff see their courses",
            "Regular",
            '{{ can_view_courses("course_key") }}',
            "Course Staff",
            "enrollments",
        )
    ]


def test_each_instructor_sees_only_their_courses_rows(stack: Stack, ida: SignedIn) -> None:
    oscar = stack.sign_in("oscar_staff")
    assert oscar.status == 200, oscar.text[:500]
    assert enrollment_rows(stack, ida) == learners(DEMO_COURSE)
    assert enrollment_rows(stack, oscar) == learners(OTHER_COURSE)
    # Global staff (Admin) are not filtered.
    sam = stack.sign_in("sam_staff")
    assert enrollment_rows(stack, sam) == learners(DEMO_COURSE, OTHER_COURSE, THIRD_COURSE)


def test_cached_results_are_kept_apart_per_course(stack: Stack, ida: SignedIn) -> None:
    # Superset keys its result cache by the row-level security clauses: their text is the same
    # template for every instructor, so the key must hold what it renders to for each.
    oscar = stack.sign_in("oscar_staff")
    limit = 997  # a query no other test asks: nothing of it is in the cache yet

    def cached_rows(person: SignedIn) -> tuple[bool, Counter[str]]:
        result = chart_result(stack, person, force=False, limit=limit)
        return bool(result["is_cached"]), Counter(row["course_key"] for row in result["data"])

    assert cached_rows(ida) == (False, learners(DEMO_COURSE))
    assert cached_rows(oscar) == (False, learners(OTHER_COURSE))
    # The cache is at work: each gets their own cached rows back.
    assert cached_rows(ida) == (True, learners(DEMO_COURSE))
    assert cached_rows(oscar) == (True, learners(OTHER_COURSE))


def test_course_lists_are_cached_then_asked_again_with_a_renewed_token(stack: Stack) -> None:
    lms = LmsDatabase(stack)
    ida = stack.sign_in("ida_instructor")  # her course list is cached from now on
    assert enrollment_rows(stack, ida) == learners(DEMO_COURSE)
    # The LMS makes Ida staff of a third course: not seen while her list is cached...
    lms.execute(
        "INSERT INTO lms_courseaccessrole (user_id, org, course_id, role) VALUES (?, ?, ?, ?)",
        lms.user_id("ida_instructor"),
        "OpenedX",
        THIRD_COURSE,
        "staff",
    )
    try:
        assert enrollment_rows(stack, ida) == learners(DEMO_COURSE)
        # ...then seen, once the list and her access token have expired: Superset renewed the
        # token with the refresh token the LMS gave at sign-in (the LMS replaced her token).
        tokens = lms.access_tokens("ida_instructor")
        time.sleep(max(COURSES_CACHE_TIMEOUT, JWT_EXPIRE_SECONDS - 30) + 1)
        assert enrollment_rows(stack, ida) == learners(DEMO_COURSE, THIRD_COURSE)
        assert lms.access_tokens("ida_instructor") - tokens  # no sign-in since: renewed
    finally:
        lms.execute("DELETE FROM lms_courseaccessrole WHERE course_id = ?", THIRD_COURSE)


def test_contributed_sql_macros_are_available(stack: Stack) -> None:
    pythonpath = stack.root.path / "env" / "plugins" / "superset" / "apps" / "pythonpath"
    secrets = rendered_superset(stack.root, stack.home).env
    code = "import superset_config as c; print(sorted(c.JINJA_CONTEXT_ADDONS), c.shout('hi'))"
    result = subprocess.run(
        [str(SUPERSET_BIN / "python"), "-c", code],
        env={**secrets, "PYTHONPATH": str(pythonpath), "PATH": str(SUPERSET_BIN)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split("\n")[-2] == "['can_view_courses', 'shout'] HI"


def test_init_again_changes_nothing_and_prints_no_database_password(stack: Stack) -> None:
    def counts() -> dict[str, str | None]:
        return {
            t: superset_query(stack, f"SELECT count(*) FROM {t}")[0][0] for t in SUPERSET_OBJECTS
        }

    before = counts()
    result = stack.root.run(
        *("local", "do", "init", "--limit", "superset"),
        **superset_job_environment(stack.root, stack.home),
    )
    output = result.stdout + result.stderr
    assert "Asset bundle courses_demo: 5 files imported" in output
    assert READER_PASSWORD not in output
    assert counts() == before


def test_the_init_job_gets_database_uris_from_its_environment_only(stack: Stack) -> None:
    jobs = stack.root.compose_config(jobs=True)["services"]["superset-job"]
    uris = json.loads(jobs["environment"]["SUPERSET_DATABASES"])
    assert READER_PASSWORD in uris["courses_demo"]
    for name in ("superset_sync.py", "superset_config.py"):
        text = stack.root.env_file("plugins", "superset", "apps", "pythonpath", name)
        assert READER_PASSWORD not in text, name
