"""
The Aspects dbt models on generated statements: every figure against a computation in Python.

Two batches of statements come from the seeded generator (tutoraspects.job.xapi_generator): a
first one over eight weeks, and a second one (another seed: other learners, the same courses)
over six weeks that overlap the first batch's last two. Each statement is read here, from its
JSON, into the ``Fact`` of test_dbt_models (verb, learner, course from the context's parent or
the object, block, score, video time, progress, navigation), and that module's reference
computations give every model's expected figures.

The module builds one history, and each test checks one stage of it:

1. first: the first batch is in the raw table before the models exist, then ``dbt build``;
2. replay: every statement of the first batch inserted again, then ``dbt build``: no figure
   changes;
3. union: the second batch inserted, then ``dbt build``: the figures are those of both batches.

at_risk_learners is built as of the end of the generated weeks (the ``at_risk_as_of`` var).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import clickhouse_connect
import pytest

from tests.aspects.figures_course_tabs import (
    expected_course_interactions,
    expected_enrollments_by_mode,
    expected_problem_learner_attempts,
)
from tests.aspects.figures_learners import assert_learner_figures
from tests.aspects.figures_video_pages import expected_block_engagement, expected_video_views
from tests.aspects.test_dbt_models import (
    ACTIVITY_MODE,
    COURSE_TYPE,
    DBT_VARS,
    DISCUSSION_TYPE,
    ENDING_POINT,
    LINK_TYPE,
    MODELS,
    MODULE_TYPE,
    PROGRESS,
    RAW_TABLE_DDL,
    STRUCTURE_MODELS,
    VERBS,
    VIDEO_CC_ENABLED,
    VIDEO_LENGTH,
    VIDEO_SPEED_FROM,
    VIDEO_SPEED_TO,
    VIDEO_TIME,
    VIDEO_TIME_FROM,
    VIDEO_TIME_TO,
    XAPI_DATABASE,
    Course,
    Dbt,
    Fact,
    Row,
    Stage,
    as_expected,
    create_event_sink,
    dataset_sql,
    expected_active_learners,
    expected_at_risk,
    expected_course_grades,
    expected_enrollments,
    expected_forum_activity,
    expected_ingestion,
    expected_learner_status,
    expected_navigation,
    expected_parsed,
    expected_problem_performance,
    expected_problem_responses,
    expected_score_distribution,
    expected_subsection_grades,
    expected_video_engagement,
    expected_video_interactions,
    expected_video_seeks,
    figures,
    projected,
)
from tests.harness.fixtures import ClickHouseServer
from tutoraspects.job import xapi_generator

GENERATED_XAPI_DATABASE = "generated_models_xapi"
GENERATED_REPORTING_DATABASE = "generated_models_reporting"
GENERATED_EVENT_SINK_DATABASE = "generated_models_event_sink"

# Small courses and one session a week give many learners for the number of statements.
COURSE_SHAPE = {"orgs": 3, "courses_per_org": 2, "sections_per_course": 2, "sessions_per_week": 1.0}
FIRST_BATCH = {
    "statements": 8000,
    "seed": 21,
    "weeks": 8,
    "start": datetime(2024, 1, 1, tzinfo=UTC),
}
# Same quarter, so the same course runs; the first two weeks overlap the first batch's last two.
SECOND_BATCH = {
    "statements": 4000,
    "seed": 22,
    "weeks": 6,
    "start": datetime(2024, 2, 12, tzinfo=UTC),
}
STAGES = ["first", "replay", "union"]

NAVIGATION_BY_ENDING_POINT = {"next unit": "next", "previous unit": "previous"}
VERB_NAMES = {iri: name for name, iri in VERBS.items()}

EXPECTED_FIGURES = {
    "course_enrollments_daily": expected_enrollments,
    "course_active_learners": expected_active_learners,
    "navigation_daily": expected_navigation,
    "video_engagement": expected_video_engagement,
    "problem_performance": expected_problem_performance,
    "problem_score_distribution": expected_score_distribution,
    "learner_course_status": expected_learner_status,
    "ingestion_hourly": expected_ingestion,
    "course_grades": expected_course_grades,
    "subsection_grades": expected_subsection_grades,
    "forum_activity_daily": expected_forum_activity,
    "video_interactions_daily": expected_video_interactions,
    "video_seeks": expected_video_seeks,
    "problem_responses": expected_problem_responses,
    "enrollments_by_mode_daily": expected_enrollments_by_mode,
    "problem_learner_attempts": expected_problem_learner_attempts,
    "course_interactions_daily": expected_course_interactions,
    "video_views": expected_video_views,
    "block_engagement_daily": expected_block_engagement,
}


# --- Reading the generated statements ----------------------------------------------------------


def read_fact(statement: dict[str, Any]) -> Fact:
    """What a statement says, read from its JSON as event-routing-backends writes it."""
    verb_id = statement["verb"]["id"]
    verb = VERB_NAMES.get(verb_id, verb_id)  # verbs no model names keep their IRI
    result = statement.get("result", {})
    score = result.get("score", {}).get("scaled")
    progress = None
    if verb == "progressed":
        progress = result.get("extensions", {}).get(PROGRESS)
        if progress is None and score is not None:
            progress = score * 100
    stored = statement.get("stored")
    extensions = result.get("extensions", {})
    post_type, thread = forum_post_of(statement)
    return Fact(
        event_id=statement["id"],
        time=datetime.fromisoformat(statement["timestamp"]),
        actor=statement["actor"]["account"]["name"],
        verb=verb,
        course=course_of(statement),
        block=block_of(statement),
        score=score,
        success=result.get("success"),
        video_time=result.get("extensions", {}).get(VIDEO_TIME),
        video_length=statement["context"]["extensions"].get(VIDEO_LENGTH),
        progress=progress,
        navigation=navigation_of(statement) if verb == "navigated" else "",
        ccx=ccx_of(statement),
        parent_statement=statement["context"].get("statement", {}).get("id", ""),
        stored=datetime.fromisoformat(stored) if stored else None,
        object_type=statement["object"].get("definition", {}).get("type", ""),
        raw_score=result.get("score", {}).get("raw"),
        max_score=result.get("score", {}).get("max"),
        time_from=extensions.get(VIDEO_TIME_FROM),
        time_to=extensions.get(VIDEO_TIME_TO),
        speed_from=speed(extensions.get(VIDEO_SPEED_FROM)),
        speed_to=speed(extensions.get(VIDEO_SPEED_TO)),
        captions=extensions.get(VIDEO_CC_ENABLED),
        object_name=next(iter(statement["object"]["definition"].get("name", {}).values()), ""),
        post_type=post_type,
        thread=thread,
        response=result.get("response", ""),
        question=question_of(statement),
        mode=(
            statement["object"]["definition"].get("extensions", {}).get(ACTIVITY_MODE, "")
            if verb == "registered"
            else ""
        ),
    )


def question_of(statement: dict[str, Any]) -> str:
    """A question of a multi-question problem: the input id its object id ends in (2_1)."""
    if "statement" not in statement["context"]:
        return ""
    found = re.search(r"_([0-9]+_[0-9]+)$", statement["object"]["id"])
    return found.group(1) if found else ""


def speed(text: str | None) -> float | None:
    """A speed as event-routing-backends writes it: "1.50x"."""
    return None if text is None else float(text.removesuffix("x"))


THREAD = re.compile(r"/threads/([^/?#]+)$")


def forum_post_of(statement: dict[str, Any]) -> tuple[str, str]:
    """A forum statement's post type (thread, or reply: a comments object) and the thread it
    names: its object, or a reply's grouping thread."""
    statement_object = statement["object"]
    if statement_object["definition"]["type"] != DISCUSSION_TYPE:
        return "", ""
    if found := THREAD.search(statement_object["id"]):
        return "thread", found.group(1)
    grouping = statement["context"].get("contextActivities", {}).get("grouping", [])
    threads = [found.group(1) for a in grouping if (found := THREAD.search(a["id"]))]
    return "reply", threads[0] if threads else ""


