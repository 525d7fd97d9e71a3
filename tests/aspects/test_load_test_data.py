"""
`tutor local do load-xapi-test-data`, run natively: generated statements go through Ralph (run
from the rendered settings, writing to ClickHouse as the LRS user) into the raw table that the
aspects migrations created, or straight into it with --direct.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.fixtures import running_clickhouse
from tests.harness.processes import free_port
from tests.harness.ralph import running_ralph
from tests.harness.tutor import TutorRoot
from tutoraspects.job import xapi_generator

PACKAGE = Path(xapi_generator.__file__).parent


class Stack:
    def __init__(self, root: TutorRoot, server, job_dir: str) -> None:
        self.root, self.job_dir = root, job_dir
        self.admin = server.client()

    def load(self, *options: str) -> str:
        result = self.root.run(
            "local", "do", "load-xapi-test-data", *options, ASPECTS_JOB_DIR=self.job_dir
        )
        return result.stdout + result.stderr

    def stored_ids(self) -> list[str]:
        rows = self.admin.query("SELECT event_id FROM xapi.xapi_events_all FINAL").result_rows
        return sorted(str(event_id) for (event_id,) in rows)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("stack")
    port = free_port()
    with running_clickhouse(directory / "clickhouse") as server:
        root = TutorRoot(directory / "root").save(
            ["clickhouse", "ralph", "aspects"],
            {
                **server.tutor_settings(),
                "RALPH_HOST": "127.0.0.1",
                "RALPH_PORT": port,
            },
        )
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        # Databases, users, schema and models in one command.
        init = root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir).stdout
        assert "ClickHouse is initialised." in init
        assert "The schema is now at" in init and "Completed successfully" in init
        with running_ralph(root, port):
            yield Stack(root, server, job_dir)


def loaded_config(statements: int, seed: int) -> xapi_generator.Config:
    return xapi_generator.sized_config(statements, seed=seed, lms_url="http://local.openedx.io")


def expected_ids(statements: int, seed: int) -> list[str]:
    config = loaded_config(statements, seed)
    return sorted(statement["id"] for statement in xapi_generator.iter_statements(config))


def test_statements_go_through_ralph_into_the_raw_table_once(stack: Stack) -> None:
    output = stack.load("--statements", "300", "--seed", "3", "--batch-size", "50")
    assert "Sending statements to Ralph at http://127.0.0.1:" in output
    assert "300/300 statements" in output
    assert "Loaded 300 test statements." in output
    assert stack.stored_ids() == expected_ids(300, 3)
    # The courses' structure, in the event sink tables the CMS writes it to.
    overviews, blocks = xapi_generator.course_structure(loaded_config(300, 3))
    assert f"Course structure of {len(overviews)} courses ({len(blocks):,} blocks)" in output
    stored = stack.admin.query(
        "SELECT course_key, display_name FROM event_sink.course_overviews"
    ).result_rows
    assert set(stored) == {(row[1], row[2]) for row in overviews}
    [(stored_blocks,)] = stack.admin.query(
        "SELECT uniqExact(location) FROM event_sink.course_blocks"
    ).result_rows
    assert stored_blocks == len(blocks)
    # Loading the same statements again stores nothing new: Ralph knows their ids.
    stack.load("--statements", "300", "--seed", "3")
    assert stack.stored_ids() == expected_ids(300, 3)
    assert stack.root.config()["RALPH_LMS_PASSWORD"] not in output


def test_direct_insert_deduplicates_by_event_id(stack: Stack) -> None:
    before = set(stack.stored_ids())
    output = stack.load("--statements", "200", "--seed", "4", "--direct")
    assert "Inserting statements into ClickHouse table xapi.xapi_events_all" in output
    stack.load("--statements", "200", "--seed", "4", "--direct")
    assert set(stack.stored_ids()) == before | set(expected_ids(200, 4))
    assert len(stack.stored_ids()) == len(before) + 200


def test_bad_options_are_refused(stack: Stack) -> None:
    result = stack.root.run("local", "do", "load-xapi-test-data", "--statements", "0", check=False)
    assert result.returncode != 0
    assert "Invalid value for '--statements'" in result.stderr


def generated(statements: int, seed: int) -> list[dict]:
    return list(xapi_generator.iter_statements(loaded_config(statements, seed)))


def test_dbt_models_read_the_loaded_statements(stack: Stack) -> None:
    # After the two loads above: seed 3 through Ralph, seed 4 directly.
    statements = generated(300, 3) + generated(200, 4)
    output = stack.root.run("local", "do", "dbt", "run", ASPECTS_JOB_DIR=stack.job_dir).stdout
    assert "Completed successfully" in output
    [(total, without_course)] = stack.admin.query(
        "SELECT sum(statements), sum(statements_without_course) FROM reporting.ingestion_hourly"
    ).result_rows
    assert (total, without_course) == (len(statements), 0)
    plays: dict[str, int] = {}
    for statement in statements:
        if statement["verb"]["id"] == "https://w3id.org/xapi/video/verbs/played":
            video = statement["object"]["id"].split("/xblock/", 1)[1]
            plays[video] = plays.get(video, 0) + 1
    rows = stack.admin.query(
        "SELECT video_id, plays FROM reporting.video_engagement WHERE plays > 0"
    ).result_rows
    assert dict(rows) == plays
    overviews, _ = xapi_generator.course_structure(loaded_config(300, 3))
    names = stack.admin.query("SELECT course_key, course_name FROM reporting.course_names")
    assert dict(names.result_rows) == {row[1]: row[2] for row in overviews}


def test_dbt_runs_a_project_from_another_repository(stack: Stack, tmp_path: Path) -> None:
    repository = tmp_path / "analytics"
    shutil.copytree(PACKAGE / "dbt", repository / "project")
    (repository / "project" / "models" / "custom_statement_count.sql").write_text(
        "select count() as statements from {{ ref('xapi_events_parsed') }}\n"
    )
    for command in (
        ["init", "--quiet", "--initial-branch", "analytics-v1"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "v1"],
    ):
        subprocess.run(["git", "-C", str(repository), *command], check=True)
    settings = {
        "DBT_REPOSITORY": f"file://{repository}",
        "DBT_BRANCH": "analytics-v1",
        "DBT_REPOSITORY_PATH": "project",
    }
    stack.root.save(settings=settings)
    try:
        result = stack.root.run(
            "local",
            "do",
            "dbt",
            "run",
            "--select",
            "custom_statement_count",
            ASPECTS_JOB_DIR=stack.job_dir,
        )
    finally:
        for key in settings:
            stack.root.run("config", "save", "--unset", key)
    assert (
        f"Fetching the dbt project from file://{repository} (branch analytics-v1)" in result.stdout
    )
    count = stack.admin.command("SELECT statements FROM reporting.custom_statement_count")
    assert count == stack.admin.command("SELECT count() FROM reporting.xapi_events_parsed")
