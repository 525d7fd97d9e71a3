"""
Delete every row of some learners from the Aspects databases in ClickHouse: the raw xAPI
statements, every reporting table and the event sink tables, waiting until each delete is
done. Learners are given by LMS user id (--user-id) or by the anonymous id their statements
carry as actor (--actor-id), both repeatable; each user id's actor ids are looked up in the
event sink's external_id table, and each actor id's user ids too. Running it again removes
nothing and succeeds.

Which rows are a learner's, in any table of the three databases (found in system.tables, so
tables added later are covered too): `actor_id` or `external_user_id` holds one of the actor
ids, `user_id` one of the user ids, or, in the raw table, the statement's text mentions one of
the actor ids; and in the other tables with an `event_id`, the rows of those statements (another
actor's statement that mentions a learner goes wherever it went). Tables with none of these
columns (counts per course, say) hold no learner.

Runs in the aspects job image as the retirement user, which may only read and delete in the
Aspects databases. Settings come from the environment: ASPECTS_CLICKHOUSE_HOST, _PORT,
_SECURE, ASPECTS_CLICKHOUSE_RETIREMENT_USER and _PASSWORD, ASPECTS_XAPI_DATABASE,
ASPECTS_RAW_XAPI_TABLE, ASPECTS_EVENT_SINK_DATABASE, ASPECTS_REPORTING_DATABASE.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import typing as t
import uuid

ACTOR_COLUMNS = ("actor_id", "external_user_id")
USER_COLUMNS = ("user_id",)
STATEMENT_COLUMN = "event"  # the raw table's statement, as JSON text
# multiSearchAny takes at most 255 needles.
NEEDLES = 200
# Other actors' statements that mention the learners, deleted by id from the tables made from the
# raw table: a bound that keeps the statements below ClickHouse's max_query_size.
MAX_MENTIONS = 5000
IDS_PER_LIST = 1000
# Rounds of deletes: a dbt run that was reading while the first round ran may write a learner's
# rows back into a model; the next round removes them.
ROUNDS = 3
CONNECT_ATTEMPTS = 10
# Wait for the mutation on every replica, so that the command returns once the data is gone.
DELETE_SETTINGS = {"mutations_sync": 2}


class Table(t.NamedTuple):
    database: str
    name: str
    condition: str  # SQL: the row is one of the learners'

    @property
    def qualified(self) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(self.name)}"

    def __str__(self) -> str:
        return f"{self.database}.{self.name}"


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def actor_id(value: str) -> str:
    """An actor id: a UUID, in the form statements carry it (lower case, with hyphens)."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an actor id (a UUID, e.g. 2f1c9a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b)"
        ) from None


