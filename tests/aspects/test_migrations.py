"""
The ClickHouse schema migrations (tutoraspects/job/migrations), run as the job runs them: the
`alembic` command, configured by environment variables only, as a user that is not the admin,
against the embedded ClickHouse server. Tables are asserted on what the engine reports.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import clickhouse_connect
import jinja2
import pytest

from tests.harness.fixtures import ClickHouseServer

JOB_FOLDER = Path(__file__).resolve().parents[2] / "tutor-contrib-aspects/tutoraspects/job"
MIGRATIONS = JOB_FOLDER / "migrations"
ALEMBIC_INI = MIGRATIONS / "alembic.ini"
VERSION_TABLE = "aspects_schema_version"
FIVE_YEARS = "toDateTime(emission_time) + INTERVAL 5 YEAR"
CLUSTER = "aspects_cluster"

RAW_TABLE = """CREATE TABLE {xapi}.xapi_events_all
(
    `event_id` UUID,
    `emission_time` DateTime64(6, 'UTC'),
    `event` String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(emission_time)
ORDER BY (emission_time, event_id){ttl}
SETTINGS index_granularity = 8192"""
RAW_TABLE_TTL = "\nTTL toDateTime(emission_time) + toIntervalYear(5)"
COURSE_OVERVIEWS = """CREATE TABLE {event_sink}.course_overviews
(
    `org` String,
    `course_key` String,
    `display_name` String,
    `course_start` String,
    `course_end` String,
    `dump_id` UUID,
    `time_last_dumped` String
)
ENGINE = ReplacingMergeTree
PRIMARY KEY (org, course_key)
ORDER BY (org, course_key, time_last_dumped)
SETTINGS index_granularity = 8192"""
COURSE_BLOCKS = """CREATE TABLE {event_sink}.course_blocks
(
    `org` String,
    `course_key` String,
    `location` String,
    `display_name` String,
    `block_type` String,
    `section` UInt32,
    `subsection` UInt32,
    `unit` UInt32,
    `graded` Bool,
    `dump_id` UUID,
    `time_last_dumped` String
)
ENGINE = ReplacingMergeTree
PRIMARY KEY (org, course_key, location)
ORDER BY (org, course_key, location, time_last_dumped)
SETTINGS index_granularity = 8192"""
# The course tables as revision 0003 leaves them: the columns platform-plugin-aspects sends
# (tests/aspects/test_event_sink.py), the block's type and position taken from its JSON.
COURSE_OVERVIEWS_0003 = """CREATE TABLE {event_sink}.course_overviews
(
    `org` String,
    `course_key` String,
    `display_name` String,
    `course_start` String,
    `course_end` String,
    `enrollment_start` String DEFAULT '',
    `enrollment_end` String DEFAULT '',
    `self_paced` Bool DEFAULT false,
    `course_data_json` String DEFAULT '{{}}',
    `created` String DEFAULT '',
    `modified` String DEFAULT '',
    `dump_id` UUID,
    `time_last_dumped` String
)
ENGINE = ReplacingMergeTree
PRIMARY KEY (org, course_key)
ORDER BY (org, course_key, time_last_dumped)
SETTINGS index_granularity = 8192"""
COURSE_BLOCKS_0003 = """CREATE TABLE {event_sink}.course_blocks
(
    `org` String,
    `course_key` String,
    `location` String,
    `display_name` String,
    `xblock_data_json` String DEFAULT '{{}}',
    `order` Int32 DEFAULT 0,
    `edited_on` String DEFAULT '',
    `block_type` String MATERIALIZED JSONExtractString(xblock_data_json, 'block_type'),
    `section` UInt32 MATERIALIZED JSONExtractUInt(xblock_data_json, 'section'),
    `subsection` UInt32 MATERIALIZED JSONExtractUInt(xblock_data_json, 'subsection'),
    `unit` UInt32 MATERIALIZED JSONExtractUInt(xblock_data_json, 'unit'),
    `graded` Bool MATERIALIZED JSONExtractUInt(xblock_data_json, 'graded') = 1,
    `dump_id` UUID,
    `time_last_dumped` String
)
ENGINE = ReplacingMergeTree
PRIMARY KEY (org, course_key, location)
ORDER BY (org, course_key, location, time_last_dumped)
SETTINGS index_granularity = 8192"""
EVENT_SINK_TABLES = [
    "course_blocks",
    "course_enrollment",
    "course_overviews",
    "external_id",
    "object_tag",
    "tag",
    "taxonomy",
    "user_profile",
]
REVISION_0003 = "Give the event sink tables the columns platform-plugin-aspects sends."
VERSION_TABLE_DDL = f"""CREATE TABLE {{xapi}}.{VERSION_TABLE}
(
    `version_num` String
)
ENGINE = MergeTree
ORDER BY version_num
SETTINGS index_granularity = 8192"""


def admin_client(server: ClickHouseServer):
    return clickhouse_connect.get_client(
        host=server.host, port=server.port, username=server.user, password=server.password
    )


def run_alembic(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The job's command line, with only the given migration settings in its environment."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ASPECTS_", "CLICKHOUSE_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args],
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


class Schema:
    """Databases of one test on the shared server, owned by a migrations user of its own."""

    def __init__(self, server: ClickHouseServer) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.server = server
        self.xapi = f"xapi_mig_{suffix}"
        self.event_sink = f"event_sink_mig_{suffix}"
        self.user = f"ch_migrations_{suffix}"
        self.password = f"password-{suffix}"
        self.admin = admin_client(server)

    def create(self) -> None:
        """What the clickhouse init job does with the admin user before migrations run."""
        for database in (self.xapi, self.event_sink):
            self.admin.command(f"CREATE DATABASE {database}")
        self.admin.command(
            f"CREATE USER {self.user} IDENTIFIED WITH plaintext_password BY '{self.password}'"
        )

    def drop(self) -> None:
        for database in (self.xapi, self.event_sink):
            self.admin.command(f"DROP DATABASE IF EXISTS {database}")

    def environment(self, **overrides: str) -> dict[str, str]:
        return {
            "ASPECTS_CLICKHOUSE_HOST": self.server.host,
            "ASPECTS_CLICKHOUSE_PORT": str(self.server.port),
            "ASPECTS_CLICKHOUSE_SECURE": "false",
            "ASPECTS_CLICKHOUSE_USER": self.user,
            "ASPECTS_CLICKHOUSE_PASSWORD": self.password,
            "ASPECTS_XAPI_DATABASE": self.xapi,
            "ASPECTS_RAW_XAPI_TABLE": "xapi_events_all",
            "ASPECTS_EVENT_SINK_DATABASE": self.event_sink,
            "ASPECTS_REPORTING_DATABASE": "reporting",
            "ASPECTS_DATA_TTL_EXPRESSION": "",
            "CLICKHOUSE_CLUSTER_NAME": "",
            **overrides,
        }

    def alembic(self, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return run_alembic(self.environment(**overrides), *args)

    def migrate(self, *args: str, **overrides: str) -> str:
        """Run alembic, expecting success; its standard output."""
        result = self.alembic(*args, **overrides)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def tables(self, database: str) -> list[str]:
        return [name for (name,) in self.admin.query(f"SHOW TABLES FROM {database}").result_rows]

    def show_create(self, table: str) -> str:
        return self.admin.query(f"SHOW CREATE TABLE {table}").result_rows[0][0]

    def versions(self) -> list[str]:
        query = f"SELECT version_num FROM {self.xapi}.{VERSION_TABLE} ORDER BY version_num"
        return [version for (version,) in self.admin.query(query).result_rows]

    def row_count(self, table: str) -> int:
        return self.admin.query(f"SELECT count() FROM {table}").result_rows[0][0]

    def snapshot(self) -> dict[str, object]:
        """Everything a migration run could change: each table's DDL, the revisions, mutations."""
        state: dict[str, object] = {}
        for database in (self.xapi, self.event_sink):
            for table in self.tables(database):
                state[f"{database}.{table}"] = self.show_create(f"{database}.{table}")
        state["versions"] = self.versions()
        state["mutations"] = self.admin.query(
            "SELECT count() FROM system.mutations WHERE database = {db:String}",
            parameters={"db": self.xapi},
        ).result_rows[0][0]
        return state

    def expected(self, template: str, ttl: str = "") -> str:
        return template.format(xapi=self.xapi, event_sink=self.event_sink, ttl=ttl)


@pytest.fixture
def schema(clickhouse_server: ClickHouseServer) -> Iterator[Schema]:
    schema = Schema(clickhouse_server)
    schema.create()
    yield schema
    schema.drop()


def test_upgrade_from_empty_creates_the_tables_and_records_the_version(schema: Schema) -> None:
    output = schema.migrate("upgrade", "head", ASPECTS_DATA_TTL_EXPRESSION=FIVE_YEARS)

    assert output.splitlines()[1:] == [
        "Applied 0001: Create the raw xAPI table that Ralph writes statements to.",
        "Applied 0002: Create the event sink tables the CMS writes course structure to.",
        f"Applied 0003: {REVISION_0003}",
        "The schema is now at 0003.",
    ]
    assert f"as {schema.user}" in output.splitlines()[0]
    assert schema.show_create(f"{schema.xapi}.xapi_events_all") == schema.expected(
        RAW_TABLE, ttl=RAW_TABLE_TTL
    )
    assert schema.show_create(f"{schema.event_sink}.course_overviews") == schema.expected(
        COURSE_OVERVIEWS_0003
    )
    assert schema.show_create(f"{schema.event_sink}.course_blocks") == schema.expected(
        COURSE_BLOCKS_0003
    )
    assert schema.tables(schema.event_sink) == EVENT_SINK_TABLES
    assert schema.show_create(f"{schema.xapi}.{VERSION_TABLE}") == schema.expected(
        VERSION_TABLE_DDL
    )
    assert schema.tables(schema.xapi) == [VERSION_TABLE, "xapi_events_all"]
    assert schema.versions() == ["0003"]
    assert schema.migrate("current").strip() == "0003 (head)"
    assert schema.migrate("history").splitlines() == [
        f"0002 -> 0003 (head), {REVISION_0003}",
        "0001 -> 0002, Create the event sink tables the CMS writes course structure to.",
        "<base> -> 0001, Create the raw xAPI table that Ralph writes statements to.",
    ]


def test_upgrade_again_changes_nothing(schema: Schema) -> None:
    schema.migrate("upgrade", "head", ASPECTS_DATA_TTL_EXPRESSION=FIVE_YEARS)
    before = schema.snapshot()

    output = schema.migrate("upgrade", "head", ASPECTS_DATA_TTL_EXPRESSION=FIVE_YEARS)

    assert output.splitlines()[1:] == ["Already up to date: the schema is at 0003."]
    assert schema.snapshot() == before
    assert len(before) == 12  # 10 tables, the revisions and the mutation count


def test_downgrade_to_base_then_upgrade_again(schema: Schema) -> None:
    schema.migrate("upgrade", "head")
    upgraded = schema.snapshot()

    output = schema.migrate("downgrade", "base")

    assert output.splitlines()[1:] == [
        f"Reverted 0003: {REVISION_0003}",
        "Reverted 0002: Create the event sink tables the CMS writes course structure to.",
        "Reverted 0001: Create the raw xAPI table that Ralph writes statements to.",
        "The schema is now at base (no revision).",
    ]
    assert schema.tables(schema.xapi) == [VERSION_TABLE]
    assert schema.tables(schema.event_sink) == []
    assert schema.versions() == []

    schema.migrate("upgrade", "head")
    again = schema.snapshot()
    assert {k: v for k, v in again.items() if k != "mutations"} == {
        k: v for k, v in upgraded.items() if k != "mutations"
    }


def test_raw_statements_survive_the_upgrade_and_stop_a_downgrade(schema: Schema) -> None:
    raw_table = f"{schema.xapi}.xapi_events_all"
    output = schema.migrate("upgrade", "0001")
    assert output.splitlines()[-1] == "The schema is now at 0001."
    assert schema.show_create(raw_table) == schema.expected(RAW_TABLE)  # no TTL configured
    # Written as Ralph writes them, through its own client.
    writer = clickhouse_connect.get_client(
        host=schema.server.host,
        port=schema.server.port,
        username=schema.user,
        password=schema.password,
    )
    writer.command(
        f"INSERT INTO {raw_table} SELECT generateUUIDv4(), "
        "toDateTime64('2024-05-01 10:00:00', 6, 'UTC') + number, '{}' FROM numbers(3)"
    )

    schema.migrate("upgrade", "head")
    assert schema.row_count(raw_table) == 3
    assert schema.versions() == ["0003"]

    refused = schema.alembic("downgrade", "base")
    assert refused.returncode != 0
    assert (
        f"FAILED: {raw_table} holds 3 xAPI statements: not dropping it. Empty it first "
        f"(TRUNCATE TABLE {raw_table})" in refused.stdout
    )
    # The event sink tables went (the CMS can dump them again), the statements stayed.
    assert schema.tables(schema.event_sink) == []
    assert schema.row_count(raw_table) == 3
    assert schema.versions() == ["0001"]


def split_statements(script: str) -> list[str]:
    """The statements of alembic's --sql output, without its comments."""
    statements = []
    for chunk in re.split(r";\s*\n", script):
        lines = [line for line in chunk.splitlines() if not line.startswith("--")]
        if statement := "\n".join(lines).strip():
            statements.append(statement)
    return statements


def test_on_cluster_every_statement_parses_and_is_replicated(clickhouse_server) -> None:
    environment = {
        "ASPECTS_XAPI_DATABASE": "xapi",
        "ASPECTS_EVENT_SINK_DATABASE": "event_sink",
        "ASPECTS_DATA_TTL_EXPRESSION": FIVE_YEARS,
        "CLICKHOUSE_CLUSTER_NAME": CLUSTER,
    }  # no connection settings: rendering needs no server
    statements = []
    for args in (("upgrade", "head", "--sql"), ("downgrade", "0003:base", "--sql")):
        result = run_alembic(environment, *args)
        assert result.returncode == 0, result.stderr
        statements += split_statements(result.stdout)

    parser = admin_client(clickhouse_server)
    formatted = [
        parser.query(
            "SELECT formatQuery({statement:String})", parameters={"statement": statement}
        ).result_rows[0][0]
        for statement in statements
    ]

    bookkeeping = [
        s
        for s in formatted
        if s.startswith((f"INSERT INTO xapi.{VERSION_TABLE}", f"ALTER TABLE xapi.{VERSION_TABLE}"))
    ]
    ddl = [s for s in formatted if s not in bookkeeping]
    created = [s for s in ddl if s.startswith("CREATE TABLE")]
    dropped = [s for s in ddl if s.startswith("DROP TABLE")]
    altered = [s for s in ddl if s.startswith("ALTER TABLE")]
    sink_tables = ["user_profile", "external_id", "course_enrollment", "taxonomy", "tag"]
    sink_tables.append("object_tag")
    assert [s.split("\n")[0] for s in created] == [
        f"CREATE TABLE IF NOT EXISTS xapi.{VERSION_TABLE} ON CLUSTER {CLUSTER}",
        f"CREATE TABLE IF NOT EXISTS xapi.xapi_events_all ON CLUSTER {CLUSTER}",
        f"CREATE TABLE IF NOT EXISTS event_sink.course_overviews ON CLUSTER {CLUSTER}",
        f"CREATE TABLE IF NOT EXISTS event_sink.course_blocks ON CLUSTER {CLUSTER}",
        *(f"CREATE TABLE IF NOT EXISTS event_sink.{t} ON CLUSTER {CLUSTER}" for t in sink_tables),
    ]
    assert dropped == [
        *(f"DROP TABLE IF EXISTS event_sink.{t} ON CLUSTER {CLUSTER}" for t in sink_tables[::-1]),
        f"DROP TABLE IF EXISTS event_sink.course_overviews ON CLUSTER {CLUSTER}",
        f"DROP TABLE IF EXISTS event_sink.course_blocks ON CLUSTER {CLUSTER}",
        f"DROP TABLE IF EXISTS xapi.xapi_events_all ON CLUSTER {CLUSTER}",
    ]
    # 0003 up: columns of both course tables, then the derived block columns (added where
    # missing, then made MATERIALIZED); down: the block columns back to ordinary ones (every one,
    # rendered without a server), then the drops.
    assert [s.split("\n")[0] for s in altered] == [
        f"ALTER TABLE event_sink.{table} ON CLUSTER {CLUSTER}"
        for table in ("course_overviews", "course_blocks", "course_blocks", "course_blocks")
        + ("course_blocks", "course_blocks", "course_overviews")
    ]
    assert len(ddl) == len(created) + len(dropped) + len(altered)
    for statement in created:
        engine = re.search(r"^ENGINE = (\w+)$", statement, re.MULTILINE)
        assert engine and engine[1].startswith("Replicated"), statement
    assert "\nTTL toDateTime(emission_time) + toIntervalYear(5)" in created[1]
    # Revisions are recorded in the replicated version table, whose changes replicate by
    # themselves: an insert per revision reached, a synchronous delete per revision left.
    assert len(bookkeeping) == 10, bookkeeping


@pytest.fixture(scope="module")
def aspects_schema() -> Iterator[ModuleType]:
    """The settings module of the migrations, loaded from its file as alembic loads it."""
    spec = importlib.util.spec_from_file_location(
        "aspects_schema", MIGRATIONS / "aspects_schema.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASPECTS_CLICKHOUSE_HOST", "", "ASPECTS_CLICKHOUSE_HOST must be set"),
        ("ASPECTS_CLICKHOUSE_SECURE", "maybe", "ASPECTS_CLICKHOUSE_SECURE must be true or false"),
        ("ASPECTS_CLICKHOUSE_PORT", "http", "ASPECTS_CLICKHOUSE_PORT must be the port"),
        ("ASPECTS_CLICKHOUSE_PORT", "70000", "ASPECTS_CLICKHOUSE_PORT must be the port"),
        ("ASPECTS_XAPI_DATABASE", "x-api", "ASPECTS_XAPI_DATABASE must be letters"),
        ("ASPECTS_RAW_XAPI_TABLE", "t; DROP", "ASPECTS_RAW_XAPI_TABLE must be letters"),
        ("ASPECTS_EVENT_SINK_DATABASE", "", "ASPECTS_EVENT_SINK_DATABASE must be letters"),
        ("ASPECTS_DATA_TTL_EXPRESSION", "x; DROP TABLE t", "ASPECTS_DATA_TTL_EXPRESSION must"),
    ],
)
def test_invalid_settings_are_named(
    aspects_schema: ModuleType, variable: str, value: str, message: str
) -> None:
    environ = {"ASPECTS_CLICKHOUSE_HOST": "clickhouse", variable: value}
    with pytest.raises(aspects_schema.ConfigurationError, match=re.escape(message)):
        aspects_schema.Settings.from_environment(environ)


