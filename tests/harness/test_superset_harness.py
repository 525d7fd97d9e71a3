"""
The Superset harness (tests/harness/superset.py) with a real Superset 6.1 whose metadata
database lives on the harness MariaDB: migrations, admin, roles, web server, REST API.

The config is the smallest one that runs: no Redis (caches off) and no Celery. The MariaDB fix
sits in a module next to it, as the plugin's pythonpath would hold it, which also proves the
config can import its siblings.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.harness.mariadb import MariaDBServer
from tests.harness.superset import Superset, SupersetClient, SupersetServer, running_superset

METADATA_DATABASE = "superset_harness"
METADATA_USER = "superset_harness"
METADATA_PASSWORD = "superset-harness-password"
ADMIN_USERNAME = "harness_admin"
ADMIN_PASSWORD = "harness-admin-password"
SECRET_KEY = "harness-secret-key-long-enough-for-superset-6-checks"

MARIADB_COMPAT = '''\
"""MariaDB as Superset's metadata database."""

from sqlalchemy.dialects.mysql.base import MySQLDialect

_mysql_initialize = MySQLDialect.initialize


def _initialize_without_sequences(self, connection):
    # MariaDB reports sequence support, but rejects Flask-AppBuilder's
    # CREATE SEQUENCE ... NO CYCLE: let the tables use AUTO_INCREMENT instead.
    _mysql_initialize(self, connection)
    self.supports_sequences = False


