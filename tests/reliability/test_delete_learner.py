"""
A retired learner's data removed from ClickHouse by `tutor local do delete-learner-data`: after
it, no row of any table or view of the Aspects databases mentions the learner (their actor id,
LMS user id, username or email, in any column or anywhere in the row's text), every other row is
as it was, running it again removes nothing, and neither the next incremental `dbt run` nor a
rebuild of the models brings the learner back. Rows that a dbt run writes back while the command
runs are removed by another round of deletes.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.reliability.conftest import ASPECTS_DATABASES, LMS_URL, Stack, generated
from tutoraspects.job.delete_learner_data import Deletion, Table

STATEMENTS = 2000
SEED = 404
# The event sink rows of each generated learner: LMS user ids from here on.
FIRST_USER_ID = 4000
# A statement of someone else that names a learner.
INSTRUCTOR = "5d1e0c8a-4b7f-4f0e-9a31-2c6d8e9f0a1b"
MENTION_ID = "0e7f3b52-9c4d-4a1e-8f6b-3d2c1b0a9e8f"
REMOVED = re.compile(r"^\s+(\S+): ([\d,]+) rows removed$", re.MULTILINE)


class Learner:
    def __init__(self, actor_id: str, user_id: int) -> None:
        self.actor_id, self.user_id = actor_id, user_id
        self.username = f"learner{user_id}"
        self.email = f"learner{user_id}@example.org"

    def texts(self) -> list[str]:
        return [self.actor_id, self.username, self.email]


def tables(client: Any) -> dict[str, str]:
    """Every table and view of the Aspects databases (not materialized views: triggers)."""
    return {
        f"{database}.{name}": engine
        for database, name, engine in client.query(
            "SELECT database, name, engine FROM system.tables WHERE database IN "
            f"({', '.join(repr(d) for d in ASPECTS_DATABASES)}) ORDER BY database, name"
        ).result_rows
        if engine != "MaterializedView"
    }


def quoted(table: str) -> str:
    database, name = table.split(".", 1)
    return f"{database}.`{name}`"


def snapshot(client: Any) -> dict[str, list[str]]:
    """Every row of every table and view, as JSON text, sorted."""
    return {
        table: sorted(
            row
            for (row,) in client.query(
                f"SELECT formatRowNoNewline('JSONEachRow', *) FROM {quoted(table)}"
            ).result_rows
        )
        for table in tables(client)
    }


def mentions(row: str, learners: list[Learner]) -> bool:
    text = row.lower()
    if any(value.lower() in text for learner in learners for value in learner.texts()):
        return True
    return json.loads(row).get("user_id") in {learner.user_id for learner in learners}


def found_in_clickhouse(client: Any, learners: list[Learner]) -> dict[str, int]:
    """
    Rows that mention one of the learners, per table, as ClickHouse finds them: each column that
    can hold text or an id, a user_id column, and the whole row's text.
    """
    texts = [value for learner in learners for value in learner.texts()]
    needles = "[" + ", ".join(f"'{text}'" for text in texts) + "]"
    users = ", ".join(str(learner.user_id) for learner in learners)
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for database, table, name, type_ in client.query(
        "SELECT database, table, name, type FROM system.columns WHERE database IN "
        f"({', '.join(repr(d) for d in ASPECTS_DATABASES)})"
    ).result_rows:
        columns.setdefault((database, table), []).append((name, type_))
    found = {}
    for table in tables(client):
        whole_row = (
            f"multiSearchAnyCaseInsensitive(formatRowNoNewline('JSONEachRow', *), {needles})"
        )
        conditions = [whole_row]
        for column, type_ in columns[tuple(table.split(".", 1))]:
            if "String" in type_ or "UUID" in type_:
                conditions.append(f"multiSearchAnyCaseInsensitive(toString(`{column}`), {needles})")
            if column.endswith("user_id") and "Int" in type_:
                conditions.append(f"`{column}` IN ({users})")
        count = client.command(
            f"SELECT count() FROM {quoted(table)} WHERE {' OR '.join(conditions)}"
        )
        if count:
            found[table] = count
    return found


def add_event_sink_rows(client: Any, learners: list[Learner]) -> None:
    """What platform-plugin-aspects sends of each learner: ids, profile, an enrolment."""
    dump = ["2026-01-01 00:00:00.000000+00:00"]
    external_ids, profiles, enrollments = [], [], []
    for learner in learners:
        external_ids.append(
            [
                uuid.UUID(learner.actor_id),
                "xapi",
                learner.username,
                learner.user_id,
                uuid.uuid4(),
                *dump,
            ]
        )
        profiles.append(
            [
                learner.user_id,
                learner.user_id,
                f"Name {learner.user_id}",
                learner.username,
                learner.email,
                "en",
                uuid.uuid4(),
                *dump,
            ]
        )
        enrollments.append(
            [
                learner.user_id,
                "course-v1:Org+Course+Run",
                True,
                "audit",
                learner.username,
                learner.user_id,
                uuid.uuid4(),
                *dump,
            ]
        )
    # Each learner sent twice (a second dump): every copy must go.
    for _ in range(2):
        client.insert(
            "event_sink.external_id",
            external_ids,
            column_names=[
                "external_user_id",
                "external_id_type",
                "username",
                "user_id",
                "dump_id",
                "time_last_dumped",
            ],
        )
    client.insert(
        "event_sink.user_profile",
        profiles,
        column_names=[
            "id",
            "user_id",
            "name",
            "username",
            "email",
            "language",
            "dump_id",
            "time_last_dumped",
        ],
    )
    client.insert(
        "event_sink.course_enrollment",
        enrollments,
        column_names=[
            "id",
            "course_key",
            "is_active",
            "mode",
            "username",
            "user_id",
            "dump_id",
            "time_last_dumped",
        ],
    )


def removed_counts(output: str) -> dict[str, int]:
    return {table: int(count.replace(",", "")) for table, count in REMOVED.findall(output)}


def tutor_do(stack: Stack, *args: str, check: bool = True) -> Any:
    return stack.root.run("local", "do", *args, check=check, ASPECTS_JOB_DIR=stack.job_dir)


@pytest.fixture(scope="module")
def learners(stack: Stack) -> list[Learner]:
    """
    Every generated learner, most statements first, loaded with the event sink rows of each and
    a statement of an instructor that names the fourth; models built.
    """
    statements = generated(STATEMENTS, SEED)
    counts = Counter(statement["actor"]["account"]["name"] for statement in statements)
    actors = sorted(counts, key=lambda actor: (-counts[actor], actor))
    options = ("--statements", str(STATEMENTS), "--seed", str(SEED), "--direct")
    assert f"Loaded {STATEMENTS:,} test statements." in stack.tutor("load-xapi-test-data", *options)
    everyone = [Learner(actor, FIRST_USER_ID + index) for index, actor in enumerate(actors)]
    add_event_sink_rows(stack.admin(), everyone)
    mention = copy.deepcopy(statements[0])
    mention["id"] = MENTION_ID
    mention["actor"]["account"]["name"] = INSTRUCTOR
    mention["object"]["id"] = f"{LMS_URL}/learner/{everyone[3].actor_id}"
    stack.admin().insert(
        "xapi.xapi_events_all",
        [[MENTION_ID, mention["timestamp"], json.dumps(mention)]],
        column_names=["event_id", "emission_time", "event"],
        settings={"date_time_input_format": "best_effort"},
    )
    assert "Completed successfully" in stack.tutor("dbt", "run")
    return everyone


BAD_ARGUMENTS = [
    (("--user-id", "abc"), "Invalid value for '--user-id': 'abc' is not a valid integer"),
    (("--user-id", "0"), "Invalid value for '--user-id': 0 is not in the range x>=1"),
    (("--user-id", "-5"), "Invalid value for '--user-id': -5 is not in the range x>=1"),
    (("--actor-id", "learner42"), "Invalid value for '--actor-id': 'learner42' is not an actor id"),
    (("--actor-id", "x' OR 1=1 --"), "Invalid value for '--actor-id'"),
    (("--user-id", "7", "--actor-id", ""), "Invalid value for '--actor-id': '' is not an actor id"),
    ((), "give at least one --user-id or --actor-id"),
]


def test_bad_ids_are_refused_naming_the_option_and_nothing_is_deleted(
    stack: Stack, learners: list[Learner]
) -> None:
    before = snapshot(stack.admin())
    for args, message in BAD_ARGUMENTS:
        result = tutor_do(stack, "delete-learner-data", *args, check=False)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "rows removed" not in result.stdout + result.stderr, args
    assert snapshot(stack.admin()) == before


def test_a_retirement_user_that_cannot_log_in_is_named_without_its_password(
    stack: Stack, learners: list[Learner]
) -> None:
    # As after an upgrade of the plugin before the clickhouse init job has created the user.
    password = stack.root.config()["ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"]
    stack.root.save(settings={"ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD": "not-its-password"})
    try:
        before = snapshot(stack.admin())
        result = tutor_do(
            stack, "delete-learner-data", "--actor-id", learners[0].actor_id, check=False
        )
        assert result.returncode != 0
        assert "AUTHENTICATION_FAILED" in result.stderr
        assert (
            "does the user ch_retirement exist? `tutor local do init-clickhouse`" in result.stderr
        )
        assert "not-its-password" not in result.stdout + result.stderr
        assert snapshot(stack.admin()) == before
    finally:
        stack.root.save(settings={"ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD": password})


def test_a_retired_learner_is_removed_from_every_table_and_stays_removed(
    stack: Stack, learners: list[Learner]
) -> None:
    client = stack.admin()
    # Two learners with many statements: one given by LMS user id (the actor id is looked up),
    # one by actor id only (in capitals), whom an instructor's statement names; and a user id
    # that ClickHouse does not know.
    counts = dict(
        client.query(
            "SELECT JSONExtractString(event, 'actor', 'account', 'name') AS actor, count() "
            "FROM xapi.xapi_events_all GROUP BY actor"
        ).result_rows
    )
    by_user_id, by_actor_id = learners[1], learners[3]
    retired = [by_user_id, by_actor_id]
    others = {learner.actor_id for learner in learners if learner not in retired}
    unknown_user_id = FIRST_USER_ID - 1
    args = (
        "delete-learner-data",
        "--user-id",
        str(by_user_id.user_id),
        "--user-id",
        str(unknown_user_id),
        "--actor-id",
        by_actor_id.actor_id.upper(),
    )

    kinds = tables(client)
    stored = [table for table, engine in kinds.items() if engine != "View"]
    before = snapshot(client)
    # Where the retired learners are before: the check finds them.
    assert {
        "xapi.xapi_events_all",
        "reporting.xapi_events_parsed",
        "reporting.learner_course_status",
        "event_sink.external_id",
        "event_sink.user_profile",
        "event_sink.course_enrollment",
    } <= set(found_in_clickhouse(client, retired))
    expected = {table: sum(mentions(row, retired) for row in before[table]) for table in stored}
    assert expected["xapi.xapi_events_all"] == sum(counts[r.actor_id] for r in retired) + 1
    assert expected["reporting.xapi_events_parsed"] == expected["xapi.xapi_events_all"]
    assert expected["event_sink.external_id"] == 4  # two dumps each

    output = stack.tutor(*args)
    assert f"LMS user {by_user_id.user_id}: actor id(s) {by_user_id.actor_id}" in output
    assert f"LMS user {unknown_user_id}: no actor id in event_sink.external_id" in output
    assert "Statements of other actors that mention these learners: 1" in output
    config = stack.root.config()
    for secret in (
        "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD",
        "ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD",
    ):
        assert config[secret] not in output

    # The printed count of each table is the number of the learners' rows it had; the tables
    # not printed (counts per course or per hour, the schema's bookkeeping) had none.
    removed = removed_counts(output)
    assert set(removed) <= set(stored)
    assert {table: expected[table] for table in removed} == removed
    assert {t: n for t, n in expected.items() if n and t not in removed} == {}
    assert found_in_clickhouse(client, retired) == {}
    # Every other row of every table is as it was.
    after = snapshot(client)
    assert after.keys() == before.keys()
    for table in stored:
        assert after[table] == [row for row in before[table] if not mentions(row, retired)], table

    # Again and again: nothing left to remove, and it succeeds.
    for _ in range(2):
        again = stack.tutor(*args)
        assert removed_counts(again) == dict.fromkeys(removed, 0), again
        assert snapshot(client) == after

    # The next scheduled dbt run, then a rebuild of every model from the raw table: the learners
    # do not come back, and each other learner has as many rows in each table as before.
    for dbt_args in (("run",), ("run", "--full-refresh")):
        assert "Completed successfully" in stack.tutor("dbt", *dbt_args)
        assert found_in_clickhouse(client, retired) == {}, dbt_args
        rebuilt = snapshot(client)
        for table in stored:
            if before[table] and "actor_id" in json.loads(before[table][0]):
                assert per_actor(rebuilt[table], others) == per_actor(before[table], others), (
                    table,
                    dbt_args,
                )


def per_actor(rows: list[str], actors: set[str]) -> dict[str, int]:
    """How many rows each of these actors has."""
    counts = dict.fromkeys(actors, 0)
    for row in rows:
        actor = json.loads(row)["actor_id"]
        if actor in counts:
            counts[actor] += 1
    return counts


class WrittenBack(Deletion):
    """
    A deletion during which a dbt run that had read the learner's statements before they were
    deleted writes their row back into a model, `times` times, right after each delete there.
    """

    def __init__(self, client: Any, writer: Any, times: int, actor: str) -> None:
        super().__init__(
            client,
            {
                "ASPECTS_XAPI_DATABASE": "xapi",
                "ASPECTS_RAW_XAPI_TABLE": "xapi_events_all",
                "ASPECTS_EVENT_SINK_DATABASE": "event_sink",
                "ASPECTS_REPORTING_DATABASE": "reporting",
            },
        )
        self.writer, self.times, self.actor = writer, times, actor

    def delete(self, table: Table) -> int:
        count = super().delete(table)
        if table.name == "learner_course_status" and self.times:
            self.times -= 1
            write_status_row(self.writer, self.actor)
        return count


def retirement_client(stack: Stack) -> Any:
    password = stack.root.config()["ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD"]
    return stack.server.client("ch_retirement", password)


def write_status_row(client: Any, actor: str) -> None:
    client.command(
        "INSERT INTO reporting.learner_course_status (org, course_key, actor_id) "
        f"VALUES ('Org', 'course-v1:Org+Late+Run', '{actor}')"
    )


@pytest.mark.parametrize("times", [1, 2])
def test_rows_written_back_during_the_command_are_removed_by_another_round(
    stack: Stack, times: int, capsys: pytest.CaptureFixture[str]
) -> None:
    retirement = retirement_client(stack)
    actor = str(uuid.uuid4())
    write_status_row(stack.admin(), actor)
    deletion = WrittenBack(retirement, stack.admin(), times, actor)
    tables, _ = deletion.tables([actor], [])
    assert deletion.run(tables)["reporting.learner_course_status"] == 1 + times
    assert "reporting.learner_course_status: 1 more rows removed (written meanwhile)" in (
        capsys.readouterr().out
    )
    assert found_in_clickhouse(stack.admin(), [Learner(actor, FIRST_USER_ID - 2)]) == {}


def test_rows_that_keep_coming_back_stop_the_command_naming_the_table(stack: Stack) -> None:
    client = stack.admin()
    actor = str(uuid.uuid4())
    write_status_row(client, actor)
    deletion = WrittenBack(retirement_client(stack), client, 99, actor)
    tables, _ = deletion.tables([actor], [])
    with pytest.raises(
        SystemExit, match=r"after 3 rounds of deletes \(reporting.learner_course_status: 1\)"
    ):
        deletion.run(tables)
    client.command(
        f"ALTER TABLE reporting.learner_course_status DELETE WHERE actor_id = '{actor}'",
        settings={"mutations_sync": 2},
    )
