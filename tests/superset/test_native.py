"""
The superset plugin's rendered init job, run by `tutor local do init` on this machine against a
real MariaDB (standing in for the platform's MySQL), then real Superset started with the
rendered superset_config.py. The LMS part of the init (registering the OAuth2 application)
needs an LMS, which cannot run here: the docker stand-in skips it, by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.mariadb import MariaDBServer
from tests.harness.secrets import found_in, secret_values
from tests.harness.superset import (
    Superset,
    rendered_superset,
    running_superset,
    superset_job_environment,
)
from tests.harness.tutor import TutorRoot

SECURITY_TABLES = ("ab_role", "ab_permission", "ab_view_menu", "ab_permission_view", "ab_user")
SECURITY_TABLES += ("ab_permission_view_role",)


class Deployment:
    def __init__(self, root: TutorRoot, mariadb: MariaDBServer, home: Path) -> None:
        self.root, self.mariadb, self.home = root, mariadb, home

    def init(self, log: Path) -> str:
        result = self.root.run(
            *("local", "do", "init", "--limit", "superset"),
            **superset_job_environment(self.root, self.home),
            TUTOR_DOCKER_SHIM_LOG=str(log),
        )
        return result.stdout + result.stderr

    def superset(self) -> Superset:
        return rendered_superset(self.root, self.home)

    def counts(self) -> dict[str, str | None]:
        return {
            table: self.mariadb.query(f"SELECT count(*) FROM {table}", database="superset")[0][0]
            for table in SECURITY_TABLES
        }


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, mariadb_server: MariaDBServer
) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("superset")
    root = TutorRoot(directory / "root").save(
        ["superset"],
        {
            "MYSQL_HOST": mariadb_server.host,
            "MYSQL_PORT": mariadb_server.port,
            "MYSQL_ROOT_USERNAME": mariadb_server.root_user,
            "MYSQL_ROOT_PASSWORD": mariadb_server.root_password,
        },
    )
    yield Deployment(root, mariadb_server, directory / "home")


def test_init_creates_the_database_the_schema_and_the_admin(deployment, tmp_path: Path) -> None:
    log = tmp_path / "jobs.jsonl"
    output = deployment.init(log)
    assert "Superset is initialised." in output
    jobs = [json.loads(line) for line in log.read_text().splitlines()]
    assert jobs == [
        {"service": "superset-job", "returncode": 0},
        {"service": "lms-job", "returncode": "skipped"},
    ]
    config = deployment.root.config()
    # No secret of the configuration, printed by Tutor (the scripts) or by the jobs.
    assert found_in(output, secret_values(config)) == []
    users = deployment.mariadb.query("SELECT User FROM mysql.user WHERE User = 'superset'")
    assert users == [("superset",)]
    admin = deployment.mariadb.query(
        "SELECT u.username, r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
        "JOIN ab_role r ON r.id = ur.role_id",
        database="superset",
    )
    # The admin, and the LMS's user, which may only grant guest tokens (embedded dashboards).
    assert sorted(admin) == sorted(
        [
            (config["SUPERSET_ADMIN_USERNAME"], "Admin"),
            (config["SUPERSET_LMS_USERNAME"], "Open edX LMS"),
        ]
    )
    lms_permissions = deployment.mariadb.query(
        "SELECT p.name, v.name FROM ab_permission_view_role pvr JOIN ab_role r ON r.id = "
        "pvr.role_id JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id JOIN "
        "ab_permission p ON p.id = pv.permission_id JOIN ab_view_menu v ON v.id = pv.view_menu_id "
        "WHERE r.name = 'Open edX LMS'",
        database="superset",
    )
    assert sorted(lms_permissions) == [
        ("can_grant_guest_token", "SecurityRestApi"),
        ("can_read", "SecurityRestApi"),
    ]

    # The course-staff role has exactly Gamma's permissions, user management aside.
    def permissions(role: str) -> set[tuple[str, str]]:
        return set(
            deployment.mariadb.query(
                "SELECT p.name, v.name FROM ab_permission_view_role pvr "
                "JOIN ab_role r ON r.id = pvr.role_id "
                "JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id "
                "JOIN ab_permission p ON p.id = pv.permission_id "
                f"JOIN ab_view_menu v ON v.id = pv.view_menu_id WHERE r.name = '{role}'",
                database="superset",
            )
        )

    gamma = permissions("Gamma")
    registrations = {(p, v) for p, v in gamma if v == "UserRegistrationsRestAPI"}
    assert registrations and len(gamma) > len(registrations)
    assert permissions("Course Staff") == gamma - registrations


def test_superset_runs_with_the_rendered_configuration(deployment) -> None:
    config = deployment.root.config()
    with running_superset(deployment.superset()) as server:
        client = server.client()
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        assert client.get("/api/v1/me/")["result"]["username"] == config["SUPERSET_ADMIN_USERNAME"]
        assert client.get("/api/v1/database/")["count"] == 0
        # Users come from the LMS: no self-registration or password-reset pages.
        for path in (
            "/register/",
            "/register/form",
            "/resetpassword/form",
            "/resetmypassword/form",
        ):
            assert client.request("GET", path).status == 404, path


def test_init_again_changes_nothing_and_applies_a_new_admin_password(
    deployment, tmp_path: Path
) -> None:
    before = deployment.counts()
    config = deployment.root.config()
    deployment.root.save(settings={"SUPERSET_ADMIN_PASSWORD": "a-new-admin-password"})
    try:
        assert "Superset is initialised." in deployment.init(tmp_path / "jobs.jsonl")
        assert deployment.counts() == before
        with running_superset(deployment.superset()) as server:
            server.client().login(config["SUPERSET_ADMIN_USERNAME"], "a-new-admin-password")
    finally:
        deployment.root.save(
            settings={"SUPERSET_ADMIN_PASSWORD": config["SUPERSET_ADMIN_PASSWORD"]}
        )
