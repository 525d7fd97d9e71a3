"""
`tutor local do import-assets`: the superset job applies again what plugins contribute (roles,
database connections, asset bundles, row-level security filters), putting back what was changed
by hand in Superset, without ever duplicating an object, and without printing a password. Run on
the stack of conftest.py (real Superset and MariaDB, the stand-in plugin's contributions).
"""

from __future__ import annotations

import typing as t

import pytest

from tests.harness.secrets import found_in, secret_values
from tests.harness.superset import superset_job_environment
from tests.harness.tutor import TutorRoot
from tests.superset.conftest import READER_PASSWORD, Stack
from tests.superset.test_rls import SUPERSET_OBJECTS, superset_query

CHART = "Learners per course"
RLS_FILTER = "courses_demo: course staff see their courses"


def counts(stack: Stack) -> dict[str, t.Any]:
    return {
        table: superset_query(stack, f"SELECT count(*) FROM {table}")[0][0]
        for table in SUPERSET_OBJECTS
    }


def import_assets(stack: Stack) -> str:
    result = stack.root.run(
        "local", "do", "import-assets", **superset_job_environment(stack.root, stack.home)
    )
    return result.stdout + result.stderr


def staff_permissions(stack: Stack) -> list[tuple[str | None, ...]]:
    return superset_query(
        stack,
        "SELECT pvr.id FROM ab_permission_view_role pvr JOIN ab_role r ON r.id = pvr.role_id "
        "JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id "
        "JOIN ab_permission p ON p.id = pv.permission_id "
        "WHERE r.name = 'Course Staff' AND p.name = 'datasource_access'",
    )


def test_import_assets_twice_changes_no_count_and_prints_no_secret(stack: Stack) -> None:
    before = counts(stack)
    config = stack.root.config()
    for _ in range(2):
        output = import_assets(stack)
        assert "Asset bundle courses_demo: 5 files imported" in output, output[-3000:]
        assert "Row-level security filter courses_demo" in output
        assert counts(stack) == before
        secrets = {**secret_values(config), "the reader's password": READER_PASSWORD}
        assert found_in(output, secrets) == []


def test_import_assets_puts_back_what_was_changed_in_superset(stack: Stack) -> None:
    before = counts(stack)
    [(permission,)] = staff_permissions(stack)
    statements = [
        f"UPDATE slices SET slice_name = 'Renamed by hand' WHERE slice_name = '{CHART}'",
        f"UPDATE row_level_security_filters SET clause = '1 = 1' WHERE name = '{RLS_FILTER}'",
        "DELETE FROM rls_filter_tables",
        f"DELETE FROM ab_permission_view_role WHERE id = {permission}",
        "UPDATE dbs SET sqlalchemy_uri = 'clickhousedb://nobody@nowhere:1/none' "
        "WHERE database_name = 'courses_demo'",
    ]
    for statement in statements:
        stack.mariadb.query(statement, database=stack.metadata)
    assert counts(stack) != before

    import_assets(stack)
    assert counts(stack) == before
    assert superset_query(stack, "SELECT slice_name FROM slices") == [(CHART,)]
    assert superset_query(
        stack,
        "SELECT f.clause, t.table_name FROM row_level_security_filters f "
        "JOIN rls_filter_tables ft ON ft.rls_filter_id = f.id JOIN tables t ON t.id = ft.table_id",
    ) == [('{{ can_view_courses("course_key") }}', "enrollments")]
    assert len(staff_permissions(stack)) == 1
    [(uri,)] = superset_query(
        stack, "SELECT sqlalchemy_uri FROM dbs WHERE database_name = 'courses_demo'"
    )
    assert uri.startswith("clickhousedb://courses_reader:XXXXXXXXXX@")


@pytest.fixture(scope="module")
def superset_root(make_root: t.Callable[..., TutorRoot]) -> TutorRoot:
    return make_root(["superset"])


@pytest.mark.parametrize("mode", ["local", "dev", "k8s"])
def test_import_assets_is_a_do_command_of_every_mode(superset_root: TutorRoot, mode: str) -> None:
    assert "import-assets" in superset_root.run(mode, "do", "--help").stdout
