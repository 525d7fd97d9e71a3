"""
The ClickHouse users of Aspects and what each may do: the one table the access-control SQL
is rendered from (tests read it back from the rendered SQL to check the matrix).

Each user gets its own password from the configuration (only a SHA-256 digest of it reaches
the SQL). Values are Tutor templates.
"""

from __future__ import annotations

import typing as t

XAPI_TABLE = "{{ ASPECTS_XAPI_DATABASE }}.{{ ASPECTS_RAW_XAPI_TABLE }}"
ASPECTS_DATABASES = (
    "{{ ASPECTS_XAPI_DATABASE }}",
    "{{ ASPECTS_EVENT_SINK_DATABASE }}",
    "{{ DBT_PROFILE_TARGET_DATABASE }}",
)
EVENT_SINK_DATABASE = "{{ ASPECTS_EVENT_SINK_DATABASE }}"
# The event sink tables that hold personal data (platform-plugin-aspects'
# EVENT_SINK_CLICKHOUSE_PII_MODELS), created by migration 0003.
PII_TABLES = ("user_profile", "external_id")
# Everything the schema owner needs to create, change and fill the Aspects schema (migrations
# and dbt), and nothing on any other database.
SCHEMA_PRIVILEGES = (
    "SELECT, INSERT, ALTER, CREATE TABLE, CREATE VIEW, CREATE DICTIONARY, DROP TABLE, "
    "DROP VIEW, DROP DICTIONARY, TRUNCATE, OPTIMIZE, SHOW, dictGet"
)


class ClickHouseUser(t.NamedTuple):
    """A ClickHouse user of Aspects: config keys of its name and password, and its grants."""

    role: str  # what it is for, in messages and docs
    name_key: str
    password_key: str
    # (privileges, object), or (privileges, object, setting): only while that setting is on
    grants: tuple[tuple[str, ...], ...]
    profile: str = ""  # settings profile, if any
    cluster_ddl: bool = False  # runs DDL ON CLUSTER when a cluster is configured


USERS = (
    ClickHouseUser(
        "Ralph writes and reads statements",
        "ASPECTS_CLICKHOUSE_LRS_USER",
        "ASPECTS_CLICKHOUSE_LRS_PASSWORD",
        (("INSERT, SELECT", XAPI_TABLE),),
    ),
    ClickHouseUser(
        "Superset reads the reporting models",
        "ASPECTS_CLICKHOUSE_REPORT_USER",
        "ASPECTS_CLICKHOUSE_REPORT_PASSWORD",
        (
            ("SELECT", "{{ DBT_PROFILE_TARGET_DATABASE }}.*"),
            # Names and emails, for the individual learner view, only when PII is enabled.
            *(
                ("SELECT", f"{EVENT_SINK_DATABASE}.{table}", "ASPECTS_ENABLE_PII")
                for table in PII_TABLES
            ),
        ),
        profile="aspects_report",
    ),
    ClickHouseUser(
        "migrations and dbt own the schema",
        "ASPECTS_CLICKHOUSE_MIGRATIONS_USER",
        "ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD",
        (
            *((SCHEMA_PRIVILEGES, f"{database}.*") for database in ASPECTS_DATABASES),
            # On a cluster, dbt waits for every replica to hold the rows of an incremental run
            # before it replaces the old ones (dbt/macros/cluster.sql).
            (
                "SYSTEM SYNC REPLICA",
                "{{ DBT_PROFILE_TARGET_DATABASE }}.*",
                "CLICKHOUSE_CLUSTER_NAME",
            ),
        ),
        cluster_ddl=True,
    ),
    ClickHouseUser(
        "the CMS writes course structure",
        "ASPECTS_CLICKHOUSE_CMS_USER",
        "ASPECTS_CLICKHOUSE_CMS_PASSWORD",
        (
            ("INSERT, SELECT", f"{EVENT_SINK_DATABASE}.*"),
            # When a learner's account is retired, platform-plugin-aspects deletes their rows
            # from the tables of personal data (ALTER TABLE … DELETE WHERE user_id IN …).
            *(("ALTER DELETE", f"{EVENT_SINK_DATABASE}.{table}") for table in PII_TABLES),
        ),
    ),
    ClickHouseUser(
        "`do delete-learner-data` removes retired learners",
        "ASPECTS_CLICKHOUSE_RETIREMENT_USER",
        "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD",
        # Finds a learner's rows in every table of the Aspects databases (including those dbt
        # creates later) and deletes them; it can neither write nor change a schema.
        tuple(("SELECT, ALTER DELETE", f"{database}.*") for database in ASPECTS_DATABASES),
    ),
)

# Read-only, and bounded so that one dashboard cannot take the server down.
REPORT_PROFILE_SETTINGS = (
    "readonly = 1, max_execution_time = {{ ASPECTS_REPORT_MAX_EXECUTION_TIME }}, "
    "max_memory_usage = {{ ASPECTS_REPORT_MAX_MEMORY_USAGE }}, "
    "max_result_rows = {{ ASPECTS_REPORT_MAX_RESULT_ROWS }}, result_overflow_mode = 'break'"
)

ON_CLUSTER = (
    "{% if CLICKHOUSE_CLUSTER_NAME %} ON CLUSTER '{{ CLICKHOUSE_CLUSTER_NAME }}'{% endif %}"
)


def init_sql() -> t.Iterator[tuple[str, str]]:
    """(name, statement) pairs that create the databases, users and grants, idempotently."""
    for database in ASPECTS_DATABASES:
        yield f"database {database}", f"CREATE DATABASE IF NOT EXISTS {database}{ON_CLUSTER}"
    for user in USERS:
        name = "{{ " + user.name_key + " }}"
        digest = "{{ " + user.password_key + "|clickhouse_sha256_hex }}"
        identified = f"IDENTIFIED WITH sha256_hash BY '{digest}'"
        yield f"user {name}", f"CREATE USER IF NOT EXISTS {name}{ON_CLUSTER} {identified}"
        # Applies a changed password on every run.
        yield f"password of {name}", f"ALTER USER {name}{ON_CLUSTER} {identified}"
        for index, (privileges, target, *setting) in enumerate(user.grants):
            # The first grant replaces whatever the user had: the table above is the truth (so
            # a grant whose setting was turned off goes away on the next run).
            replace = " WITH REPLACE OPTION" if index == 0 else ""
            statement = f"GRANT{ON_CLUSTER} {privileges} ON {target} TO {name}{replace}"
            if setting:
                statement = "{% if " + setting[0] + " %}" + statement + "{% endif %}"
            yield f"grants of {name} on {target}", statement
        if user.cluster_ddl:
            # A server refuses ON CLUSTER DDL without this grant (it cannot name a database).
            yield (
                f"cluster grant of {name}",
                "{% if CLICKHOUSE_CLUSTER_NAME %}"
                f"GRANT{ON_CLUSTER} CLUSTER ON *.* TO {name}"
                "{% endif %}",
            )
        if user.profile:
            yield (
                f"settings profile {user.profile}",
                f"CREATE SETTINGS PROFILE OR REPLACE {user.profile}{ON_CLUSTER} "
                f"SETTINGS {REPORT_PROFILE_SETTINGS} TO {name}",
            )
