"""
Alembic environment of the Aspects ClickHouse schema.

Settings come from environment variables only (aspects_schema.py). Alembic talks to ClickHouse
through clickhouse-connect's SQLAlchemy dialect, over the HTTP interface, and records revisions
in a table of the xAPI database.
"""

from __future__ import annotations

from logging.config import fileConfig

# Registers the ClickHouse implementation of Alembic's operations for the dialect; its version
# bookkeeping replaces UPDATE (not in ClickHouse) by INSERT + a synchronous ALTER ... DELETE.
import clickhouse_connect.cc_sqlalchemy.alembic  # noqa: F401
from alembic import context
from alembic.runtime.migration import MigrationInfo
from alembic.util import CommandError
from aspects_schema import VERSION_TABLE, ConfigurationError, Settings
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateTable

DIALECT = "clickhousedb"

if context.config.config_file_name:
    fileConfig(context.config.config_file_name)

try:
    settings = Settings.from_environment(need_server=not context.is_offline_mode())
except ConfigurationError as error:
    raise CommandError(str(error)) from None


@compiles(CreateTable, DIALECT)
def _create_table(create: CreateTable, compiler, **kw) -> str:
    """Alembic's version table, created ON CLUSTER with a replicated engine when needed."""
    table = create.element
    if (table.schema, table.name) == (settings.xapi_database, VERSION_TABLE):
        return settings.version_table_ddl()
    return compiler.visit_create_table(create, **kw)


def is_migration_command() -> bool:
    """upgrade and downgrade have a destination; current, history and the others do not."""
    try:
        context.get_revision_argument()
    except KeyError:
        return False
    return True


def report_step(step: MigrationInfo, **_kw) -> None:
    """One line per revision applied or reverted (the step's up revision, either way)."""
    action = "Applied" if step.is_upgrade else "Reverted"
    print(f"{action} {step.up_revision_id}: {step.up_revision.doc}", flush=True)


def check_ttl_expression(connection: Connection) -> None:
    """Let the server's parser judge the TTL expression before anything is created."""
    if not settings.data_ttl_expression:
        return
    probe = (
        "CREATE TABLE ttl_check (emission_time DateTime64(6, 'UTC')) "
        f"ENGINE = MergeTree ORDER BY tuple() TTL {settings.data_ttl_expression}"
    )
    try:
        # formatQuery only parses (ClickHouse 23.10 and later); nothing is created.
        connection.execute(text("SELECT formatQuery(:probe)"), {"probe": probe})
    except DBAPIError as error:
        raise CommandError(
            f"ASPECTS_DATA_TTL_EXPRESSION is not a valid TTL expression: "
            f"{settings.data_ttl_expression!r}\n{error.orig}"
        ) from None


def connect() -> Connection:
    url = URL.create(
        DIALECT,
        username=settings.user,
        password=settings.password,
        host=settings.host,
        port=settings.port,
        database=settings.xapi_database,
    )
    engine = create_engine(url, connect_args={"secure": settings.secure}, poolclass=NullPool)
    try:
        return engine.connect()
    except DBAPIError as error:
        raise CommandError(
            f"Cannot connect to ClickHouse at {settings.server}, database "
            f"{settings.xapi_database} (check ASPECTS_CLICKHOUSE_HOST, ASPECTS_CLICKHOUSE_PORT, "
            "ASPECTS_CLICKHOUSE_SECURE, ASPECTS_CLICKHOUSE_USER, ASPECTS_CLICKHOUSE_PASSWORD and "
            "ASPECTS_XAPI_DATABASE; the clickhouse init job creates the databases and the user): "
            f"{error.orig}"
        ) from None


def run_migrations_offline() -> None:
    """Print the SQL of the migrations (alembic ... --sql) without a server."""
    context.configure(
        dialect_name=DIALECT,
        literal_binds=True,
        version_table=VERSION_TABLE,
        version_table_schema=settings.xapi_database,
    )
    with context.begin_transaction():
        context.run_migrations(settings=settings)


def run_migrations_online() -> None:
    migrating = is_migration_command()
    if migrating:
        cluster = f", cluster {settings.cluster_name}" if settings.cluster_name else ""
        print(f"ClickHouse {settings.server}{cluster}; revisions in {settings.version_table_name}")
    applied: list[MigrationInfo] = []

    def on_version_apply(step: MigrationInfo, **_kw) -> None:
        applied.append(step)
        report_step(step)

    with connect() as connection:
        if migrating:
            check_ttl_expression(connection)
        context.configure(
            connection=connection,
            version_table=VERSION_TABLE,
            version_table_schema=settings.xapi_database,
            on_version_apply=on_version_apply,
        )
        with context.begin_transaction():
            context.run_migrations(settings=settings)
        if migrating:
            heads = context.get_context().get_current_heads()
            at = ", ".join(heads) or "base (no revision)"
            if applied:
                print(f"The schema is now at {at}.")
            else:
                print(f"Already up to date: the schema is at {at}.")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