def course_activity(statement: dict[str, Any]) -> dict[str, Any]:
    """The course among a statement's context activities (parents, then groupings: a question
    of a multi-question problem has its problem as parent), else the object of a statement
    about the course itself: {lms}/course/course-v1:ORG+COURSE+RUN (or a CCX's ccx-v1 key)."""
    activities = statement["context"].get("contextActivities", {})
    courses = [
        activity
        for activity in activities.get("parent", []) + activities.get("grouping", [])
        if activity["id"].rpartition("/")[0].endswith("/course")
    ]
    return courses[0] if courses else statement["object"]


def course_of(statement: dict[str, Any]) -> Course:
    """The master course of the statement's course (a CCX counts towards it)."""
    activity = course_activity(statement)
    path, _, key = activity["id"].rpartition("/")
    assert path.endswith("/course") and key.startswith(("course-v1:", "ccx-v1:")), activity["id"]
    if key.startswith("ccx-v1:"):
        key = "course-v1:" + key.removeprefix("ccx-v1:").rpartition("+ccx@")[0]
    names = activity["definition"].get("name", {})
    return Course(key, next(iter(names.values()), ""))


def ccx_of(statement: dict[str, Any]) -> str:
    key = course_activity(statement)["id"].rpartition("/")[2]
    return key if key.startswith("ccx-v1:") else ""


