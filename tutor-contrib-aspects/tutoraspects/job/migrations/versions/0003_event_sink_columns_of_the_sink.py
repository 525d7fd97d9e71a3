"""Give the event sink tables the columns platform-plugin-aspects sends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-12
"""

from __future__ import annotations

from alembic import context, op
from aspects_schema import Settings, execute
from sqlalchemy import text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# platform-plugin-aspects (1.x and 2.x) posts `INSERT INTO <table> FORMAT CSV` without a column
# list: each CSV row holds, in this order, the fields of the sink's serializer. Such an insert
# fills the table's ordinary columns in table order (MATERIALIZED ones are left out), so each
# table below must have exactly these ordinary columns, in this order.
#
# course_overviews: org, course_key, display_name, course_start, course_end, enrollment_start,
# enrollment_end, self_paced, course_data_json, created, modified, dump_id, time_last_dumped.
# Revision 0002 has all but the six in the middle: they are added after course_end.
OVERVIEW_COLUMNS = (
    # (name, type and default); the sink sends dates as text ('' when unset), as it does for
    # course_start and course_end, and course_data_json as a JSON object.
    ("enrollment_start", "String DEFAULT ''"),
    ("enrollment_end", "String DEFAULT ''"),
    ("self_paced", "Bool DEFAULT false"),
    ("course_data_json", "String DEFAULT '{}'"),
    ("created", "String DEFAULT ''"),
    ("modified", "String DEFAULT ''"),
)

# course_blocks: org, course_key, location, display_name, xblock_data_json, order, edited_on,
# dump_id, time_last_dumped. The block's type and position, which revision 0002 stores in columns
# of their own, travel inside xblock_data_json: those columns become MATERIALIZED from it, so
# that queries keep reading them, the insert no longer expects them, and rows written before
# this revision keep the values they were written with.
BLOCK_COLUMNS = (
    ("xblock_data_json", "String DEFAULT '{}'"),
    ("`order`", "Int32 DEFAULT 0"),  # the block's rank in the course outline, from 1
    ("edited_on", "String DEFAULT ''"),
)
BLOCK_DERIVED = (
    ("block_type", "String", "JSONExtractString(xblock_data_json, 'block_type')"),
    ("section", "UInt32", "JSONExtractUInt(xblock_data_json, 'section')"),
    ("subsection", "UInt32", "JSONExtractUInt(xblock_data_json, 'subsection')"),
    ("unit", "UInt32", "JSONExtractUInt(xblock_data_json, 'unit')"),
    ("graded", "Bool", "JSONExtractUInt(xblock_data_json, 'graded') = 1"),
)

# The tables of the other sinks (enabled by EVENT_SINK_MODELS_ENABLED), one column per field of
# the sink's serializer, in its order. The sink's CSV writes None as "" (quoted), which ClickHouse
# reads as the column's default, 0 or '': Nullable columns would not get NULL either. Like the
# course tables, each dump of an object is a new row under a new dump_id; readers take the latest
# time_last_dumped.
DUMP_COLUMNS = "    dump_id UUID,\n    time_last_dumped String"
NEW_TABLES = {
    # The two tables of personal data (the sink's EVENT_SINK_CLICKHOUSE_PII_MODELS): the
    # platform deletes a retired learner's rows by user_id, hence user_id first in the key.
    "user_profile": (
        """    id Int32,
    user_id Int32,
    name String,
    username String,
    email String,
    meta String,
    courseware String,
    language String,
    location String,
    year_of_birth Int32,
    gender String,
    level_of_education String,
    mailing_address String,
    city String,
    country String,
    state String,
    goals String,
    bio String,
    profile_image_uploaded_at String,
    phone_number String""",
        "(user_id, id, time_last_dumped)",
    ),
    "external_id": (
        """    external_user_id UUID,
    external_id_type String,
    username String,
    user_id Int32""",
        "(user_id, external_user_id, time_last_dumped)",
    ),
    "course_enrollment": (
        """    id Int32,
    course_key String,
    created String,
    is_active Bool,
    mode LowCardinality(String),
    username String,
    user_id Int32""",
        "(course_key, id, time_last_dumped)",
    ),
    "taxonomy": (
        """    id Int32,
    name String""",
        "(id, time_last_dumped)",
    ),
    "tag": (
        """    id Int32,
    taxonomy Int32,
    parent Int32,
    value String,
    external_id String,
    lineage String""",
        "(id, time_last_dumped)",
    ),
    "object_tag": (
        """    id Int32,
    object_id String,
    taxonomy Int32,
    tag Int32,
    _value String,
    _export_id String,
    lineage String""",
        "(id, time_last_dumped)",
    ),
}


