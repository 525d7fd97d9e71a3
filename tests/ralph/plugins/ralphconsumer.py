"""
A stand-in for a plugin that extends Ralph, such as aspects: through the clickhouse and ralph
plugins' hooks only, it creates the table Ralph's ClickHouse backend needs, switches Ralph to
that backend, and adds a reader user.
"""

from tutor import hooks

from tutorclickhouse.hooks import INIT_SQL
from tutorralph.hooks import SETTINGS, USERS

hooks.Filters.CONFIG_DEFAULTS.add_item(("RALPHCONSUMER_DATABASE", "ralphconsumer"))
hooks.Filters.CONFIG_UNIQUE.add_items(
    [
        ("RALPHCONSUMER_PASSWORD", "{{ 24|random_string }}"),
        ("RALPHCONSUMER_HASHED_PASSWORD", "{{ RALPHCONSUMER_PASSWORD|encrypt }}"),
    ]
)
INIT_SQL.add_items(
    [
        ("statements database", "CREATE DATABASE IF NOT EXISTS {{ RALPHCONSUMER_DATABASE }}"),
        (
            "statements table",
            "CREATE TABLE IF NOT EXISTS {{ RALPHCONSUMER_DATABASE }}.xapi_events_all "
            "(event_id UUID, emission_time DateTime64(6), event String) "
            "ENGINE = MergeTree ORDER BY (emission_time, event_id)",
        ),
    ]
)
prefix = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
SETTINGS.add_items(
    [
        ("RALPH_RUNSERVER_BACKEND", "clickhouse"),
        (prefix + "HOST", "{{ CLICKHOUSE_HOST }}"),
        (prefix + "PORT", "{{ CLICKHOUSE_PORT }}"),
        (prefix + "DATABASE", "{{ RALPHCONSUMER_DATABASE }}"),
        (prefix + "EVENT_TABLE_NAME", "xapi_events_all"),
        (prefix + "USERNAME", "{{ CLICKHOUSE_ADMIN_USER }}"),
        (prefix + "PASSWORD", "{{ CLICKHOUSE_ADMIN_PASSWORD }}"),
    ]
)
USERS.add_item(
    {
        "username": "reader",
        "hash": "{{ RALPHCONSUMER_HASHED_PASSWORD }}",
        "scopes": ["statements/read"],
        "agent": {"mbox": "mailto:reader@example.com"},
    }
)
