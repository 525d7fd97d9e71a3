"""
Contract of the embedded ClickHouse server with clickhouse-connect 0.7, the line still found in
deployed Superset images. It conflicts with the current clickhouse-connect, so this script runs
with the Python of its own virtualenv (.venv-cc07) and imports nothing from the repository:

    .venv-cc07/bin/python tests/harness/cc07_contract.py --host H --port P --user U --password W

It prints one JSON object with what each step observed; tests/harness/test_cc07_contract.py
runs it and checks the values.
"""

from __future__ import annotations

import argparse
import datetime
import json
import uuid
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError


def observe(args: argparse.Namespace) -> dict[str, Any]:
    def client(**options: Any) -> Any:
        return clickhouse_connect.get_client(
            host=args.host, port=args.port, username=args.user, password=args.password, **options
        )

    results: dict[str, Any] = {"clickhouse_connect": clickhouse_connect.common.version()}
    main = client()
    results["ping"] = main.ping()
    results["server_version"] = main.server_version
    results["version_timezone"] = list(main.query("SELECT version(), timezone()").result_rows[0])
    results["server_side_parameter"] = main.query(
        "SELECT {text:String}, {number:UInt32} + 1", parameters={"text": "it's", "number": 41}
    ).result_rows[0]
    results["client_side_parameter"] = main.query(
        "SELECT %(text)s", parameters={"text": "o'clock"}
    ).result_rows[0][0]

    # SET in one session stays there.
    first, second = client(), client()
    first.command("SET max_threads = 3")
    setting = "SELECT getSetting('max_threads')"
    results["max_threads_in_session_that_set_it"] = first.command(setting)
    results["max_threads_in_other_session"] = second.command(setting)

    # DDL through command(), then a Native insert, compressed with lz4.
    table = f"cc07_{uuid.uuid4().hex[:8]}"
    main.command(
        f"CREATE TABLE {table} (name String, n UInt64, at DateTime64(6), "
        "maybe Nullable(Int32), tags Array(String)) ENGINE = MergeTree ORDER BY n"
    )
    results["table_exists_after_create"] = main.command(f"EXISTS TABLE {table}")
    at = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    rows = [[f"row{n}", n, at, None if n % 2 else n, ["a", str(n)]] for n in range(100)]
    lz4_client = client(compress="lz4")
    summary = lz4_client.insert(table, rows, column_names=["name", "n", "at", "maybe", "tags"])
    results["inserted_rows"] = summary.written_rows
    count, total, nulls = lz4_client.query(
        f"SELECT count(), sum(n), countIf(maybe IS NULL) FROM {table}"
    ).result_rows[0]
    results["table_count_sum_nulls"] = [count, total, nulls]
    name, n, stored_at, maybe, tags = main.query(f"SELECT * FROM {table} WHERE n = 42").result_rows[
        0
    ]
    results["row_42"] = [name, n, stored_at.isoformat(), maybe, tags]
    results["command_select"] = main.command("SELECT 40 + 2")
    main.command(f"DROP TABLE {table}")

    results["unknown_table_error"] = _error_of(lambda: main.query("SELECT * FROM no_such_table"))
    results["syntax_error"] = _error_of(lambda: main.command("SELEC 1"))
    results["wrong_password_error"] = _error_of(
        lambda: clickhouse_connect.get_client(
            host=args.host, port=args.port, username=args.user, password="wrong"
        )
    )
    return results


def _error_of(action: Any) -> str:
    try:
        action()
    except DatabaseError as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    print(json.dumps(observe(parser.parse_args()), default=str))


if __name__ == "__main__":
    main()
