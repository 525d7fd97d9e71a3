"""
The ClickHouse databases, users and grants of Aspects: rendered into the clickhouse init job,
run by `tutor local do init` against the embedded server, which checks each access-control
statement with the real ClickHouse parser and records it (see docs/embedded-clickhouse.md).
The matrix is asserted on what the server recorded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.tutor import TutorRoot

GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON (?P<target>\S+) TO (?P<user>\w+)"
    r"(?P<replace> WITH REPLACE OPTION)?$"
)
WRITE_PRIVILEGES = {"INSERT", "ALTER", "DROP", "CREATE", "TRUNCATE", "OPTIMIZE"}


class Deployment:
    """A Tutor root with the Aspects plugins, initialised against its own ClickHouse server."""

    def __init__(self, root: TutorRoot, server: ClickHouseServer) -> None:
        self.root, self.server = root, server

    def init(self) -> str:
        result = self.root.run("local", "do", "init", "--limit", "clickhouse")
        return result.stdout + result.stderr

    def recorded(self) -> list[str]:
        """The access statements the server recorded, as its parser formatted them."""
        return [entry["statement"].replace("`", "") for entry in self.server.access_log()]

    def grants(self) -> dict[str, set[tuple[str, str]]]:
        """user -> {(privilege, target)}, as the server recorded them, the last replace winning."""
        return grants_of(self.recorded())


def grants_of(statements: list[str]) -> dict[str, set[tuple[str, str]]]:
    """user -> {(privilege, target)} that formatted GRANTs give, the last replace winning."""
    granted: dict[str, set[tuple[str, str]]] = {}
    for statement in statements:
        match = GRANT.match(statement)
        if match:
            user = match["user"]
            if match["replace"]:
                granted[user] = set()
            for privilege in match["privileges"].split(", "):
                granted.setdefault(user, set()).add((privilege, match["target"]))
    return granted


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("aspects")
    with running_clickhouse(directory / "clickhouse") as server:
        root = TutorRoot(directory / "root").save(
            ["clickhouse", "ralph", "aspects"],
            server.tutor_settings(),
        )
        deployment = Deployment(root, server)
        deployment.output = deployment.init()
        yield deployment


def test_every_statement_is_accepted_by_the_parser_and_no_password_is_shown(deployment) -> None:
    config = deployment.root.config()
    assert "ClickHouse is initialised." in deployment.output
    for key in (
        "ASPECTS_CLICKHOUSE_LRS_PASSWORD",
        "ASPECTS_CLICKHOUSE_REPORT_PASSWORD",
        "ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD",
        "ASPECTS_CLICKHOUSE_CMS_PASSWORD",
        "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD",
        "CLICKHOUSE_ADMIN_PASSWORD",
    ):
        assert config[key] not in deployment.output
    assert any(
        s.startswith("CREATE SETTINGS PROFILE OR REPLACE aspects_report")
        for s in deployment.recorded()
    )
    assert {entry["user"] for entry in deployment.server.access_log()} == {deployment.server.user}


def test_grants_matrix(deployment) -> None:
    grants = deployment.grants()
    assert grants["ch_lrs"] == {
        ("INSERT", "xapi.xapi_events_all"),
        ("SELECT", "xapi.xapi_events_all"),
    }
    # Superset's user reads named tables (those of the dashboards' datasets, checked in
    # test_report_user_access.py) and the parts list of the storage chart; with PII off, no
    # personal data.
    report = grants["ch_report"]
    assert {privilege for privilege, _ in report} == {"SELECT"}
    assert {"reporting.course_enrollments_daily", "reporting.learner_course_status"} <= {
        target for _, target in report
    }
    assert all(target.startswith("reporting.") or target == "system.parts" for _, target in report)
    assert ("SELECT", "reporting.*") not in report
    assert ("SELECT", "reporting.xapi_events_parsed") not in report
    # The CMS writes the event sink tables, and deletes retired learners from those of PII.
    assert grants["ch_cms"] == {
        ("INSERT", "event_sink.*"),
        ("SELECT", "event_sink.*"),
        ("ALTER DELETE", "event_sink.user_profile"),
        ("ALTER DELETE", "event_sink.external_id"),
    }
    # `do delete-learner-data` reads and deletes rows in the three databases, nothing more.
    assert grants["ch_retirement"] == {
        (privilege, f"{database}.*")
        for privilege in ("SELECT", "ALTER DELETE")
        for database in ("xapi", "event_sink", "reporting")
    }
    migrations = grants["ch_migrations"]
    # Beyond its own, it reads the table of statements that Vector wrote for
    # tutor-contrib-aspects 6.x, which `do adopt-aspects-6` copies.
    assert {target for _, target in migrations} == {
        "xapi.*",
        "event_sink.*",
        "reporting.*",
        "openedx.xapi_events_all",
    }
    assert {p for p, target in migrations if target == "openedx.xapi_events_all"} == {"SELECT"}
    assert {"CREATE TABLE", "DROP TABLE", "ALTER", "INSERT", "SELECT"} <= {p for p, _ in migrations}
    # Nobody but the schema owner may change anything, and nobody has rights beyond Aspects.
    for user in ("ch_lrs", "ch_report", "ch_cms", "ch_retirement"):
        assert not {p for p, _ in grants[user]} & (WRITE_PRIVILEGES - {"INSERT"})
    assert not {p for p, _ in grants["ch_retirement"]} & WRITE_PRIVILEGES
    assert not {p for p, _ in grants["ch_report"]} & WRITE_PRIVILEGES
    assert all(target != "*.*" for user_grants in grants.values() for _, target in user_grants)


def test_report_profile_is_read_only_and_bounded_and_no_client_can_change_it(deployment) -> None:
    *_, profile = [
        statement
        for statement in deployment.recorded()
        if statement.startswith("CREATE SETTINGS PROFILE OR REPLACE aspects_report")
    ]
    settings = profile.removeprefix("CREATE SETTINGS PROFILE OR REPLACE aspects_report SETTINGS ")
    assert settings == (
        "readonly = 1 CONST, max_execution_time = 60 CONST, max_memory_usage = 4000000000 CONST, "
        "max_result_rows = 1000000 CONST, result_overflow_mode = 'break' CONST TO ch_report"
    )


def test_report_user_loses_table_functions_and_external_sources(deployment) -> None:
    revokes = {s for s in deployment.recorded() if s.startswith("REVOKE")}
    assert revokes == {"REVOKE CREATE ARBITRARY TEMPORARY TABLE, SOURCES ON *.* FROM ch_report"}


def test_each_user_logs_in_with_its_own_password(deployment) -> None:
    config = deployment.root.config()
    for name_key, password_key in (
        ("ch_lrs", "ASPECTS_CLICKHOUSE_LRS_PASSWORD"),
        ("ch_report", "ASPECTS_CLICKHOUSE_REPORT_PASSWORD"),
        ("ch_migrations", "ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD"),
        ("ch_cms", "ASPECTS_CLICKHOUSE_CMS_PASSWORD"),
        ("ch_retirement", "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"),
    ):
        client = deployment.server.client(name_key, config[password_key])
        assert client.command("SELECT 1") == 1
    with pytest.raises(Exception, match="AUTHENTICATION_FAILED"):
        deployment.server.client("ch_lrs", config["ASPECTS_CLICKHOUSE_REPORT_PASSWORD"])


def test_databases_exist_and_reruns_change_nothing(deployment) -> None:
    admin = deployment.server.client()
    databases = {row[0] for row in admin.query("SHOW DATABASES").result_rows}
    assert {"xapi", "event_sink", "reporting"} <= databases
    grants = deployment.grants()
    for _ in range(4):
        assert "ClickHouse is initialised." in deployment.init()
    assert deployment.grants() == grants
    assert {row[0] for row in admin.query("SHOW DATABASES").result_rows} == databases


def test_a_changed_password_is_applied_on_the_next_run(tmp_path: Path) -> None:
    with running_clickhouse(tmp_path / "clickhouse") as server:
        root = TutorRoot(tmp_path / "root").save(
            ["clickhouse", "ralph", "aspects"],
            server.tutor_settings(),
        )
        root.run("local", "do", "init", "--limit", "clickhouse")
        root.save(settings={"ASPECTS_CLICKHOUSE_LRS_PASSWORD": "a-new-lrs-password"})
        root.run("local", "do", "init", "--limit", "clickhouse")
        client = server.client("ch_lrs", "a-new-lrs-password")
        assert client.command("SELECT 1") == 1
