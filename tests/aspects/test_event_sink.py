"""
The event sink tables against what platform-plugin-aspects really sends them.

The sink posts `INSERT INTO <database>.<table> FORMAT CSV` over ClickHouse's HTTP interface,
without a column list: one CSV row per object, its serializer's fields in order. The schema
(migrations, run by alembic as the migrations job runs them) must match that row exactly.

How the sink is driven: tests/aspects/event_sink_standin/run_sink.py runs, with .venv-openedx's
Python, the plugin's own code unchanged: the task the CMS queues when a course is published
(dump_course_to_clickhouse) and the dump_data_to_clickhouse command, with the plugin's settings
modules, serializers, CSV writer and HTTP requests. What edx-platform would provide is stood in
for beside it: the CourseOverview model (same Django field types, so values are rendered as on a
platform) and the modulestore that hands the sink the published course tree (fake XBlocks with
the attributes the sink reads). The sink posts to the embedded ClickHouse server as a user of its
own, like the CMS user; rows are then read back with the admin user.

The other sinks (user profiles, external ids, enrollments, tags) need edx-platform's models: their
tables are checked column by column against the plugin's serializers, read from its source, and
with a row written the way the sink writes it.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.aspects.test_migrations import COURSE_BLOCKS, COURSE_OVERVIEWS, Schema
from tests.harness.fixtures import ClickHouseServer
from tests.harness.tutor import REPOSITORY

OPENEDX_PYTHON = REPOSITORY / ".venv-openedx" / "bin" / "python"
RUN_SINK = Path(__file__).parent / "event_sink_standin" / "run_sink.py"
[PLUGIN] = (REPOSITORY / ".venv-openedx" / "lib").glob(
    "python3*/site-packages/platform_plugin_aspects"
)
TIME_LAST_DUMPED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$")
# The tables the retirement sink deletes from (the plugin's EVENT_SINK_CLICKHOUSE_PII_MODELS).
PII_TABLES = ("user_profile", "external_id")
INSERT_SETTINGS = {"input_format_allow_errors_num": 1, "input_format_allow_errors_ratio": 0.1}

DEMO = "course-v1:OpenedX+DemoX+2024"
OTHER = "course-v1:OpenedX+Other+2025"
COURSES = [
    {
        "id": DEMO,
        "org": "OpenedX",
        "display_name": "Demo course, \"quoted\" and 'single'",
        "start": "2024-02-01T09:00:00+00:00",
        "end": None,
        "enrollment_start": "2024-01-15T00:00:00+00:00",
        "enrollment_end": None,
        "self_paced": True,
        "lowest_passing_grade": "0.60",
        "language": "en",
        "effort": "3 hours",
        "max_student_enrollments_allowed": 500,
    },
    {
        "id": OTHER,
        "org": "OpenedX",
        "display_name": "Other course",
        "start": "2025-03-01T00:00:00+00:00",
        "end": "2025-06-30T00:00:00+00:00",
        "enrollment_start": None,
        "enrollment_end": None,
        "self_paced": False,
        "lowest_passing_grade": "0.50",  # the serializer needs one (edx-platform sets it)
    },
]


def block(kind: str, block_id: str, name: str, *children: str, **extra: object) -> dict:
    return {"type": kind, "id": block_id, "display_name": name, "children": list(children), **extra}


# Published course trees: the course first, then its outline; static_tab lives outside it.
MODULESTORE = {
    DEMO: [
        block("course", "course", "Demo course", "ch1", "ch2"),
        block("chapter", "ch1", "Week 1", "seq1"),
        block("sequential", "seq1", "Homework 1", "vert1", graded=True),
        block("vertical", "vert1", "Unit 1", "problem1", "video1"),
        block("problem", "problem1", "Problem, with a comma", edited_on="2024-01-20 10:00:00"),
        block("video", "video1", "Video 1", start_time=10, end_time=70),
        block("chapter", "ch2", "Week 2", "seq2"),
        block("sequential", "seq2", "Lesson 2", "vert2"),
        block("vertical", "vert2", "Unit 2", "html2"),
        block("html", "html2", "Text"),
        block("static_tab", "syllabus", "Syllabus"),
    ],
    OTHER: [
        block("course", "course", "Other course", "ch1"),
        block("chapter", "ch1", "Only week"),
    ],
}
# (block id, type, order, section, subsection, unit, graded) as the sink numbers the outline.
DEMO_BLOCKS = [
    ("course", "course", 1, 0, 0, 0, False),
    ("ch1", "chapter", 2, 1, 0, 0, False),
    ("seq1", "sequential", 3, 1, 1, 0, True),
    ("vert1", "vertical", 4, 1, 1, 1, False),
    ("problem1", "problem", 5, 1, 1, 1, False),
    ("video1", "video", 6, 1, 1, 1, False),
    ("ch2", "chapter", 7, 2, 0, 0, False),
    ("seq2", "sequential", 8, 2, 1, 0, False),
    ("vert2", "vertical", 9, 2, 1, 1, False),
    ("html2", "html", 10, 2, 1, 1, False),
    ("syllabus", "static_tab", 11, 0, 0, 0, False),
]


def location(course: str, kind: str, block_id: str) -> str:
    return f"block-v1:{course.removeprefix('course-v1:')}+type@{kind}+block@{block_id}"


class EventSink(Schema):
    """A migrated schema, and a user of its own that the sink writes with (the CMS user)."""

    def __init__(self, server: ClickHouseServer) -> None:
        super().__init__(server)
        self.cms_user = f"ch_cms_{self.user.rsplit('_', 1)[1]}"
        self.cms_password = f"cms-{self.password}"

    def create(self) -> None:
        super().create()
        self.admin.command(
            f"CREATE USER {self.cms_user} IDENTIFIED WITH plaintext_password "
            f"BY '{self.cms_password}'"
        )

    def rows(self, query: str) -> list[tuple]:
        return self.admin.query(query.format(db=self.event_sink)).result_rows

    def run_sink(self, mode: str, courses: list[dict], directory: Path, **extra: object) -> str:
        """The plugin's sink in the stand-in CMS; its log."""
        modulestore = directory / "modulestore.json"
        modulestore.write_text(json.dumps(MODULESTORE), encoding="utf-8")
        config = directory / "config.json"
        config.write_text(
            json.dumps(
                {
                    "clickhouse": {
                        "url": f"http://{self.server.host}:{self.server.port}",
                        "username": self.cms_user,
                        "password": self.cms_password,
                        "database": self.event_sink,
                        "timeout_secs": 10,
                    },
                    "database": str(directory / "cms.sqlite3"),
                    "courses": courses,
                    "modulestore": str(modulestore),
                    **extra,
                }
            ),
            encoding="utf-8",
        )
        result = subprocess.run(
            [str(OPENEDX_PYTHON), str(RUN_SINK), mode, str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    def post_csv(self, table: str, rows: list[list[object]]) -> None:
        """An insert exactly as the sink sends one (BaseSink.send_item)."""
        output = io.StringIO()
        writer = csv.writer(output, quoting=csv.QUOTE_NONNUMERIC)
        for row in rows:
            writer.writerow(row)
        response = requests.post(
            f"http://{self.server.host}:{self.server.port}",
            params={
                **INSERT_SETTINGS,
                "query": f"INSERT INTO {self.event_sink}.{table} FORMAT CSV",
            },
            data=output.getvalue().encode("utf-8"),
            auth=(self.cms_user, self.cms_password),
            timeout=10,
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def sink(clickhouse_server: ClickHouseServer) -> Iterator[EventSink]:
    sink = EventSink(clickhouse_server)
    sink.create()
    sink.migrate("upgrade", "head")
    yield sink
    sink.drop()


def test_a_published_course_lands_in_the_course_tables(sink: EventSink, tmp_path: Path) -> None:
    log = sink.run_sink("publish", COURSES[:1], tmp_path)
    assert f"Completed dumping Course Overview {DEMO} to ClickHouse" in log
    assert "Completed dumping 11 XBlock to ClickHouse" in log

    [overview] = sink.rows(
        "SELECT org, course_key, display_name, course_start, course_end, enrollment_start, "
        "enrollment_end, self_paced, course_data_json, created, modified, toString(dump_id), "
        "time_last_dumped FROM {db}.course_overviews"
    )
    (org, key, name, start, end, enrollment_start, enrollment_end, self_paced, data) = overview[:9]
    created, modified, dump_id, dumped = overview[9:]
    assert (org, key, name) == ("OpenedX", DEMO, COURSES[0]["display_name"])
    # The serializer renders start and end with str(), the other dates in ISO 8601.
    assert (start, end) == ("2024-02-01 09:00:00+00:00", "")
    assert (enrollment_start, enrollment_end) == ("2024-01-15T00:00:00Z", "")
    assert self_paced is True
    course_data = json.loads(data)
    assert course_data["lowest_passing_grade"] == 0.6
    assert course_data["language"] == "en" and course_data["effort"] == "3 hours"
    assert course_data["max_student_enrollments_allowed"] == 500
    for timestamp in (created, modified):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", timestamp), timestamp
    assert TIME_LAST_DUMPED.match(dumped), dumped

    blocks = sink.rows(
        "SELECT location, display_name, `order`, block_type, section, subsection, unit, graded, "
        "xblock_data_json, edited_on, toString(dump_id), time_last_dumped, org, course_key "
        "FROM {db}.course_blocks ORDER BY `order`"
    )
    assert [(row[0], *row[2:8]) for row in blocks] == [
        (location(DEMO, kind, block_id), order, kind, section, subsection, unit, graded)
        for block_id, kind, order, section, subsection, unit, graded in DEMO_BLOCKS
    ]
    names = {row[0]: row[1] for row in blocks}
    assert names[location(DEMO, "problem", "problem1")] == "Problem, with a comma"
    assert names[location(DEMO, "static_tab", "syllabus")] == "Syllabus"
    for row in blocks:
        # Every block belongs to the course's dump.
        assert (row[10], row[11], row[12], row[13]) == (dump_id, dumped, "OpenedX", DEMO)
        data = json.loads(row[8])
        assert (data["course"], data["run"], data["block_type"]) == ("DemoX", "2024", row[3])
        assert data["detached"] == (1 if row[3] == "static_tab" else 0)
    problem = next(row for row in blocks if row[3] == "problem")
    assert problem[9] == "2024-01-20 10:00:00"


def test_the_dump_command_sends_only_the_courses_clickhouse_lacks(
    sink: EventSink, tmp_path: Path
) -> None:
    sink.run_sink("publish", COURSES[:1], tmp_path)

    # The command asks ClickHouse, as the CMS user, when each course was last sent.
    log = sink.run_sink("dump", COURSES, tmp_path)

    assert f"Skipping object {DEMO}" in log, log
    assert "Course has NOT been published since last dump time" in log
    assert "Dumped 1 objects to ClickHouse" in log
    assert sink.rows(
        "SELECT course_key, count() FROM {db}.course_overviews GROUP BY course_key ORDER BY 1"
    ) == [(DEMO, 1), (OTHER, 1)]
    [other] = sink.rows(
        "SELECT course_start, course_end, self_paced FROM {db}.course_overviews "
        f"WHERE course_key = '{OTHER}'"
    )
    assert other == ("2025-03-01 00:00:00+00:00", "2025-06-30 00:00:00+00:00", False)
    assert sink.rows(
        "SELECT location, `order`, block_type, section FROM {db}.course_blocks "
        f"WHERE course_key = '{OTHER}' ORDER BY `order`"
    ) == [
        (location(OTHER, "course", "course"), 1, "course", 0),
        (location(OTHER, "chapter", "ch1"), 2, "chapter", 1),
    ]


# The other sinks: their serializers (read from the plugin's source) and a row of each.


def class_attributes(source: Path) -> dict[str, dict[str, ast.expr]]:
    """class name -> {attribute: value} of the classes of a module, and of their Meta."""
    classes: dict[str, dict[str, ast.expr]] = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            attributes = classes.setdefault(node.name, {})
            for item in node.body:
                meta = isinstance(item, ast.ClassDef) and item.name == "Meta"
                for statement in item.body if meta else [item]:
                    if isinstance(statement, ast.Assign) and isinstance(
                        statement.targets[0], ast.Name
                    ):
                        attributes[statement.targets[0].id] = statement.value
    return classes


def serializer_fields() -> dict[str, list[str]]:
    """table -> the fields its sink sends, in order, from the installed plugin's source."""
    serializers = class_attributes(PLUGIN / "sinks" / "serializers.py")
    tables = {}
    for path in (PLUGIN / "sinks").glob("*_sink.py"):
        for attributes in class_attributes(path).values():
            serializer = attributes.get("serializer_class")
            # The retirement sink (table "dummy") deletes from the PII tables instead.
            if isinstance(serializer, ast.Name) and path.name != "user_retire_sink.py":
                table = ast.literal_eval(attributes["clickhouse_table_name"])
                tables[table] = ast.literal_eval(serializers[serializer.id]["fields"])
    return tables


# A row of each table as the sink writes it: Python values of the serializer's output, None for
# what the platform leaves unset.
DUMP = [str(uuid.uuid4()), "2025-05-03 15:47:39.331024+00:00"]
SAMPLE_ROWS = {
    "user_profile": [
        [
            7,
            17,
            "Ada L.",
            "ada",
            "ada@example.org",
            "",
            "",
            "en",
            "",
            1990,
            "f",
            "p",
            None,
            "London",
            "GB",
            None,
            "",
            "",
            None,
            "",
            *DUMP,
        ],
        [
            8,
            18,
            "Bob",
            "bob",
            "bob@example.org",
            "{}",
            "",
            "fr",
            "",
            None,
            None,
            None,
            None,
            None,
            "",
            None,
            None,
            None,
            "2024-05-01T10:00:00Z",
            None,
            *DUMP,
        ],
    ],
    "external_id": [
        [str(uuid.uuid4()), "lti", "ada", 17, *DUMP],
        [str(uuid.uuid4()), "mb_coaching", "bob", 18, *DUMP],
    ],
    "course_enrollment": [[3, DEMO, "2024-01-16T08:00:00Z", True, "audit", "ada", 17, *DUMP]],
    "taxonomy": [[1, "Subjects", *DUMP]],
    "tag": [
        [10, 1, None, "Science", None, '["Science"]', *DUMP],
        [11, 1, 10, "Physics", "phys", '["Science", "Physics"]', *DUMP],
    ],
    "object_tag": [
        [
            5,
            location(DEMO, "problem", "problem1"),
            1,
            11,
            "Physics",
            "phys",
            '["Science", "Physics"]',
            *DUMP,
        ]
    ],
}


def test_each_sink_table_takes_the_row_its_serializer_sends(sink: EventSink) -> None:
    fields = serializer_fields()
    assert set(fields) == {"course_overviews", *SAMPLE_ROWS}
    for table, names in fields.items():
        # An insert without a column list fills the ordinary columns, in table order.
        columns = [
            name
            for (name,) in sink.rows(
                "SELECT name FROM system.columns WHERE database = '{db}' "
                f"AND table = '{table}' AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') "
                "ORDER BY position"
            )
        ]
        assert columns == names, table
    for table, rows in SAMPLE_ROWS.items():
        sink.post_csv(table, rows)
        # The sink tolerates one bad row: every row must have landed, none skipped.
        assert sink.rows(f"SELECT count() FROM {{db}}.{table}") == [(len(rows),)], table

    assert sink.rows(
        "SELECT user_id, year_of_birth, city, mailing_address FROM {db}.user_profile ORDER BY id"
    ) == [(17, 1990, "London", ""), (18, 0, "", "")]  # None arrives as "": the default
    assert sink.rows("SELECT id, parent, external_id FROM {db}.tag ORDER BY id") == [
        (10, 0, ""),
        (11, 10, "phys"),
    ]
    assert sink.rows("SELECT is_active, mode FROM {db}.course_enrollment") == [(True, "audit")]


def test_a_retired_learner_is_deleted_from_the_personal_data_tables(
    sink: EventSink, tmp_path: Path
) -> None:
    for table in PII_TABLES:
        sink.post_csv(table, SAMPLE_ROWS[table])

    # ALTER TABLE … DELETE WHERE user_id in (17) on each table, as the CMS user.
    sink.run_sink("retire", [], tmp_path, retire=[17])

    for table in PII_TABLES:
        assert sink.rows(f"SELECT user_id FROM {{db}}.{table}") == [(18,)], table


# Upgrading a schema that holds data, and back.


def test_0003_keeps_the_rows_of_0002_and_its_downgrade_keeps_the_new_ones(
    sink: EventSink,
) -> None:
    sink.migrate("downgrade", "0002")
    assert sink.show_create(f"{sink.event_sink}.course_overviews") == sink.expected(
        COURSE_OVERVIEWS
    )
    dump_id = str(uuid.uuid4())
    sink.admin.command(
        f"INSERT INTO {sink.event_sink}.course_overviews VALUES ('OpenedX', '{DEMO}', 'Demo', "
        f"'2024-02-01', '', '{dump_id}', '2024-05-01 00:00:00.000000+00:00')"
    )
    sink.admin.command(
        f"INSERT INTO {sink.event_sink}.course_blocks VALUES ('OpenedX', '{DEMO}', "
        f"'{location(DEMO, 'sequential', 'seq1')}', 'Homework 1', 'sequential', 1, 1, 0, true, "
        f"'{dump_id}', '2024-05-01 00:00:00.000000+00:00')"
    )

    output = sink.migrate("upgrade", "head")
    assert output.splitlines()[1:] == [
        "Applied 0003: Give the event sink tables the columns platform-plugin-aspects sends.",
        "The schema is now at 0003.",
    ]
    assert sink.rows(
        "SELECT display_name, course_start, enrollment_start, self_paced, course_data_json "
        "FROM {db}.course_overviews"
    ) == [("Demo", "2024-02-01", "", False, "{}")]
    old_block = (location(DEMO, "sequential", "seq1"), "Homework 1", "sequential", 1, 1, 0, True)
    block_columns = "location, display_name, block_type, section, subsection, unit, graded"
    assert sink.rows(f"SELECT {block_columns}, `order` FROM {{db}}.course_blocks") == [
        (*old_block, 0)
    ]
    # A block in the sink's format, beside the old one.
    video = location(DEMO, "video", "video1")
    data = {"block_type": "video", "section": 2, "subsection": 1, "unit": 3, "graded": 0}
    sink.post_csv(
        "course_blocks",
        [
            [
                "OpenedX",
                DEMO,
                video,
                "Video",
                json.dumps(data),
                6,
                "",
                str(uuid.uuid4()),
                "2025-05-03 15:47:39.331024+00:00",
            ]
        ],
    )
    new_block = (video, "Video", "video", 2, 1, 3, False)
    query = f"SELECT {block_columns} FROM {{db}}.course_blocks ORDER BY location"
    assert sink.rows(query) == sorted([old_block, new_block])

    output = sink.migrate("downgrade", "0002")
    assert output.splitlines()[1:] == [
        "Reverted 0003: Give the event sink tables the columns platform-plugin-aspects sends.",
        "The schema is now at 0002.",
    ]
    assert sink.show_create(f"{sink.event_sink}.course_overviews") == sink.expected(
        COURSE_OVERVIEWS
    )
    assert sink.show_create(f"{sink.event_sink}.course_blocks") == sink.expected(COURSE_BLOCKS)
    assert sink.tables(sink.event_sink) == ["course_blocks", "course_overviews"]
    # Both blocks keep their values, the new one those computed from its JSON.
    assert sink.rows(query) == sorted([old_block, new_block])
    assert sink.rows("SELECT count() FROM {db}.course_overviews") == [(1,)]

    sink.migrate("upgrade", "head")
    assert sink.rows(query) == sorted([old_block, new_block])
