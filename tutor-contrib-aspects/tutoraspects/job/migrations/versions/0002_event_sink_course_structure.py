"""Create the event sink tables the CMS writes course structure to.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-05
"""

from __future__ import annotations

from aspects_schema import Settings, execute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("course_overviews", "course_blocks")


# Each publish of a course dumps it again under a new dump_id: rows are keyed by the dump time,
# so earlier dumps stay until merged away, and readers pick the latest time_last_dumped.
def upgrade(settings: Settings) -> None:
    database = settings.event_sink_database
    execute(
        f"""CREATE TABLE IF NOT EXISTS {database}.course_overviews{settings.on_cluster}
(
    org String,
    course_key String,
    display_name String,
    course_start String,
    course_end String,
    dump_id UUID,
    time_last_dumped String
)
ENGINE = {settings.engine("ReplacingMergeTree")}
PRIMARY KEY (org, course_key)
ORDER BY (org, course_key, time_last_dumped)"""
    )
    # section, subsection and unit: the block's position (1-based) in the course outline,
    # 0 where the block is above that level.
    execute(
        f"""CREATE TABLE IF NOT EXISTS {database}.course_blocks{settings.on_cluster}
(
    org String,
    course_key String,
    location String,
    display_name String,
    block_type String,
    section UInt32,
    subsection UInt32,
    unit UInt32,
    graded Bool,
    dump_id UUID,
    time_last_dumped String
)
ENGINE = {settings.engine("ReplacingMergeTree")}
PRIMARY KEY (org, course_key, location)
ORDER BY (org, course_key, location, time_last_dumped)"""
    )


def downgrade(settings: Settings) -> None:
    # The CMS can dump every course again (dump_data_to_clickhouse), so nothing is lost for good.
    for table in TABLES:
        execute(f"DROP TABLE IF EXISTS {settings.event_sink_database}.{table}{settings.on_cluster}")
