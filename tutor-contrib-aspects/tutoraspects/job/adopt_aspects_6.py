"""
Adopt the ClickHouse schema of a tutor-contrib-aspects 6.x deployment (one plugin that ran
ClickHouse, Ralph, Vector and Superset), so that this project's models see its history.

What it does, in order, each step safe to repeat or to interrupt:

1. Finds the 6.x schema by its migrations' version table (alembic_version) and reads its
   revision; without one, there is nothing to adopt.
2. Materialized views that are not this project's and that the raw table or the event sink
   tables feed (6.x dbt models, which parse every statement Ralph inserts) are detached
   permanently: they stop running, their tables stay (`ATTACH TABLE` brings one back). First,
   so that they do not parse the statements copied next.
3. Relations in the reporting database that hold the name of one of this project's dbt models
   (6.x models of the same name) are renamed with the suffix _aspects6, so that this project's
   dbt builds its own; only before this project's dbt has run once (its state table is empty).
4. Statements: the 6.x raw tables (Ralph's, and Vector's, the 6.x default) that are not this
   project's raw table are copied into it, month by month, each statement (event_id) once:
   a month already copied gets nothing, a month half copied only what it lacks.
5. Records the adoption in aspects_adopted, beside the schema version table.

The event sink tables are those platform-plugin-aspects writes in both: they are kept in place.

    python3 adopt_aspects_6.py [--dry-run] [--if-needed]

--dry-run prints the plan and changes nothing. --if-needed (init) does nothing, quietly, when
there is no 6.x schema or its adoption is recorded. Runs in the aspects job image as the
migrations user; settings come from the aspects job's environment (ASPECTS_CLICKHOUSE_*,
ASPECTS_XAPI_DATABASE, ASPECTS_RAW_XAPI_TABLE, ASPECTS_EVENT_SINK_DATABASE,
ASPECTS_REPORTING_DATABASE, CLICKHOUSE_CLUSTER_NAME) and ASPECTS_6_XAPI_TABLES and
ASPECTS_6_VERSION_TABLE, where the 6.x settings put its raw tables and its version table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import dbt_state  # a job file beside this one: its client is the migrations user's

RENAMED_SUFFIX = "_aspects6"
ADOPTED_TABLE = "aspects_adopted"
STATEMENT_COLUMNS = ("event_id", "emission_time", "event")


def quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def split_name(name: str) -> tuple[str, str]:
    database, _, table = name.partition(".")
    if not database or not table:
        raise SystemExit(f"{name!r} is not a database.table name")
    return database, table


class Adoption:
    def __init__(self, client, environ: dict[str, str], dry_run: bool) -> None:
        self.client = client
        self.dry_run = dry_run
        self.xapi = environ["ASPECTS_XAPI_DATABASE"]
        self.raw = (self.xapi, environ["ASPECTS_RAW_XAPI_TABLE"])
        self.event_sink = environ["ASPECTS_EVENT_SINK_DATABASE"]
        self.reporting = environ["ASPECTS_REPORTING_DATABASE"]
        self.version_table = split_name(environ["ASPECTS_6_VERSION_TABLE"])
        self.sources = []
        for name in environ["ASPECTS_6_XAPI_TABLES"].split():
            if split_name(name) != self.raw and split_name(name) not in self.sources:
                self.sources.append(split_name(name))
        cluster = environ.get("CLICKHOUSE_CLUSTER_NAME", "")
        self.on_cluster = f" ON CLUSTER {quote(cluster)}" if cluster else ""

    def rows(self, sql: str, **parameters) -> list[tuple]:
        return self.client.query(sql, parameters=parameters).result_rows

    def tables(self, database: str) -> list[str]:
        sql = "SELECT name FROM system.tables WHERE database = {d:String}"
        return [row[0] for row in self.rows(sql, d=database)]

    def exists(self, database: str, table: str) -> bool:
        sql = "SELECT count() FROM system.tables WHERE database = {d:String} AND name = {t:String}"
        return self.rows(sql, d=database, t=table)[0][0] > 0

    def change(self, description: str, sql: str) -> None:
        print(("Would: " if self.dry_run else "") + description, flush=True)
        if not self.dry_run:
            self.client.command(sql)

    def version(self) -> str | None:
        """The 6.x schema revision, or None when there is no 6.x schema."""
        if not self.exists(*self.version_table):
            return None
        rows = self.rows(f"SELECT argMax(version_num, dt) FROM {qualified(*self.version_table)}")
        return rows[0][0] if rows else None

    def adopted(self, version: str) -> bool:
        if not self.exists(self.xapi, ADOPTED_TABLE):
            return False
        table = qualified(self.xapi, ADOPTED_TABLE)
        sql = f"SELECT count() FROM {table} WHERE version = {{v:String}}"
        return self.rows(sql, v=version)[0][0] > 0

    def copy_statements(self) -> None:
        target = qualified(*self.raw)
        for source in self.sources:
            if not self.exists(*source):
                continue
            columns = {row[0] for row in self.rows(f"DESCRIBE TABLE {qualified(*source)}")}
            if missing := set(STATEMENT_COLUMNS) - columns:
                raise SystemExit(
                    f"{'.'.join(source)} lacks the columns {', '.join(sorted(missing))}: upgrade "
                    "the tutor-contrib-aspects 6.x schema to 6.1.0 first (its `do alembic "
                    "upgrade head`), then run this again."
                )
            months = self.rows(
                f"SELECT toYYYYMM(emission_time) AS month, uniqExact(event_id) "
                f"FROM {qualified(*source)} GROUP BY month ORDER BY month"
            )
            total = sum(count for _, count in months)
            print(f"{'.'.join(source)} holds {total} statements in {len(months)} months.")
            for month, count in months:
                in_month = f"toYYYYMM(emission_time) = {int(month)}"
                missing = (
                    f"FROM {qualified(*source)} WHERE {in_month} AND event_id NOT IN "
                    f"(SELECT event_id FROM {target} WHERE {in_month})"
                )
                where = f"of the {count} statements of {month} from {'.'.join(source)}"
                if self.dry_run:
                    if copied := self.rows(f"SELECT uniqExact(event_id) {missing}")[0][0]:
                        print(f"Would: copy {copied} {where} into {'.'.join(self.raw)}")
                    continue
                # The insert finds what is missing itself: no count first, which would read
                # the month twice; a month already copied inserts nothing.
                summary = self.client.command(
                    f"INSERT INTO {target} (event_id, emission_time, event) "
                    f"SELECT event_id, emission_time, event {missing} "
                    "ORDER BY emission_time LIMIT 1 BY event_id"
                )
                if copied := int(summary.written_rows):
                    print(f"copied {copied} {where} into {'.'.join(self.raw)}", flush=True)

    def our_models(self) -> set[str]:
        """Relation names this project's dbt creates: each model, and a view's `_mv`."""
        models = Path(os.environ.get("ASPECTS_JOB_DIR") or "/app") / "dbt" / "models"
        names = {path.stem for path in models.rglob("*.sql")}
        return names | {f"{name}_mv" for name in names}

    def detach_foreign_views(self, ours: set[str]) -> None:
        fed = [self.raw, *self.sources]
        fed += [(self.event_sink, name) for name in self.tables(self.event_sink)]
        for database, table in fed:
            rows = self.rows(
                "SELECT dependencies_database, dependencies_table FROM system.tables "
                "WHERE database = {d:String} AND name = {t:String}",
                d=database,
                t=table,
            )
            for view in (pair for row in rows for pair in zip(*row, strict=True)):
                if view[0] == self.reporting and view[1] in ours:
                    continue
                self.change(
                    f"detach {'.'.join(view)}, a materialized view fed by "
                    f"{database}.{table} (ATTACH TABLE {'.'.join(view)} brings it back)",
                    f"DETACH TABLE {qualified(*view)}{self.on_cluster} PERMANENTLY",
                )

    def rename_namesakes(self, ours: set[str]) -> None:
        if (
            self.exists(self.xapi, dbt_state.TABLE)
            and self.rows(f"SELECT count() FROM {qualified(self.xapi, dbt_state.TABLE)}")[0][0]
        ):
            return  # this project's dbt has run: the names are its own
        for name in self.tables(self.reporting):
            if name in ours:
                renamed = name + RENAMED_SUFFIX
                self.change(
                    f"rename {self.reporting}.{name}, a 6.x relation with the name of a model "
                    f"of this project, to {self.reporting}.{renamed}",
                    f"RENAME TABLE {qualified(self.reporting, name)} TO "
                    f"{qualified(self.reporting, renamed)}{self.on_cluster}",
                )

    def record(self, version: str) -> None:
        if self.adopted(version):
            return
        table = qualified(self.xapi, ADOPTED_TABLE)
        engine = "ReplicatedMergeTree" if self.on_cluster else "MergeTree"
        self.change(
            f"record the adoption of revision {version} in {self.xapi}.{ADOPTED_TABLE}",
            f"CREATE TABLE IF NOT EXISTS {table}{self.on_cluster} (version String, "
            f"adopted_at DateTime DEFAULT now()) ENGINE = {engine} ORDER BY adopted_at",
        )
        if not self.dry_run:
            self.client.insert(f"{self.xapi}.{ADOPTED_TABLE}", [[version]], ["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="Print the plan; change nothing.")
    parser.add_argument(
        "--if-needed", action="store_true", help="Quiet when there is nothing to adopt."
    )
    args = parser.parse_args(argv)
    adoption = Adoption(dbt_state.client(), dict(os.environ), args.dry_run)
    version = adoption.version()
    if version is None:
        if not args.if_needed:
            where = ".".join(adoption.version_table)
            print(f"No tutor-contrib-aspects 6.x schema here: {where} does not exist.")
        return 0
    if args.if_needed and adoption.adopted(version):
        return 0
    print(f"Adopting the tutor-contrib-aspects 6.x schema at revision {version}.")
    ours = adoption.our_models()
    # Views first: a 6.x view fed by the raw table would otherwise parse the copied statements.
    adoption.detach_foreign_views(ours)
    adoption.rename_namesakes(ours)
    adoption.copy_statements()
    adoption.record(version)
    print("Nothing was changed (dry run)." if args.dry_run else "Adoption done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
