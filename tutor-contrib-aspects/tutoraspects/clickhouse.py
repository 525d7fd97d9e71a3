"""
What the aspects plugin gives the clickhouse plugin: its databases, and its users with their
grants (tutorclickhouse.hooks.USERS), the one table that the access-control SQL is rendered
from (tests read it back from the rendered SQL to check the matrix). Each user gets its own
password from the configuration (only a SHA-256 digest of it reaches the SQL).
"""

from __future__ import annotations

import functools

from tutor import hooks

from tutorclickhouse.hooks import INIT_SQL, ON_CLUSTER, USERS, SettingsProfile, User

from .grants import (
    ASPECTS_DATABASES,
    EVENT_SINK_DATABASE,
    PII_TABLES,
    XAPI_TABLE,
    report_tables,
)
from .reference import VECTOR_XAPI_TABLE

# Everything the schema owner needs to create, change and fill the Aspects schema (migrations
# and dbt), and nothing on any other database.
SCHEMA_PRIVILEGES = (
    "SELECT, INSERT, ALTER, CREATE TABLE, CREATE VIEW, CREATE DICTIONARY, DROP TABLE, "
    "DROP VIEW, DROP DICTIONARY, TRUNCATE, OPTIMIZE, SHOW, dictGet"
)


# Read-only, and bounded so that one dashboard cannot take the server down. CONST: a client
# cannot change them (`SET`, `SETTINGS` in a query, URL parameters), readonly included.
REPORT_PROFILE = SettingsProfile(
    "aspects_report",
    (
        ("readonly", "1"),
        ("max_execution_time", "{{ ASPECTS_REPORT_MAX_EXECUTION_TIME }}"),
        ("max_memory_usage", "{{ ASPECTS_REPORT_MAX_MEMORY_USAGE }}"),
        ("max_result_rows", "{{ ASPECTS_REPORT_MAX_RESULT_ROWS }}"),
        ("result_overflow_mode", "'break'"),
    ),
)

ASPECTS_USERS = (
    User(
        "{{ ASPECTS_CLICKHOUSE_LRS_USER }}",
        "ASPECTS_CLICKHOUSE_LRS_PASSWORD",
        (("INSERT, SELECT", XAPI_TABLE),),
        "INSERT and SELECT on the raw table `xapi.xapi_events_all`, nothing else (Ralph)",
    ),
    User(
        "{{ ASPECTS_CLICKHOUSE_REPORT_USER }}",
        "ASPECTS_CLICKHOUSE_REPORT_PASSWORD",
        # Table by table; with PII enabled, the names and emails of the individual learner view.
        functools.cache(
            lambda: tuple(("SELECT", table, *settings) for table, settings in report_tables())
        ),
        "SELECT on exactly the tables the Superset bundle's datasets read (derived from "
        "`superset_assets/aspects/datasets`, with the tables a dbt view among them reads; "
        "`system.parts` for the storage chart), and on `event_sink.user_profile` and "
        "`external_id` only with `ASPECTS_ENABLE_PII`; not the parsed statements "
        "(`xapi_events_parsed`) nor the raw ones; no table functions or external sources "
        "(`CREATE ARBITRARY TEMPORARY TABLE, SOURCES` revoked); its settings profile "
        "`aspects_report` is `readonly = 1` with the `ASPECTS_REPORT_MAX_*` limits, each `CONST` "
        "so that no client can change them (Superset)",
        profile=REPORT_PROFILE,
        # Table functions (url, file, remote, s3, mysql, executable, …) need a source privilege
        # and, most of them, CREATE TEMPORARY TABLE: said here, though the grants above already
        # replace everything else the user had.
        revoked="CREATE ARBITRARY TEMPORARY TABLE, SOURCES",
    ),
    User(
        "{{ ASPECTS_CLICKHOUSE_MIGRATIONS_USER }}",
        "ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD",
        (
            *((SCHEMA_PRIVILEGES, f"{database}.*") for database in ASPECTS_DATABASES),
            # `do adopt-aspects-6` copies the statements Vector wrote for tutor-contrib-aspects 6.x.
            ("SELECT", VECTOR_XAPI_TABLE),
            # On a cluster, dbt waits for every replica to hold the rows of an incremental run
            # before it replaces the old ones (dbt/macros/cluster.sql).
            (
                "SYSTEM SYNC REPLICA",
                "{{ DBT_PROFILE_TARGET_DATABASE }}.*",
                "CLICKHOUSE_CLUSTER_NAME",
            ),
        ),
        "create, change and fill tables, views and dictionaries in the three Aspects databases "
        "only (migrations and dbt); read the statements Vector wrote for tutor-contrib-aspects "
        "6.x (`do adopt-aspects-6`)",
        cluster_ddl=True,
    ),
    User(
        "{{ ASPECTS_CLICKHOUSE_CMS_USER }}",
        "ASPECTS_CLICKHOUSE_CMS_PASSWORD",
        (
            ("INSERT, SELECT", f"{EVENT_SINK_DATABASE}.*"),
            # When a learner's account is retired, platform-plugin-aspects deletes their rows
            # from the tables of personal data (ALTER TABLE … DELETE WHERE user_id IN …).
            *(("ALTER DELETE", f"{EVENT_SINK_DATABASE}.{table}") for table in PII_TABLES),
        ),
        "INSERT and SELECT on the `event_sink` database (course structure from the CMS), and "
        "ALTER DELETE on its `user_profile` and `external_id` tables (retired learners)",
    ),
    User(
        "{{ ASPECTS_CLICKHOUSE_RETIREMENT_USER }}",
        "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD",
        # Finds a learner's rows in every table of the Aspects databases (including those dbt
        # creates later) and deletes them; it can neither write nor change a schema.
        tuple(("SELECT, ALTER DELETE", f"{database}.*") for database in ASPECTS_DATABASES),
        "SELECT and ALTER DELETE on the three Aspects databases, nothing else: no insert, no "
        "schema change (`tutor local do delete-learner-data`)",
    ),
)

# Run by the clickhouse init job, the only use of the admin user; the databases before the
# users (tutorclickhouse.hooks.USERS_PRIORITY).
INIT_SQL.add_items(
    [
        (f"database {database}", f"CREATE DATABASE IF NOT EXISTS {database}{ON_CLUSTER}")
        for database in ASPECTS_DATABASES
    ],
    priority=hooks.priorities.DEFAULT,
)
USERS.add_items(list(ASPECTS_USERS))
