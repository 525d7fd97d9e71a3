"""
Settings of the Aspects schema migrations, read from environment variables, and the parts of
the ClickHouse DDL that depend on them: ON CLUSTER, replicated engines, data retention (TTL).

env.py reads the settings once and hands them to each revision's upgrade() and downgrade().
Nothing here talks to a server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from alembic import op
from sqlalchemy import text

# Revisions are recorded in this table of the xAPI database (see README.md for why there).
VERSION_TABLE = "aspects_schema_version"
DEFAULT_USER = "ch_migrations"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")

# (variable, default) of the database and table names; each must be a plain identifier.
NAME_VARIABLES = (
    ("ASPECTS_XAPI_DATABASE", "xapi"),
    ("ASPECTS_RAW_XAPI_TABLE", "xapi_events_all"),
    ("ASPECTS_EVENT_SINK_DATABASE", "event_sink"),
)


class ConfigurationError(ValueError):
    """A setting is missing or invalid; the message names each offending variable."""


def quote_string(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    secure: bool
    user: str
    password: str
    xapi_database: str
    raw_xapi_table: str
    event_sink_database: str
    data_ttl_expression: str
    cluster_name: str

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, need_server: bool = True
    ) -> Settings:
        """
        The settings in environ (os.environ by default). need_server=False (rendering SQL
        without a server) makes the connection settings optional.
        """
        environ = os.environ if environ is None else environ
        errors: list[str] = []

        def read(name: str, default: str = "") -> str:
            return environ.get(name, default).strip()

        host = read("ASPECTS_CLICKHOUSE_HOST")
        if need_server and not host:
            errors.append(
                "ASPECTS_CLICKHOUSE_HOST must be set to the ClickHouse server's host name"
            )

        secure_word = read("ASPECTS_CLICKHOUSE_SECURE").lower()
        secure = secure_word in TRUE_WORDS
        if secure_word not in TRUE_WORDS + FALSE_WORDS:
            errors.append(f"ASPECTS_CLICKHOUSE_SECURE must be true or false, not {secure_word!r}")

        port_word = read("ASPECTS_CLICKHOUSE_PORT", "8443" if secure else "8123")
        port = int(port_word) if port_word.isdigit() else 0
        if not 0 < port < 65536:
            errors.append(
                "ASPECTS_CLICKHOUSE_PORT must be the port of ClickHouse's HTTP interface "
                f"(1-65535), not {port_word!r}"
            )

        names = {}
        for variable, default in NAME_VARIABLES:
            names[variable] = read(variable, default)
            if not IDENTIFIER.match(names[variable]):
                errors.append(
                    f"{variable} must be letters, digits and underscores, not {names[variable]!r}"
                )

        ttl_expression = read("ASPECTS_DATA_TTL_EXPRESSION")
        # The server's parser checks the expression itself (env.py); this catches what would
        # end the statement early before anything is sent.
        if ";" in ttl_expression:
            errors.append(
                f"ASPECTS_DATA_TTL_EXPRESSION must be one TTL expression, not {ttl_expression!r}"
            )

        if errors:
            raise ConfigurationError("Invalid migration settings:\n- " + "\n- ".join(errors))
        return cls(
            host=host,
            port=port,
            secure=secure,
            user=read("ASPECTS_CLICKHOUSE_USER") or DEFAULT_USER,
            password=environ.get("ASPECTS_CLICKHOUSE_PASSWORD", ""),
            xapi_database=names["ASPECTS_XAPI_DATABASE"],
            raw_xapi_table=names["ASPECTS_RAW_XAPI_TABLE"],
            event_sink_database=names["ASPECTS_EVENT_SINK_DATABASE"],
            data_ttl_expression=ttl_expression,
            cluster_name=read("CLICKHOUSE_CLUSTER_NAME"),
        )

    @property
    def server(self) -> str:
        """Where the migrations run, for messages (no password)."""
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.host}:{self.port} as {self.user}"

    @property
    def raw_xapi_table_name(self) -> str:
        return f"{self.xapi_database}.{self.raw_xapi_table}"

    @property
    def version_table_name(self) -> str:
        return f"{self.xapi_database}.{VERSION_TABLE}"

    @property
    def on_cluster(self) -> str:
        """The ON CLUSTER clause every DDL statement carries when a cluster is configured."""
        return f" ON CLUSTER {quote_string(self.cluster_name)}" if self.cluster_name else ""

    def engine(self, name: str) -> str:
        """
        A MergeTree-family engine, replicated on a cluster. Without arguments a replicated
        engine takes the server's default_replica_path and default_replica_name, whose {uuid}
        is the same on every replica when the table is created ON CLUSTER.
        """
        return f"Replicated{name}" if self.cluster_name else name

    @property
    def ttl_clause(self) -> str:
        return f"\nTTL {self.data_ttl_expression}" if self.data_ttl_expression else ""

    def version_table_ddl(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.version_table_name}{self.on_cluster}\n"
            "(\n    version_num String\n)\n"
            f"ENGINE = {self.engine('MergeTree')}\n"
            "ORDER BY version_num"
        )


def execute(statement: str) -> None:
    """
    Run one SQL statement of a revision, or print it in offline (--sql) mode. Colons are
    escaped so that SQLAlchemy does not take ':name' inside SQL literals for a parameter.
    """
    op.execute(text(statement.replace(":", "\\:")))