def user_id(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an LMS user id (a whole number >= 1)")
    return number


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_strings(values: t.Iterable[str]) -> str:
    # Inlined rather than sent as parameters: a long array parameter travels as external data,
    # which not every server front takes. Actor ids are checked UUIDs, database names settings.
    return ", ".join(quote_string(value) for value in values)


def learner_condition(
    columns: dict[str, str],
    actors: list[str],
    users: list[int],
    statements: bool,
    event_ids: t.Sequence[str] = (),
) -> str:
    """
    The WHERE clause of the learners' rows in a table with these columns (name -> type): the raw
    table if `statements`; `event_ids`, statements of others that mention the learners.
    """
    parts = []
    if actors:
        for name in ACTOR_COLUMNS:
            if name in columns:
                parts.append(
                    f"lower(toString({quote_identifier(name)})) IN ({sql_strings(actors)})"
                )
        if statements and "String" in columns.get(STATEMENT_COLUMN, ""):
            for start in range(0, len(actors), NEEDLES):
                needles = sql_strings(actors[start : start + NEEDLES])
                column = quote_identifier(STATEMENT_COLUMN)
                parts.append(f"multiSearchAnyCaseInsensitive({column}, [{needles}])")
    if users:
        for name in USER_COLUMNS:
            if name in columns:
                numbers = ", ".join(str(number) for number in users)
                parts.append(f"{quote_identifier(name)} IN ({numbers})")
    if event_ids and not statements and "event_id" in columns:
        for start in range(0, len(event_ids), IDS_PER_LIST):
            ids = sql_strings(event_ids[start : start + IDS_PER_LIST])
            parts.append(f"toString(event_id) IN ({ids})")
    return " OR ".join(parts)


class Deletion:
    """The learners of one run and the ClickHouse client that deletes their rows."""

    def __init__(self, client: t.Any, environ: dict[str, str]) -> None:
        self.client = client
        self.xapi = environ["ASPECTS_XAPI_DATABASE"]
        self.raw_table = environ["ASPECTS_RAW_XAPI_TABLE"]
        self.event_sink = environ["ASPECTS_EVENT_SINK_DATABASE"]
        self.reporting = environ["ASPECTS_REPORTING_DATABASE"]
        # Upstream first, and the id mapping last: a run stopped half-way can be run again
        # with the same user ids.
        self.databases = (self.xapi, self.reporting, self.event_sink)

    def rows(self, query: str, **parameters: t.Any) -> list[tuple]:
        return self.client.query(query, parameters=parameters).result_rows

    def mapping_exists(self) -> bool:
        return bool(
            self.rows(
                "SELECT count() FROM system.tables WHERE database = {db:String} "
                "AND name = 'external_id'",
                db=self.event_sink,
            )[0][0]
        )

    def resolve(self, actors: list[str], users: list[int]) -> tuple[list[str], list[int]]:
        """The given ids, with the actor ids of the user ids and the user ids of the actor ids."""
        actors, users = sorted(set(actors)), sorted(set(users))
        if not self.mapping_exists():
            if users:
                print(f"No table {self.event_sink}.external_id: user ids are not looked up.")
            return actors, users
        mapping = f"{quote_identifier(self.event_sink)}.external_id"
        conditions = []
        if users:
            conditions.append(f"user_id IN ({', '.join(str(u) for u in users)})")
        if actors:
            conditions.append(f"lower(toString(external_user_id)) IN ({sql_strings(actors)})")
        pairs = self.rows(
            f"SELECT DISTINCT user_id, lower(toString(external_user_id)) FROM {mapping} "
            f"WHERE {' OR '.join(conditions)} ORDER BY 1, 2"
        )
        for user in users:
            found = [actor for number, actor in pairs if number == user]
            if found:
                print(f"LMS user {user}: actor id(s) {', '.join(found)}")
            else:
                print(
                    f"LMS user {user}: no actor id in {self.event_sink}.external_id (removed at "
                    "retirement, or that sink is not enabled); give it with --actor-id"
                )
        for actor in actors:
            for number in sorted({number for number, found in pairs if found == actor}):
                if number not in users:
                    print(f"Actor id {actor}: LMS user {number}")
        return (
            sorted({*actors, *(actor for _, actor in pairs)}),
            sorted({*users, *(number for number, _ in pairs)}),
        )

    def tables(self, actors: list[str], users: list[int]) -> tuple[list[Table], list[str]]:
        """The tables that may hold the learners' rows, with the condition; the others' names."""
        found = self.rows(
            "SELECT database, name, engine FROM system.tables "
            f"WHERE database IN ({sql_strings(self.databases)}) AND NOT is_temporary "
            "ORDER BY database, name"
        )
        columns: dict[tuple[str, str], dict[str, str]] = {}
        for database, table, name, type_ in self.rows(
            "SELECT database, table, name, type FROM system.columns "
            f"WHERE database IN ({sql_strings(self.databases)})"
        ):
            columns.setdefault((database, table), {})[name] = type_
        raw_columns = columns.get((self.xapi, self.raw_table), {})
        mentions = self.mentions(actors) if STATEMENT_COLUMN in raw_columns else []
        tables, without = [], []
        for database, name, engine in found:
            if "MergeTree" not in engine:
                continue  # views, materialized views (their tables are listed on their own)...
            raw = (database, name) == (self.xapi, self.raw_table)
            condition = learner_condition(
                columns.get((database, name), {}), actors, users, raw, mentions
            )
            if condition:
                tables.append(Table(database, name, condition))
            else:
                without.append(f"{database}.{name}")
        order = {database: index for index, database in enumerate(self.databases)}
        tables.sort(
            key=lambda table: (
                order[table.database],
                table.name == "external_id",  # the mapping last
                # the table the models are computed from before the models
                table.name != "xapi_events_parsed",
                table.name,
            )
        )
        return tables, without

    def mentions(self, actors: list[str]) -> list[str]:
        """Ids of the raw statements of other actors that mention one of these actor ids."""
        if not actors:
            return []
        raw = f"{quote_identifier(self.xapi)}.{quote_identifier(self.raw_table)}"
        mention = learner_condition({STATEMENT_COLUMN: "String"}, actors, [], True)
        actor = f"lower(JSONExtractString({STATEMENT_COLUMN}, 'actor', 'account', 'name'))"
        ids = [
            event_id
            for (event_id,) in self.rows(
                f"SELECT DISTINCT toString(event_id) FROM {raw} "
                f"WHERE ({mention}) AND {actor} NOT IN ({sql_strings(actors)}) "
                f"ORDER BY 1 LIMIT {MAX_MENTIONS + 1}"
            )
        ]
        if len(ids) > MAX_MENTIONS:
            sys.exit(
                f"More than {MAX_MENTIONS:,} statements of other actors mention these learners: "
                "give fewer learners at a time"
            )
        if ids:
            print(f"Statements of other actors that mention these learners: {len(ids):,}")
        return ids

    def count(self, table: Table) -> int:
        return self.rows(f"SELECT count() FROM {table.qualified} WHERE {table.condition}")[0][0]

    def delete(self, table: Table) -> int:
        """Delete the learners' rows from a table, waiting for it; how many there were."""
        before = self.count(table)
        if before:
            self.client.command(
                f"ALTER TABLE {table.qualified} DELETE WHERE {table.condition}",
                settings=DELETE_SETTINGS,
            )
        return before

    def run(self, tables: list[Table]) -> dict[str, int]:
        removed = {str(table): 0 for table in tables}
        for round_ in range(1, ROUNDS + 1):
            for table in tables:
                count = self.delete(table)
                removed[str(table)] += count
                if round_ == 1:
                    print(f"    {table}: {count:,} rows removed", flush=True)
                elif count:
                    print(f"    {table}: {count:,} more rows removed (written meanwhile)")
            left = {str(table): count for table in tables if (count := self.count(table))}
            if not left:
                return removed
        sys.exit(
            "Rows of the learners are still there after "
            f"{ROUNDS} rounds of deletes ({', '.join(f'{t}: {n}' for t, n in left.items())}): is "
            "something still sending their statements? Run the command again once it has stopped."
        )


def connect(environ: dict[str, str]) -> t.Any:
    import clickhouse_connect  # noqa: PLC0415 - in the job image, with dbt-clickhouse

    host, port = environ["ASPECTS_CLICKHOUSE_HOST"], int(environ["ASPECTS_CLICKHOUSE_PORT"])
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return clickhouse_connect.get_client(
                host=host,
                port=port,
                secure=environ.get("ASPECTS_CLICKHOUSE_SECURE", "").lower() == "true",
                username=environ["ASPECTS_CLICKHOUSE_RETIREMENT_USER"],
                password=environ["ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"],
            )
        except clickhouse_connect.driver.exceptions.OperationalError as error:
            if attempt == CONNECT_ATTEMPTS:
                sys.exit(f"ClickHouse did not answer at {host}:{port}: {error}")
            print(f"    [{attempt}/{CONNECT_ATTEMPTS}] Waiting for ClickHouse...", flush=True)
            time.sleep(3)
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--user-id", dest="users", type=user_id, action="append", default=[], help="LMS user id"
    )
    parser.add_argument(
        "--actor-id", dest="actors", type=actor_id, action="append", default=[], help="actor id"
    )
    args = parser.parse_args(argv)
    if not args.users and not args.actors:
        parser.error("give at least one --user-id or --actor-id")

    from clickhouse_connect.driver.exceptions import DatabaseError  # noqa: PLC0415

    environ = dict(os.environ)
    try:
        deletion = Deletion(connect(environ), environ)
        actors, users = deletion.resolve(args.actors, args.users)
        tables, without = deletion.tables(actors, users)
        print(
            f"Deleting the rows of actor id(s) {', '.join(actors) or '(none)'} and LMS user "
            f"id(s) {', '.join(map(str, users)) or '(none)'} from {len(tables)} tables:",
            flush=True,
        )
        removed = deletion.run(tables)
    except DatabaseError as error:
        hint = ""
        if "AUTHENTICATION_FAILED" in str(error):
            user = environ["ASPECTS_CLICKHOUSE_RETIREMENT_USER"]
            hint = f" (does the user {user} exist? `tutor local do init-clickhouse` creates it)"
        sys.exit(f"ClickHouse refused: {error}{hint}")
    if without:
        print(f"No column that can hold these learners in: {', '.join(without)}")
    print(f"Removed {sum(removed.values()):,} rows in all; none of the learners' rows is left.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
