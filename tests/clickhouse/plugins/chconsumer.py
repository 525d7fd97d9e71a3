"""
A stand-in for a plugin that needs ClickHouse objects, such as aspects: it contributes its
SQL to the clickhouse init job through tutorclickhouse.hooks.INIT_SQL.
"""

from tutor import hooks

from tutorclickhouse.hooks import INIT_SQL

hooks.Filters.CONFIG_DEFAULTS.add_item(("CHCONSUMER_DATABASE", "chconsumer"))

# Added first but with a later priority: it must run after the database exists.
INIT_SQL.add_item(
    (
        "notes table",
        """
        CREATE TABLE IF NOT EXISTS {{ CHCONSUMER_DATABASE }}.notes (id UInt64, note String)
        ENGINE = MergeTree ORDER BY id
        -- Shell-looking text must reach ClickHouse untouched.
        COMMENT 'it''s "$HOME" `date` \\\\ CLICKHOUSE_SQL'
        """,
    ),
    priority=hooks.priorities.LOW,
)
INIT_SQL.add_item(
    ("consumer database", "CREATE DATABASE IF NOT EXISTS {{ CHCONSUMER_DATABASE }}"),
    priority=hooks.priorities.DEFAULT,
)