def test_defaults_and_https_port(aspects_schema: ModuleType) -> None:
    environ = {"ASPECTS_CLICKHOUSE_HOST": "clickhouse", "ASPECTS_CLICKHOUSE_SECURE": "true"}
    settings = aspects_schema.Settings.from_environment(environ)
    assert (settings.port, settings.secure, settings.user) == (8443, True, "ch_migrations")
    assert settings.raw_xapi_table_name == "xapi.xapi_events_all"
    assert (settings.on_cluster, settings.engine("MergeTree")) == ("", "MergeTree")


def test_missing_host_fails_before_connecting(schema: Schema) -> None:
    result = schema.alembic("upgrade", "head", ASPECTS_CLICKHOUSE_HOST="")
    assert result.returncode != 0
    assert "ASPECTS_CLICKHOUSE_HOST must be set" in result.stdout
    assert "Traceback" not in result.stderr


def test_wrong_password_names_the_connection_settings(schema: Schema) -> None:
    result = schema.alembic("upgrade", "head", ASPECTS_CLICKHOUSE_PASSWORD="wrong")
    assert result.returncode != 0
    assert f"Cannot connect to ClickHouse at http://{schema.server.host}" in result.stdout
    assert "ASPECTS_CLICKHOUSE_PASSWORD" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        # The parser refuses it: nothing is created, not even the version table.
        ("5 YEARS after emission_time", "ASPECTS_DATA_TTL_EXPRESSION is not a valid"),
        # It parses, but a TTL must be a date: the table refuses it.
        ("event", "with ASPECTS_DATA_TTL_EXPRESSION 'event'"),
    ],
)
def test_bad_ttl_expression_is_named(schema: Schema, expression: str, message: str) -> None:
    result = schema.alembic("upgrade", "head", ASPECTS_DATA_TTL_EXPRESSION=expression)
    assert result.returncode != 0
    assert message in result.stdout
    assert "Traceback" not in result.stderr
    assert "xapi_events_all" not in schema.tables(schema.xapi)
    if "not a valid" in message:
        assert schema.tables(schema.xapi) == []


def test_migration_files_are_plain_package_data() -> None:
    """Copied verbatim into the job image: Jinja (Tutor's renderer) would leave them unchanged."""
    files = [
        path for path in MIGRATIONS.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    ]
    assert {path.name for path in files} >= {
        "alembic.ini",
        "env.py",
        "aspects_schema.py",
        "script.py.mako",
        "README.md",
        "requirements.txt",
        "0001_xapi_events_all.py",
        "0002_event_sink_course_structure.py",
        "0003_event_sink_columns_of_the_sink.py",
    }
    renderer = jinja2.Environment(keep_trailing_newline=True)
    for path in files:
        text = path.read_text()
        assert renderer.from_string(text).render() == text, path