def block_of(statement: dict[str, Any]) -> str:
    """The block-v1 key of the object; '' when the object is the course (its root block too)."""
    statement_object = statement["object"]
    if statement_object["definition"]["type"] == COURSE_TYPE:
        return ""
    _, found, block = statement_object["id"].partition("/xblock/")
    if not found:
        return ""
    if block.startswith("ccx-block-v1:"):
        master, _, rest = block.removeprefix("ccx-block-v1:").partition("+type@")
        block = f"block-v1:{master.rpartition('+ccx@')[0]}+type@{rest}"
    if "+type@problem+" in block:
        # A question of a multi-question problem is its problem: its id ends in _<part>_<input>.
        block = re.sub(r"_[0-9]+_[0-9]+$", "", block)
    return block


def navigation_of(statement: dict[str, Any]) -> str:
    object_type = statement["object"]["definition"]["type"]
    if object_type in (LINK_TYPE, MODULE_TYPE):
        return "link" if object_type == LINK_TYPE else "outline"
    ending_point = statement["context"]["extensions"].get(ENDING_POINT)
    return NAVIGATION_BY_ENDING_POINT.get(ending_point, "tab")  # a tab number otherwise


@dataclass(frozen=True)
class Batch:
    config: xapi_generator.Config
    lines: list[str]  # the statements as the generator writes them
    statements: list[dict[str, Any]]
    facts: list[Fact]


def generate(statements: int, **settings: Any) -> Batch:
    config = xapi_generator.sized_config(statements, **COURSE_SHAPE, **settings)
    lines = list(xapi_generator.iter_statement_json(config))
    parsed = [json.loads(line) for line in lines]
    return Batch(config, lines, parsed, [read_fact(statement) for statement in parsed])


def dbt_variables(batch: Batch) -> dict[str, Any]:
    """at_risk_learners as of the end of the batch's weeks."""
    return DBT_VARS | {"at_risk_as_of": batch.config.end.strftime("%Y-%m-%dT%H:%M:%S")}


# --- The history -------------------------------------------------------------------------------


@dataclass
class History:
    first: Batch
    second: Batch
    stages: dict[str, Stage]


