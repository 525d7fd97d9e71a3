"""Tutor plugin for Open edX Aspects: the analytics layer over ClickHouse, Ralph and Superset."""

from __future__ import annotations

import re
import typing as t

from tutor import exceptions, hooks
from tutor.types import Config

from tutorclickhouse.hooks import INIT_SQL
from tutorralph.hooks import SETTINGS as RALPH_SETTINGS

from . import grants
from .__about__ import __version__

########################################
# CONFIGURATION
########################################

# Each setting: (name, default, what it is for). docs/configuration.md is generated from these.
CONFIG_DEFAULTS: list[tuple[str, t.Any, str]] = [
    ("ASPECTS_VERSION", __version__, "Version of this plugin."),
    ("ASPECTS_XAPI_DATABASE", "xapi", "ClickHouse database of the raw xAPI statements."),
    ("ASPECTS_RAW_XAPI_TABLE", "xapi_events_all", "Table that Ralph writes statements to."),
    (
        "ASPECTS_EVENT_SINK_DATABASE",
        "event_sink",
        "ClickHouse database of the course structure and names sent by the CMS.",
    ),
    (
        "DBT_PROFILE_TARGET_DATABASE",
        "reporting",
        "ClickHouse database of the dbt models that dashboards read.",
    ),
    ("ASPECTS_CLICKHOUSE_LRS_USER", "ch_lrs", "ClickHouse user of Ralph (the raw table only)."),
    (
        "ASPECTS_CLICKHOUSE_REPORT_USER",
        "ch_report",
        "ClickHouse user of Superset: reads the reporting database, read-only and bounded.",
    ),
    (
        "ASPECTS_CLICKHOUSE_MIGRATIONS_USER",
        "ch_migrations",
        "ClickHouse user of schema migrations and dbt: DDL on the Aspects databases only.",
    ),
    (
        "ASPECTS_CLICKHOUSE_CMS_USER",
        "ch_cms",
        "ClickHouse user of the CMS: writes course structure to the event sink database.",
    ),
    (
        "ASPECTS_REPORT_MAX_EXECUTION_TIME",
        60,
        "Seconds a query of the report user may run.",
    ),
    (
        "ASPECTS_REPORT_MAX_MEMORY_USAGE",
        4_000_000_000,
        "Bytes of memory a query of the report user may use.",
    ),
    (
        "ASPECTS_REPORT_MAX_RESULT_ROWS",
        1_000_000,
        "Rows a query of the report user may return (more are cut off).",
    ),
]

CONFIG_UNIQUE: list[tuple[str, t.Any, str]] = [
    (user.password_key, "{{ 24|random_string }}", f"Password of {user.name_key}.")
    for user in grants.USERS
]

hooks.Filters.CONFIG_DEFAULTS.add_items([(name, value) for name, value, _ in CONFIG_DEFAULTS])
hooks.Filters.CONFIG_UNIQUE.add_items([(name, value) for name, value, _ in CONFIG_UNIQUE])

NEEDED_PLUGINS = ("clickhouse", "ralph")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDENTIFIER_KEYS = (
    "ASPECTS_XAPI_DATABASE",
    "ASPECTS_RAW_XAPI_TABLE",
    "ASPECTS_EVENT_SINK_DATABASE",
    "DBT_PROFILE_TARGET_DATABASE",
    *(user.name_key for user in grants.USERS),
)
LIMIT_KEYS = (
    "ASPECTS_REPORT_MAX_EXECUTION_TIME",
    "ASPECTS_REPORT_MAX_MEMORY_USAGE",
    "ASPECTS_REPORT_MAX_RESULT_ROWS",
)


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the aspects settings, one message per offending key."""
    for plugin in NEEDED_PLUGINS:
        if plugin not in config.get("PLUGINS", []):
            yield f"aspects needs the {plugin} plugin: run `tutor plugins enable {plugin}`"
    for key in IDENTIFIER_KEYS:
        if not IDENTIFIER.match(str(config[key])):
            yield f"{key} must be letters, digits and underscores, not {config[key]!r}"
    for key in LIMIT_KEYS:
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            yield f"{key} must be a whole number of at least 1, not {config[key]!r}"
    for user in grants.USERS:
        if not str(config[user.password_key] or ""):
            yield f"{user.password_key} must not be empty"


@hooks.Actions.CONFIG_LOADED.add()
def _check_config(config: Config) -> None:
    if errors := list(config_errors(config)):
        raise exceptions.TutorError("Invalid Aspects configuration:\n- " + "\n- ".join(errors))


########################################
# INITIALIZATION TASKS
########################################

# Databases, users and grants: run by the clickhouse init job, the only use of the admin user.
INIT_SQL.add_items(list(grants.init_sql()), priority=hooks.priorities.DEFAULT)

########################################
# RALPH
########################################

RALPH_CLICKHOUSE = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
RALPH_SETTINGS.add_items(
    [
        ("RALPH_RUNSERVER_BACKEND", "clickhouse"),
        (RALPH_CLICKHOUSE + "HOST", "{{ CLICKHOUSE_HOST }}"),
        # clickhouse-connect switches to HTTPS on ports 443 and 8443.
        (RALPH_CLICKHOUSE + "PORT", "{{ CLICKHOUSE_PORT }}"),
        (RALPH_CLICKHOUSE + "DATABASE", "{{ ASPECTS_XAPI_DATABASE }}"),
        (RALPH_CLICKHOUSE + "EVENT_TABLE_NAME", "{{ ASPECTS_RAW_XAPI_TABLE }}"),
        (RALPH_CLICKHOUSE + "USERNAME", "{{ ASPECTS_CLICKHOUSE_LRS_USER }}"),
        (RALPH_CLICKHOUSE + "PASSWORD", "{{ ASPECTS_CLICKHOUSE_LRS_PASSWORD }}"),
    ]
)
