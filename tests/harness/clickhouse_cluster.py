"""
A one-node cluster for the embedded ClickHouse server (``--cluster NAME``), standing in for a
ClickHouse cluster of one shard.

What the engine does itself: chdb reads a configuration file (``DIR/cluster.xml``, written here)
that declares the cluster NAME with one shard of one replica, this process. ``system.clusters``
lists it, and ``cluster(NAME, …)``, ``clusterAllReplicas(NAME, …)`` and ``_shard_num`` work, on
the local tables (the replica's address is 127.0.0.1 on the configuration's ``tcp_port``, which
ClickHouse treats as itself).

What the server does instead: ON CLUSTER DDL needs the distributed DDL queue and replicated
tables need Keeper, which chdb does not run. So in cluster mode the server

- checks every DDL statement (CREATE, ALTER, DROP, RENAME, EXCHANGE, TRUNCATE, DELETE, SYSTEM,
  OPTIMIZE, ATTACH, DETACH, UNDROP) with the engine's parser (``formatQuery``);
- refuses one ON CLUSTER another name with CLUSTER_DOESNT_EXIST, as a server does;
- records each, formatted by the engine, to ``DIR/cluster_ddl.jsonl`` as
  ``{"time", "user", "statement", "cluster"}`` (``cluster`` empty when it had no ON CLUSTER);
- runs an ON CLUSTER statement on the engine without its ON CLUSTER clause, and with the
  MergeTree engine of its replicated one (``ReplicatedReplacingMergeTree(v)`` becomes
  ``ReplacingMergeTree(v)``, explicit Keeper path and replica name dropped); ``SYSTEM SYNC
  REPLICA`` is answered at once (a single replica is always in sync).

A replicated table created without ON CLUSTER reaches the engine unchanged and fails as on a
server without Keeper: the statements that a cluster deployment sends must all carry the clause.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from tests.harness.clickhouse_access import hide_secrets
from tests.harness.clickhouse_errors import CLUSTER_DOESNT_EXIST, ClickHouseError

CLUSTER_LOG_NAME = "cluster_ddl.jsonl"
CONFIG_NAME = "cluster.xml"
# The replica's port: the same as the configuration's tcp_port makes it this process.
LOCAL_TCP_PORT = 9000

DDL_KEYWORDS = frozenset(
    ("CREATE", "ALTER", "DROP", "RENAME", "EXCHANGE", "TRUNCATE", "DELETE", "SYSTEM")
    + ("OPTIMIZE", "ATTACH", "DETACH", "UNDROP")
)
# formatQuery writes the clause on the statement's first line, right after the object's name.
_ON_CLUSTER = re.compile(r" ON CLUSTER (`(?:[^`\\]|\\.)*`|[^\s`]+)")
_REPLICATED = re.compile(rb"^Replicated(\w*MergeTree)$")

# (kind, start, end) of each token of a statement but spaces and comments (clickhouse._tokens).
Tokens = Callable[[bytes], Iterable[tuple[str, int, int]]]


def write_config(data_dir: Path, name: str) -> Path:
    """The engine configuration that declares the cluster: one shard, one replica, this one."""
    path = data_dir / CONFIG_NAME
    path.write_text(
        "<clickhouse>\n"
        f"  <tcp_port>{LOCAL_TCP_PORT}</tcp_port>\n"
        f"  <remote_servers><{escape(name)}><shard><replica>\n"
        f"    <host>127.0.0.1</host><port>{LOCAL_TCP_PORT}</port>\n"
        f"  </replica></shard></{escape(name)}></remote_servers>\n"
        "  <macros><shard>01</shard><replica>replica_1</replica></macros>\n"
        "</clickhouse>\n",
        encoding="utf-8",
    )
    return path


def cluster_of(formatted: str) -> str:
    """The cluster a formatted statement names in ON CLUSTER, or ''."""
    found = _ON_CLUSTER.search(formatted.split("\n", 1)[0])
    if not found:
        return ""
    name = found.group(1)
    return name[1:-1].replace("\\`", "`") if name.startswith("`") else name


class Cluster:
    """The DDL of a one-node cluster: checked, recorded, run locally (see the module doc)."""

    def __init__(
        self, data_dir: Path, name: str, format_query: Callable[[str], str], tokens: Tokens
    ) -> None:
        self.name = name
        self._format_query = format_query
        self._tokens = tokens
        self._log_path = data_dir / CLUSTER_LOG_NAME
        self._lock = threading.Lock()

    def check(self, formatted: str) -> None:
        """Refuse a statement ON CLUSTER another cluster, as a server does."""
        named = cluster_of(formatted)
        if named and named != self.name:
            raise ClickHouseError(CLUSTER_DOESNT_EXIST, f"Requested cluster '{named}' not found")

    def local_statement(self, statement: str, keyword: str, user: str) -> str | None:
        """
        What the engine runs for a statement: the statement itself unless it is DDL ON
        CLUSTER, then its local form; None when there is nothing to run.
        """
        if keyword not in DDL_KEYWORDS:
            return statement
        formatted = self._format_query(statement)  # the parser's syntax error, if any
        self.check(formatted)
        named = cluster_of(formatted)
        self._record(formatted, user, named)
        if not named:
            return statement
        if formatted.startswith("SYSTEM SYNC REPLICA"):
            return None
        return self.without_cluster(statement)

    def without_cluster(self, statement: str) -> str:
        """The statement without its ON CLUSTER clause, with unreplicated MergeTree engines."""
        data = statement.encode()
        tokens = list(self._tokens(data))
        cuts: list[tuple[int, int, bytes]] = []  # (start, end, replacement)
        depth = 0
        clause_found = False
        for index, (kind, start, end) in enumerate(tokens):
            depth += {"open": 1, "close": -1}.get(kind, 0)
            if depth or kind != "word":
                continue
            word = data[start:end].upper()
            following = [data[s:e] for _, s, e in tokens[index + 1 : index + 3]]
            if (
                not clause_found
                and word == b"ON"
                and [w.upper() for w in following[:1]] == [b"CLUSTER"]
            ):
                if len(following) == 2:
                    cuts.append((start, tokens[index + 2][2], b""))
                    clause_found = True
            elif word == b"ENGINE":
                cuts.extend(self._unreplicated(data, tokens, index + 1))
        for start, end, replacement in sorted(cuts, reverse=True):
            data = data[:start] + replacement + data[end:]
        return data.decode()

    def _unreplicated(
        self, data: bytes, tokens: list[tuple[str, int, int]], index: int
    ) -> list[tuple[int, int, bytes]]:
        """Edits turning the engine after ENGINE [=] into its unreplicated MergeTree."""
        if index < len(tokens) and data[tokens[index][1] : tokens[index][2]] == b"=":
            index += 1
        if index >= len(tokens) or tokens[index][0] != "word":
            return []
        _, start, end = tokens[index]
        name = _REPLICATED.match(data[start:end])
        if not name:
            return []
        edits = [(start, end, name.group(1))]
        # ('keeper path', 'replica name'[, ...]): arguments of the replicated engine only.
        arguments = tokens[index + 1 : index + 7]
        kinds = [kind for kind, _, _ in arguments]
        if kinds[:4] == ["open", "string", "other", "string"]:
            more = len(arguments) > 5 and data[arguments[4][1] : arguments[4][2]] == b","
            # Up to the next argument, or to the closing parenthesis.
            end = arguments[5][1] if more else arguments[3][2]
            edits.append((arguments[1][1], end, b""))
        return edits

    def _record(self, formatted: str, user: str, cluster: str) -> None:
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "user": user,
            "statement": hide_secrets(formatted),
            "cluster": cluster,
        }
        with self._lock, self._log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