MySQLDialect.initialize = _initialize_without_sequences
'''

SUPERSET_CONFIG = """\
import mariadb_compat  # noqa: F401

SECRET_KEY = {secret_key!r}
SQLALCHEMY_DATABASE_URI = {database_uri!r}
CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
CELERY_CONFIG = None
"""

# Flask-AppBuilder's security tables, whose rows `superset init` creates
SECURITY_TABLES = ("ab_role", "ab_permission", "ab_view_menu", "ab_permission_view")
SECURITY_TABLES += ("ab_permission_view_role", "ab_user", "ab_user_role")


@dataclass
class InitialisedSuperset:
    superset: Superset
    database_uri: str
    outputs: dict[str, str]  # command → its output


@pytest.fixture(scope="module")
def initialised_superset(
    mariadb_server: MariaDBServer, tmp_path_factory: pytest.TempPathFactory
) -> InitialisedSuperset:
    """A metadata database on MariaDB, migrated, with an admin and Superset's roles."""
    mariadb_server.sql(f"""
        CREATE DATABASE {METADATA_DATABASE};
        CREATE USER {METADATA_USER}@'%' IDENTIFIED BY '{METADATA_PASSWORD}';
        GRANT ALL PRIVILEGES ON {METADATA_DATABASE}.* TO {METADATA_USER}@'%';
    """)
    database_uri = mariadb_server.url(METADATA_USER, METADATA_PASSWORD, METADATA_DATABASE)
    pythonpath = tmp_path_factory.mktemp("superset") / "pythonpath"
    pythonpath.mkdir()
    (pythonpath / "mariadb_compat.py").write_text(MARIADB_COMPAT)
    config_path = pythonpath / "superset_config.py"
    config_path.write_text(SUPERSET_CONFIG.format(secret_key=SECRET_KEY, database_uri=database_uri))
    superset = Superset(config_path)
    outputs = {
        "db upgrade": superset.command("db", "upgrade"),
        "fab create-admin": superset.create_admin(ADMIN_USERNAME, ADMIN_PASSWORD),
        "init": superset.command("init"),
    }
    return InitialisedSuperset(superset, database_uri, outputs)


@pytest.fixture(scope="module")
def superset_server(initialised_superset: InitialisedSuperset) -> Iterator[SupersetServer]:
    with running_superset(initialised_superset.superset) as server:
        yield server


@pytest.fixture
def admin_client(superset_server: SupersetServer) -> SupersetClient:
    client = superset_server.client()
    client.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    return client


def security_row_counts(mariadb_server: MariaDBServer) -> dict[str, int]:
    counts = {}
    for table in SECURITY_TABLES:
        [(count,)] = mariadb_server.query(f"SELECT COUNT(*) FROM {table}", METADATA_DATABASE)
        counts[table] = int(count or 0)
    return counts


def test_commands_ran_on_the_mariadb_metadata_database(
    initialised_superset: InitialisedSuperset, mariadb_server: MariaDBServer
) -> None:
    outputs = initialised_superset.outputs
    config_path = initialised_superset.superset.config_path
    assert f"Loaded your LOCAL configuration at [{config_path}]" in outputs["db upgrade"]
    assert "Context impl MySQLImpl." in outputs["db upgrade"]
    assert f"Admin User {ADMIN_USERNAME} created." in outputs["fab create-admin"]
    [(head,)] = mariadb_server.query("SELECT version_num FROM alembic_version", METADATA_DATABASE)
    assert head  # a migration head was recorded
    # AUTO_INCREMENT instead of sequences: no sequence objects in the metadata database
    sequences = mariadb_server.query(
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{METADATA_DATABASE}' AND table_type = 'SEQUENCE'"
    )
    assert sequences == []
    roles = mariadb_server.query("SELECT name FROM ab_role ORDER BY name", METADATA_DATABASE)
    assert {"Admin", "Alpha", "Gamma", "Public", "sql_lab"} <= {name for (name,) in roles}
    admin_roles = mariadb_server.query(
        "SELECT r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
        f"JOIN ab_role r ON r.id = ur.role_id WHERE u.username = '{ADMIN_USERNAME}'",
        METADATA_DATABASE,
    )
    assert admin_roles == [("Admin",)]


def test_health_answers_ok(superset_server: SupersetServer) -> None:
    with urllib.request.urlopen(f"{superset_server.url}/health", timeout=10) as reply:
        assert (reply.status, reply.read()) == (200, b"OK")
    assert superset_server.port > 0
    assert "Booting worker" in superset_server.log()


def test_admin_logs_in_through_the_api(superset_server: SupersetServer) -> None:
    client = superset_server.client()
    token = client.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    assert token.count(".") == 2  # a JWT: header.payload.signature
    me = client.get("/api/v1/me/")["result"]
    assert (me["username"], me["first_name"], me["last_name"]) == (
        ADMIN_USERNAME,
        "Superset",
        "Admin",
    )


def test_wrong_password_is_refused(superset_server: SupersetServer) -> None:
    reply = superset_server.client().request(
        "POST",
        "/api/v1/security/login",
        {"username": ADMIN_USERNAME, "password": "wrong", "provider": "db"},
    )
    assert (reply.status, reply.json()) == (401, {"message": "Not authorized"})


def test_databases_list_as_json(admin_client: SupersetClient) -> None:
    databases = admin_client.get("/api/v1/database/")
    assert (databases["count"], databases["result"]) == (0, [])


def test_writes_send_the_csrf_token(
    superset_server: SupersetServer,
    admin_client: SupersetClient,
    initialised_superset: InitialisedSuperset,
) -> None:
    # Without the token Superset refuses the write even with a valid JWT
    refused = urllib.request.Request(
        f"{superset_server.url}/api/v1/dashboard/",
        data=json.dumps({"dashboard_title": "Refused"}).encode(),
        headers={
            "Authorization": f"Bearer {admin_client.access_token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refusal:
        urllib.request.urlopen(refused, timeout=30)
    assert refusal.value.code == 400
    assert "The CSRF token is missing." in refusal.value.read().decode()

    dashboard = admin_client.post("/api/v1/dashboard/", {"dashboard_title": "Harness"})
    assert dashboard["result"] == {"dashboard_title": "Harness"}

    # A connection to MariaDB: the MySQL engine spec loads and connects from the web server
    connection = {
        "database_name": "harness-mariadb",
        "sqlalchemy_uri": initialised_superset.database_uri,
    }
    tested = admin_client.post("/api/v1/database/test_connection/", connection)
    assert tested == {"message": "OK"}
    created = admin_client.post("/api/v1/database/", connection)
    listed = admin_client.get("/api/v1/database/")
    assert [(db["id"], db["database_name"], db["backend"]) for db in listed["result"]] == [
        (created["id"], "harness-mariadb", "mysql")
    ]
    admin_client.delete(f"/api/v1/database/{created['id']}")
    admin_client.delete(f"/api/v1/dashboard/{dashboard['id']}")


def test_upgrade_and_init_again_change_nothing(
    initialised_superset: InitialisedSuperset, mariadb_server: MariaDBServer
) -> None:
    superset = initialised_superset.superset
    head = mariadb_server.query("SELECT version_num FROM alembic_version", METADATA_DATABASE)
    counts = security_row_counts(mariadb_server)
    assert counts["ab_role"] >= 5 and counts["ab_permission_view_role"] > 100

    superset.command("db", "upgrade")
    superset.command("init")
    again = superset.create_admin(ADMIN_USERNAME, ADMIN_PASSWORD)

    assert mariadb_server.query("SELECT version_num FROM alembic_version", METADATA_DATABASE) == (
        head
    )
    assert security_row_counts(mariadb_server) == counts
    assert "already exists" in again
