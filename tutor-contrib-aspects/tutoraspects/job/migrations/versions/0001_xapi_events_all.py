"""Create the raw xAPI table that Ralph writes statements to.

Revision ID: 0001
Revises:
Create Date: 2026-01-05
"""

from __future__ import annotations

from alembic import context, op
from alembic.util import CommandError
from aspects_schema import Settings, execute
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(settings: Settings) -> None:
    # ReplacingMergeTree: Ralph may send a statement again (retries); merges keep one copy.
    create = f"""CREATE TABLE IF NOT EXISTS {settings.raw_xapi_table_name}{settings.on_cluster}
(
    event_id UUID,
    emission_time DateTime64(6, 'UTC'),
    event String
)
ENGINE = {settings.engine("ReplacingMergeTree")}
PARTITION BY toYYYYMM(emission_time)
ORDER BY (emission_time, event_id){settings.ttl_clause}"""
    try:
        execute(create)
    except DBAPIError as error:
        if not settings.data_ttl_expression:
            raise
        # The parser accepted the expression (env.py), the table did not (e.g. its type).
        raise CommandError(
            f"Cannot create {settings.raw_xapi_table_name} with ASPECTS_DATA_TTL_EXPRESSION "
            f"{settings.data_ttl_expression!r}: {error.orig}"
        ) from None


def downgrade(settings: Settings) -> None:
    # The raw statements are the one copy of the learners' events: never drop them silently.
    if not context.is_offline_mode():
        connection = op.get_bind()
        table = settings.raw_xapi_table_name
        if inspect(connection).has_table(settings.raw_xapi_table, settings.xapi_database):
            rows = connection.execute(text(f"SELECT count() FROM {table}")).scalar()
            if rows:
                raise CommandError(
                    f"{table} holds {rows} xAPI statements: not dropping it. Empty it first "
                    f"(TRUNCATE TABLE {table}) if the data really has to go."
                )
    execute(f"DROP TABLE IF EXISTS {settings.raw_xapi_table_name}{settings.on_cluster}")
