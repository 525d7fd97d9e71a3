"""
Upgrading from the previous release's schema (revision 0002) with data in it: no row of the
raw table or of the course tables is lost or changed, and the models built after the upgrade
hold the figures of a build from scratch.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.fixtures import running_clickhouse
from tests.harness.processes import free_port
from tests.reliability.conftest import aspects_root, job_dir, model_figures

STATEMENTS = 600
STRUCTURE_MODELS = ("course_names", "course_block_names")
VERSION = "SELECT version_num FROM xapi.aspects_schema_version"
RAW = "SELECT event_id, emission_time, event FROM xapi.xapi_events_all FINAL ORDER BY event_id"
BLOCK_COLUMNS = "org, course_key, location, display_name, block_type, section, subsection, unit"
BLOCKS = f"SELECT {BLOCK_COLUMNS}, graded, dump_id FROM event_sink.course_blocks ORDER BY location"
OVERVIEWS = (
    "SELECT org, course_key, display_name, course_start, course_end, dump_id "
    "FROM event_sink.course_overviews ORDER BY course_key"
)
# Rows as the CMS's sink wrote them under revision 0002, type and position in columns of their own.
BLOCK_ROWS = [
    (
        "OpenedX",
        "course-v1:OpenedX+U1+2025",
        f"block-v1:OpenedX+U1+2025+type@{kind}+block@b{n}",
        f"Block {n}",
        kind,
        1,
        n,
        n,
        n % 2 == 0,
        f"00000000-0000-4000-8000-00000000000{n}",
        "2025-06-01 10:00:00",
    )
    for n, kind in enumerate(["chapter", "sequential", "vertical", "problem", "video"], start=1)
]


def test_upgrade_from_0002_with_data_keeps_every_row(tmp_path: Path) -> None:
    with running_clickhouse(tmp_path / "clickhouse") as server:
        root = aspects_root(tmp_path / "root", server, free_port())

        def do(*args: str) -> str:
            result = root.run("local", "do", *args, ASPECTS_JOB_DIR=job_dir(root))
            return result.stdout + result.stderr

        do("init-clickhouse")
        do("alembic", "downgrade", "0002")
        admin = server.client()
        assert admin.query(VERSION).result_rows == [("0002",)]
        # The previous release's data: statements, course structure, models built on them.
        loaded = do(
            "load-xapi-test-data", "--statements", str(STATEMENTS), "--seed", "501", "--direct"
        )
        # The course tables of 0002 cannot take the sink's columns: the loader says so.
        assert "Course structure not written" in loaded
        admin.insert(
            "event_sink.course_blocks",
            BLOCK_ROWS,
            column_names=[*BLOCK_COLUMNS.split(", "), "graded", "dump_id", "time_last_dumped"],
        )
        admin.command(
            "INSERT INTO event_sink.course_overviews VALUES ('OpenedX', "
            "'course-v1:OpenedX+U1+2025', 'Upgrade 101', '2025-01-01', '', "
            "'00000000-0000-4000-8000-000000000010', '2025-06-01 10:00:00')"
        )
        # The previous release had no course structure models (they read the columns of 0003).
        do("dbt", "run", "--exclude", *STRUCTURE_MODELS)
        raw = admin.query(RAW).result_rows
        blocks = admin.query(BLOCKS).result_rows
        overviews = admin.query(OVERVIEWS).result_rows
        assert len(raw) == STATEMENTS and len(blocks) == len(BLOCK_ROWS) and overviews

        # The upgrade, as `tutor local launch` runs it: migrations to head, then dbt.
        output = do("init-clickhouse")
        assert "ClickHouse is initialised." in output
        assert admin.query(VERSION).result_rows == [("0003",)]
        # An upgrade builds the models that are new to it (its saved dbt state is the previous
        # release's); the state saved here is this release's own, so they are built as it would.
        do("dbt", "run", "--select", *STRUCTURE_MODELS)
        upgraded = model_figures(admin, arrival_delays=False)
        # A merge must not recompute the block columns from the (empty) JSON added by 0003.
        for table in ("xapi.xapi_events_all", "event_sink.course_blocks"):
            admin.command(f"OPTIMIZE TABLE {table} FINAL")
        assert admin.query(RAW).result_rows == raw
        assert admin.query(BLOCKS).result_rows == blocks
        assert admin.query(OVERVIEWS).result_rows == overviews

        # The same models built from scratch on the same rows.
        do("dbt", "run", "--full-refresh")
        rebuilt = model_figures(admin, arrival_delays=False)
    assert upgraded["ingestion_hourly"] and upgraded.keys() == rebuilt.keys()
    for model in rebuilt:
        assert upgraded[model] == rebuilt[model], model