def upgrade(settings: Settings) -> None:
    database = settings.event_sink_database
    overviews = f"{database}.course_overviews{settings.on_cluster}"
    added = []
    after = "course_end"
    for name, definition in OVERVIEW_COLUMNS:
        added.append(f"ADD COLUMN IF NOT EXISTS {name} {definition} AFTER {after}")
        after = name
    execute(f"ALTER TABLE {overviews}\n    " + ",\n    ".join(added))

    blocks = f"{database}.course_blocks{settings.on_cluster}"
    added = []
    after = "display_name"
    for name, definition in BLOCK_COLUMNS:
        added.append(f"ADD COLUMN IF NOT EXISTS {name} {definition} AFTER {after}")
        after = name
    execute(f"ALTER TABLE {blocks}\n    " + ",\n    ".join(added))
    # A table that never had them (tutor-contrib-aspects 6.x created course_blocks with the
    # sink's columns only) gets them; its rows written before get their values on read.
    execute(
        f"ALTER TABLE {blocks}\n    "
        + ",\n    ".join(
            f"ADD COLUMN IF NOT EXISTS {name} {type_} MATERIALIZED {expression}"
            for name, type_, expression in BLOCK_DERIVED
        )
    )
    # Changes the column's kind only: the data stored in it stays.
    execute(
        f"ALTER TABLE {blocks}\n    "
        + ",\n    ".join(
            f"MODIFY COLUMN {name} {type_} MATERIALIZED {expression}"
            for name, type_, expression in BLOCK_DERIVED
        )
    )

    for table, (columns, order_by) in NEW_TABLES.items():
        execute(
            f"""CREATE TABLE IF NOT EXISTS {database}.{table}{settings.on_cluster}
(
{columns},
{DUMP_COLUMNS}
)
ENGINE = {settings.engine("ReplacingMergeTree")}
ORDER BY {order_by}"""
        )


def materialized_block_columns(settings: Settings) -> list[str]:
    """The derived columns of course_blocks that are still MATERIALIZED (all of them offline)."""
    names = [name for name, _, _ in BLOCK_DERIVED]
    if context.is_offline_mode():
        return names
    rows = op.get_bind().execute(
        text(
            "SELECT name FROM system.columns WHERE database = :database "
            "AND table = 'course_blocks' AND default_kind = 'MATERIALIZED'"
        ),
        {"database": settings.event_sink_database},
    )
    materialized = {name for (name,) in rows}
    return [name for name in names if name in materialized]


def downgrade(settings: Settings) -> None:
    database = settings.event_sink_database
    # Like revision 0002's tables, these hold copies that the CMS can dump again.
    for table in reversed(NEW_TABLES):
        execute(f"DROP TABLE IF EXISTS {database}.{table}{settings.on_cluster}")

    blocks = f"{database}.course_blocks{settings.on_cluster}"
    # Ordinary columns again, keeping the values computed for the rows written since the
    # upgrade; ClickHouse refuses REMOVE on a column that is not MATERIALIZED, hence the check
    # (a downgrade interrupted half-way runs again from its start).
    if names := materialized_block_columns(settings):
        execute(
            f"ALTER TABLE {blocks}\n    "
            + ",\n    ".join(f"MODIFY COLUMN {name} REMOVE MATERIALIZED" for name in names)
        )
    execute(
        f"ALTER TABLE {blocks}\n    "
        + ",\n    ".join(f"DROP COLUMN IF EXISTS {name}" for name, _ in reversed(BLOCK_COLUMNS))
    )
    execute(
        f"ALTER TABLE {database}.course_overviews{settings.on_cluster}\n    "
        + ",\n    ".join(f"DROP COLUMN IF EXISTS {name}" for name, _ in reversed(OVERVIEW_COLUMNS))
    )
