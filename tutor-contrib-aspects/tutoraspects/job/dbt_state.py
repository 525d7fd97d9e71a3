"""
Keep dbt's manifest of the last complete run in ClickHouse, so that the next run can build only
the models that changed since (`dbt run --select state:modified+ --state DIR`), without a volume.

    python3 dbt_state.py load DIR         writes DIR/manifest.json if a run was saved; exit 0
    python3 dbt_state.py save MANIFEST    saves a manifest.json after a complete run

Connection and table from the environment (the aspects job's): ASPECTS_CLICKHOUSE_HOST, _PORT,
_SECURE, _USER, _PASSWORD, and ASPECTS_XAPI_DATABASE, where the table aspects_dbt_state lives
(beside the schema version table, out of the report user's reach). With CLICKHOUSE_CLUSTER_NAME
set, the table is created ON CLUSTER and replicated, so that a run on any replica finds it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import clickhouse_connect

TABLE = "aspects_dbt_state"


def client():
    environ = os.environ
    return clickhouse_connect.get_client(
        host=environ["ASPECTS_CLICKHOUSE_HOST"],
        port=int(environ["ASPECTS_CLICKHOUSE_PORT"]),
        secure=environ.get("ASPECTS_CLICKHOUSE_SECURE", "").lower() == "true",
        username=environ["ASPECTS_CLICKHOUSE_USER"],
        password=environ["ASPECTS_CLICKHOUSE_PASSWORD"],
    )


def table() -> str:
    return f"{os.environ['ASPECTS_XAPI_DATABASE']}.{TABLE}"


def load(directory: Path) -> int:
    ch = client()
    if not ch.command(f"EXISTS TABLE {table()}"):
        print("No saved dbt state: every model will be built.")
        return 0
    rows = ch.query(f"SELECT manifest FROM {table()} ORDER BY saved_at DESC LIMIT 1").result_rows
    if not rows:
        print("No saved dbt state: every model will be built.")
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(rows[0][0], encoding="utf-8")
    print("Building only the models changed since the last complete dbt run.")
    return 0


def create_table_sql() -> str:
    cluster = os.environ.get("CLICKHOUSE_CLUSTER_NAME", "").strip()
    on_cluster = f" ON CLUSTER '{cluster}'" if cluster else ""
    engine = "ReplicatedMergeTree" if cluster else "MergeTree"
    # Only the latest state is ever read; older ones expire.
    return (
        f"CREATE TABLE IF NOT EXISTS {table()}{on_cluster} "
        "(saved_at DateTime64(3, 'UTC') DEFAULT now64(3), manifest String) "
        f"ENGINE = {engine} ORDER BY saved_at TTL toDateTime(saved_at) + INTERVAL 90 DAY"
    )


def save(manifest: Path) -> int:
    ch = client()
    ch.command(create_table_sql())
    ch.insert(table(), [[manifest.read_text(encoding="utf-8")]], column_names=["manifest"])
    print("Saved the dbt state of this run.")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("load", "save"):
        sys.exit(__doc__)
    action, path = argv
    return load(Path(path)) if action == "load" else save(Path(path))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
