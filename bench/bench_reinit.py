"""
Running init again with nothing changed: what the aspects init job does (schema migrations,
then `run_dbt.sh changed`) run a second time on a server that has everything, timed against
the first run on an empty server, and the objects it rebuilt. Target: none rebuilt.

    python bench/bench_reinit.py [--small] [--statements N]

Objects rebuilt: the models dbt ran (its run_results.json), and the tables and views of the
Aspects databases created, dropped or replaced (another UUID or metadata time in
system.tables) or written to (another row count).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, print_rows, seconds  # noqa: E402
from stack import Stack, analytics_stack  # noqa: E402

DATABASES = ("xapi", "reporting", "event_sink")
# dbt's state of the last complete run: `run_dbt.sh changed` saves it after every run.
BOOKKEEPING = "xapi.aspects_dbt_state"


def objects(stack: Stack) -> dict[str, tuple[str, str, str]]:
    rows = stack.query(
        "SELECT database || '.' || name, toString(uuid), toString(metadata_modification_time), "
        f"toString(total_rows) FROM system.tables WHERE database IN {DATABASES}"
    )
    return {name: (uuid, modified, total) for name, uuid, modified, total in rows}


def measure(stack: Stack) -> Row:
    before = objects(stack)
    elapsed, output = stack.init()
    after = objects(stack)
    models_run = [result["unique_id"].split(".")[-1] for result in stack.run_results()]
    replaced = sorted(
        name
        for name in before.keys() | after.keys()
        if before.get(name, ("",) * 3)[:2] != after.get(name, ("",) * 3)[:2]
    )
    written = sorted(
        name
        for name in before.keys() & after.keys()
        if before[name][2] != after[name][2] and name != BOOKKEEPING
    )
    rebuilt = sorted(set(models_run) | set(replaced) | set(written))
    steps = ", ".join(f"`{step}` {seconds(value)}" for step, value in stack.init_steps.items())
    return Row(
        benchmark="Init again with nothing changed",
        baseline=f"first init {seconds(stack.init_seconds)}",
        ours=f"{seconds(elapsed)}, {len(rebuilt)} objects rebuilt",
        ratio=elapsed / stack.init_seconds,
        target="0 rebuilt",
        met=not rebuilt,
        notes=(
            f"On {stack.statements:,} statements. Steps ({steps}), each a `tutor local do` "
            "command with its Tutor start-up; "
            + (f"rebuilt: {', '.join(rebuilt)}." if rebuilt else "dbt ran no model, ")
            + ("" if rebuilt else "no table was replaced or written to but dbt's saved state.")
            + (" Migrations: already up to date." if "Already up to date" in output else "")
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: 20,000 statements")
    parser.add_argument("--statements", type=int, help="statements loaded first")
    args = parser.parse_args(argv)
    statements = args.statements or (20_000 if args.small else 1_000_000)
    with tempfile.TemporaryDirectory() as directory, analytics_stack(Path(directory)) as stack:
        stack.load_statements(statements)
        stack.dbt("run")
        row = measure(stack)
    print_rows([row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
