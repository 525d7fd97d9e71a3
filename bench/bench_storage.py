"""
Storage: bytes on disk per statement of the raw table and of the reporting models, from the
engine's own accounting of its active parts (system.parts), after generated statements are
loaded and the models built. The baseline is the statements' JSON as generated.

    python bench/bench_storage.py [--small] [--statements N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, print_rows  # noqa: E402
from stack import PARSED_TABLE, RAW_TABLE, Stack, analytics_stack  # noqa: E402

# Bookkeeping tables of the migrations and of dbt, not data.
NOT_DATA = ("aspects_schema_version", "aspects_dbt_state")


def grow(stack: Stack, statements: int) -> None:
    stack.load_statements(statements - stack.statements)
    stack.dbt("run")


def measure(stack: Stack) -> list[Row]:
    parts = stack.query(
        "SELECT database || '.' || table, sum(bytes_on_disk), sum(data_uncompressed_bytes) "
        "FROM system.parts WHERE active AND database IN ('xapi', 'reporting', 'event_sink') "
        f"AND table NOT IN {NOT_DATA} GROUP BY database, table"
    )
    on_disk = {name: int(size) for name, size, _ in parts}
    # The statements' JSON (the engine reads only the strings' sizes for this).
    raw_json = stack.value(f"SELECT sum(length(event)) FROM {RAW_TABLE}")
    count = stack.statements

    def per_statement(size: float) -> str:
        return f"{size / count:,.0f} B"

    raw = on_disk.pop(RAW_TABLE)
    parsed = on_disk.pop(PARSED_TABLE, 0)
    aggregates = sum(on_disk.values())
    models = parsed + aggregates
    return [
        Row(
            benchmark=f"Storage of the raw table, bytes on disk per statement ({count:,})",
            baseline=f"statement JSON {per_statement(raw_json)}",
            ours=f"raw table {per_statement(raw)}",
            ratio=raw / raw_json,
            target="",
            met=None,
            notes=(
                "From system.parts (active parts, as the loads and background merges left "
                "them); the JSON size is the sum of the event column's lengths."
            ),
        ),
        Row(
            benchmark=f"Storage of the reporting models, bytes on disk per statement ({count:,})",
            baseline=f"raw table {per_statement(raw)}",
            ours=(
                f"models {per_statement(models)} (xapi_events_parsed {per_statement(parsed)}, "
                f"the aggregates {per_statement(aggregates)})"
            ),
            ratio=models / raw,
            target="",
            met=None,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: 20,000 statements")
    parser.add_argument("--statements", type=int, help="statements loaded")
    args = parser.parse_args(argv)
    statements = args.statements or (20_000 if args.small else 1_000_000)
    with tempfile.TemporaryDirectory() as directory, analytics_stack(Path(directory)) as stack:
        grow(stack, statements)
        rows = measure(stack)
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