@pytest.fixture(scope="module")
def history(
    clickhouse_server: ClickHouseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[History]:
    dbt = Dbt(clickhouse_server, tmp_path_factory.mktemp("dbt-target-generated"))
    dbt.env |= {
        "ASPECTS_XAPI_DATABASE": GENERATED_XAPI_DATABASE,
        "ASPECTS_REPORTING_DATABASE": GENERATED_REPORTING_DATABASE,
        "ASPECTS_EVENT_SINK_DATABASE": GENERATED_EVENT_SINK_DATABASE,
    }
    client = clickhouse_connect.get_client(
        host=clickhouse_server.host,
        port=clickhouse_server.port,
        username=clickhouse_server.user,
        password=clickhouse_server.password,
        # The embedded server decodes only the first frame of an LZ4 request body, and the
        # client compresses each block of an insert as a frame of its own.
        compress=False,
    )
    for database in (GENERATED_XAPI_DATABASE, GENERATED_REPORTING_DATABASE):
        client.command(f"DROP DATABASE IF EXISTS {database}")
    client.command(f"CREATE DATABASE {GENERATED_XAPI_DATABASE}")
    client.command(RAW_TABLE_DDL.replace(f" {XAPI_DATABASE}.", f" {GENERATED_XAPI_DATABASE}.", 1))
    create_event_sink(client, GENERATED_EVENT_SINK_DATABASE)

    def publish(batch: Batch) -> None:
        """The courses' structure, as the CMS dumps it (the test data loader writes the same)."""
        overviews, blocks = xapi_generator.course_structure(batch.config)
        for table, rows, columns in (
            ("course_overviews", overviews, xapi_generator.COURSE_OVERVIEW_COLUMNS),
            ("course_blocks", blocks, xapi_generator.COURSE_BLOCK_COLUMNS),
        ):
            client.insert(f"{GENERATED_EVENT_SINK_DATABASE}.{table}", rows, list(columns))

    inserted: set[str] = set()

    def insert(batch: Batch) -> None:
        rows = [
            [uuid.UUID(fact.event_id), fact.time, line]
            for fact, line in zip(batch.facts, batch.lines, strict=True)
        ]
        client.insert(
            f"{GENERATED_XAPI_DATABASE}.xapi_events_all",
            rows,
            ["event_id", "emission_time", "event"],
        )
        inserted.update(fact.event_id for fact in batch.facts)
        stored = client.command(
            f"SELECT uniqExact(event_id) FROM {GENERATED_XAPI_DATABASE}.xapi_events_all"
        )
        assert stored == len(inserted), "statements were lost on the way in"

    def snapshot(facts: list[Fact], results: dict[str, Any]) -> Stage:
        tables = {
            model: as_expected(
                client.query(
                    f"SELECT * FROM {GENERATED_REPORTING_DATABASE}.{model}"
                ).named_results()
            )
            for model in MODELS + STRUCTURE_MODELS
        }
        return Stage(facts, tables, results)

    first = generate(**FIRST_BATCH)
    second = generate(**SECOND_BATCH)
    stages = {}
    publish(first)
    insert(first)
    stages["first"] = snapshot(first.facts, dbt("build", variables=dbt_variables(first)))
    # The statements and the course structure again, as a second load of the same test data.
    publish(first)
    insert(first)
    stages["replay"] = snapshot(first.facts, dbt("build", variables=dbt_variables(first)))
    # The second batch's courses have the same keys and other blocks: a later publish.
    publish(second)
    insert(second)
    union = first.facts + second.facts
    stages["union"] = snapshot(union, dbt("build", variables=dbt_variables(second)))
    yield History(first, second, stages)
    client.close()


def as_of(history: History, stage: str) -> datetime:
    return (history.second if stage == "union" else history.first).config.end


# --- Tests -------------------------------------------------------------------------------------


def test_the_batches_span_several_courses_weeks_and_learners(history: History) -> None:
    first, second = history.first, history.second
    sizes = (len(first.facts), len(second.facts))
    assert sizes == (FIRST_BATCH["statements"], SECOND_BATCH["statements"])
    union = first.facts + second.facts
    assert len({fact.event_id for fact in union}) == len(union)
    courses = {fact.course.key for fact in union}
    assert len(courses) == 6 and len({course.split("+")[0] for course in courses}) == 3
    assert {fact.course.key for fact in second.facts} <= {fact.course.key for fact in first.facts}
    assert not {fact.actor for fact in first.facts} & {fact.actor for fact in second.facts}
    weeks = {fact.time.isocalendar()[:2] for fact in union}
    assert len(weeks) >= 11
    overlap = {fact.time.date() for fact in first.facts} & {f.time.date() for f in second.facts}
    assert len(overlap) >= 10
    # Every kind of statement the generator makes (a regrade under the pass cutoff is the
    # rarest), many learners, and enough of the rarer cases to mean something.
    kinds = Counter(xapi_generator.classify(s) for s in first.statements + second.statements)
    assert set(kinds) == set(xapi_generator.KINDS)
    assert len({fact.actor for fact in union}) >= 100
    assert kinds["enrollment_unregistered"] >= 10 and kinds["course_passed"] >= 20
    assert kinds["video_completed"] >= 200 and kinds["problem_server_check"] >= 500


@pytest.mark.parametrize("stage", STAGES)
def test_dbt_builds_every_model_and_passes_every_data_test(history: History, stage: str) -> None:
    results = history.stages[stage].results
    assert set(MODELS) <= set(results)
    statuses = {name: result["status"] for name, result in results.items()}
    assert {name: s for name, s in statuses.items() if s not in ("success", "pass")} == {}


@pytest.mark.parametrize("stage", STAGES)
def test_parsed_statements_match_the_generated_ones(history: History, stage: str) -> None:
    state = history.stages[stage]
    rows = state.tables["xapi_events_parsed"]
    # The first batch is there twice after its replay, until the parts merge.
    replayed = len(history.first.facts) if stage != "first" else 0
    assert len(state.facts) <= len(rows) <= len(state.facts) + replayed

    verb_of = {fact.event_id: VERBS.get(fact.verb, fact.verb) for fact in state.facts}
    expected_identity = {
        (fact.event_id, verb_of[fact.event_id], fact.course.org, fact.course.key)
        for fact in state.facts
    }
    actual_identity = {
        (str(row["event_id"]), row["verb_id"], row["org"], row["course_key"]) for row in rows
    }
    assert actual_identity == expected_identity
    distinct_rows = {str(row["event_id"]): row["verb_id"] for row in rows}
    assert Counter(distinct_rows.values()) == Counter(verb_of.values())

    # Every column, for the statements of the verbs the models read.
    known = [fact for fact in state.facts if fact.verb in VERBS]
    expected = as_expected(expected_parsed(known))
    columns = list(expected[0])
    actual = [row for row in rows if row["verb_id"] in VERB_NAMES]
    assert projected(actual, columns, distinct=True) == projected(expected, columns)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("model", list(EXPECTED_FIGURES))
def test_model_figures_match_the_statements(history: History, stage: str, model: str) -> None:
    state = history.stages[stage]
    expected = as_expected(EXPECTED_FIGURES[model](state.facts))
    actual = state.tables[model]
    columns = list(expected[0])
    assert set(columns) <= set(actual[0]), "the model lacks columns"
    assert projected(actual, columns) == projected(expected, columns)


@pytest.mark.parametrize("stage", STAGES)
def test_at_risk_learners_as_of_the_end_of_the_weeks(history: History, stage: str) -> None:
    state = history.stages[stage]
    config = (history.second if stage == "union" else history.first).config
    blocks = expected_structure(config)["course_block_names"]
    expected = as_expected(
        expected_at_risk(state.facts, as_of=as_of(history, stage), blocks=blocks)
    )
    actual = state.tables["at_risk_learners"]
    assert len(expected) >= 10
    columns = list(expected[0])
    assert projected(actual, columns) == projected(expected, columns)


@pytest.mark.parametrize("stage", ["first", "union"])
def test_enrolled_learners_agree_with_the_generated_enrollments(
    history: History, stage: str
) -> None:
    """The last enrolled count of each course is that of the universe the statements come from.

    The statement cap cuts the last learner's activity short: an enrolment counts when its
    registration was emitted, an unenrolment when it came before the learner's last statement.
    A learner enrolled before collection began (no registration statement) is not counted.
    """
    batches = [history.first, history.second] if stage == "union" else [history.first]
    enrolled: Counter[str] = Counter()
    for batch in batches:
        last_statement: dict[str, datetime] = {}
        for fact in batch.facts:  # each learner's statements are in time order
            last_statement[fact.actor] = fact.time
        universe = xapi_generator.build_universe(batch.config)
        for enrollment in universe.enrollments:
            learner = universe.learners[enrollment.learner_index].name
            until = last_statement.get(learner)
            left = enrollment.unenrolled_at
            emitted = (
                enrollment.registration_sent
                and until is not None
                and enrollment.enrolled_at <= until
            )
            if emitted and not (left is not None and left <= until):
                enrolled[universe.courses[enrollment.course_index].key] += 1
    rows = history.stages[stage].tables["course_enrollments_daily"]
    last_day: dict[str, Row] = {}
    for row in sorted(rows, key=lambda row: row["enrollment_date"]):
        last_day[row["course_key"]] = row
    assert {key: row["enrolled_learners"] for key, row in last_day.items()} == dict(enrolled)


def test_a_replay_of_every_statement_changes_no_figure(history: History) -> None:
    first, replay = history.stages["first"], history.stages["replay"]
    for model in MODELS:
        assert figures(model, replay.tables[model]) == figures(model, first.tables[model]), model


def test_the_second_batch_changes_the_overlapping_groups(history: History) -> None:
    """The union is not the first batch's rows plus the second's: shared groups were merged."""
    first, union = history.stages["first"], history.stages["union"]
    first_days = {
        (row["course_key"], row["period_start"]): row["active_learners"]
        for row in first.tables["course_active_learners"]
        if row["period"] == "day"
    }
    changed = [
        key
        for row in union.tables["course_active_learners"]
        if row["period"] == "day"
        and (key := (row["course_key"], row["period_start"])) in first_days
        and row["active_learners"] > first_days[key]
    ]
    assert len(changed) >= 5


# --- Course structure --------------------------------------------------------------------------


def structure_row(
    course: xapi_generator.Course,
    item: xapi_generator.Block,
    place: tuple[int, int, int],
    graded: bool,
    above: tuple[str, ...] = (),
) -> Row:
    """A block of course_block_names: its place, and its location from the names above it."""
    return {
        "course_key": course.key,
        "block_id": item.usage_key,
        "block_name": item.display_name,
        "block_type": item.block_type,
        "section": place[0],
        "subsection": place[1],
        "unit": place[2],
        "graded": graded,
        "location_label": " › ".join([*above, item.display_name]),
    }


def expected_structure(config: xapi_generator.Config) -> dict[str, list[Row]]:
    """course_names and course_block_names of the generator's courses, read off its universe:
    each section's subsections and units, and the names they give each block's location."""
    universe = xapi_generator.build_universe(config)
    names, blocks = [], []
    per_section = config.subsections_per_section
    for course in universe.courses:
        names.append(
            {
                "org": course.org,
                "course_key": course.key,
                "course_name": course.display_name,
                "course_run": course.run,
            }
        )
        root_key = course.root_iri.split("/xblock/", 1)[1]
        root = xapi_generator.Block(-1, course.index, "course", root_key, "", course.display_name)
        blocks.append(structure_row(course, root, (0, 0, 0), False))
        for s, section in enumerate(course.sections, start=1):
            blocks.append(structure_row(course, section, (s, 0, 0), False))
            subsections = course.subsections[(s - 1) * per_section : s * per_section]
            for ss, subsection in enumerate(subsections, start=1):
                graded = subsection.weight > 0  # a subsection with problems counts in the grade
                above = (section.display_name, subsection.display_name)
                blocks.append(structure_row(course, subsection, (s, ss, 0), graded, above[:1]))
                for unit in (u for u in course.units if u.subsection is subsection):
                    place = (s, ss, unit.position)
                    for item in (unit.block, *unit.components):
                        blocks.append(structure_row(course, item, place, graded, above))
    return {"course_names": names, "course_block_names": blocks}


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("model", STRUCTURE_MODELS)
def test_course_structure_is_the_generated_one(history: History, stage: str, model: str) -> None:
    """Loading the same structure twice adds nothing; a later publish replaces every block."""
    config = (history.second if stage == "union" else history.first).config
    expected = as_expected(expected_structure(config)[model])
    actual = history.stages[stage].tables[model]
    columns = list(expected[0])
    assert projected(actual, columns) == projected(expected, columns)


def test_every_block_of_the_statements_has_its_name(history: History) -> None:
    """The structure the generator writes names every block its statements are about."""
    state = history.stages["first"]
    named = {row["block_id"] for row in state.tables["course_block_names"]}
    blocks = {fact.block for fact in state.facts if fact.block}
    assert blocks and blocks <= named


# The charts of the learner dashboards, and their titles: each shows its dataset's rows.
LEARNER_CHARTS = {
    "Learners at risk": "at_risk_learners",
    "Learners": "learner_details",
    "Problem results against the course average": "learner_problem_results",
    "Engagement per section and subsection": "learner_section_engagement",
}


def test_the_learner_datasets_match_the_statements(
    history: History, clickhouse_server: ClickHouseServer
) -> None:
    """The learner dashboards' datasets (their SQL, as Superset runs it), every figure against
    the generated statements and structure."""
    client = clickhouse_connect.get_client(
        host=clickhouse_server.host,
        port=clickhouse_server.port,
        username=clickhouse_server.user,
        password=clickhouse_server.password,
    )
    rows = {
        title: list(client.query(dataset_sql(table, GENERATED_REPORTING_DATABASE)).named_results())
        for title, table in LEARNER_CHARTS.items()
    }
    client.close()
    criteria = {name.removeprefix("at_risk_"): v for name, v in DBT_VARS.items() if "risk" in name}
    structure = expected_structure(history.second.config)
    facts = history.stages["union"].facts
    limit = math.inf  # a dataset's SQL answers every row, a chart up to its row limit
    assert_learner_figures(rows, facts, structure, criteria, as_of(history, "union"), limit)
