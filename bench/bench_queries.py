"""
Dashboard queries: p50 and p95 latency of the chart queries that read the reporting models,
one course at a time, against the same questions answered straight from the raw table (the
JSON of each statement parsed at query time), on the same generated statements, in one run.
Target: the models answer at least 10 times faster.

    python bench/bench_queries.py [--small] [--statements N]

The statements are loaded straight into the raw table (the xapi_events_parsed materialized
view parses them on the way), then `tutor local do dbt run` builds the models.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, print_rows, seconds  # noqa: E402
from stack import RAW_TABLE, Stack, analytics_stack  # noqa: E402

COURSES = 5  # courses asked about, the busiest first
MODEL_REPEAT = 4  # each model query per course; the raw ones run once per course
# Above this many statements, the raw table is asked about fewer courses (each raw query reads
# every statement), to keep `make bench` within its time.
RAW_COURSES_ABOVE = (2_000_000, 2)
SMALL_SIZES = [20_000]
FULL_SIZES = [1_000_000, 10_000_000]
VERB = "http://adlnet.gov/expapi/verbs/"
REGISTERED, UNREGISTERED = VERB + "registered", "http://id.tincanapi.com/verb/unregistered"
PLAYED, COMPLETED = "https://w3id.org/xapi/video/verbs/played", VERB + "completed"
EVALUATED = "https://w3id.org/xapi/acrossx/verbs/evaluated"
NAVIGATED = "https://w3id.org/xapi/dod-isd/verbs/navigated"
NOT_ACTIVITY = f"('{REGISTERED}', '{UNREGISTERED}', '{VERB}passed', '{VERB}failed')"
COURSE_PATTERN = "'course-v1:[^/?#+]+[+][^/?#+]+[+][^/?#+]+'"

# The raw table read as a chart would have to without the models: every field out of the JSON.
RAW = f"""
    SELECT
        emission_time,
        JSONExtractString(event, 'actor', 'account', 'name') AS actor_id,
        JSONExtractString(event, 'verb', 'id') AS verb_id,
        JSONExtractString(event, 'object', 'id') AS object_id,
        coalesce(
            nullIf(extract(object_id, {COURSE_PATTERN}), ''),
            extract(JSONExtractRaw(event, 'context', 'contextActivities'), {COURSE_PATTERN})
        ) AS course_key,
        extract(object_id, 'block-v1:[^/?#]+') AS block_id,
        JSONExtract(event, 'result', 'score', 'scaled', 'Nullable(Float64)') AS scaled_score,
        JSONExtract(event, 'result', 'success', 'Nullable(Bool)') AS success
    FROM {RAW_TABLE}
"""


@dataclass(frozen=True)
class Question:
    """A chart's question, asked of a reporting model and of the raw table ({course})."""

    name: str
    model: str
    raw: str


QUESTIONS = [
    Question(
        "enrolments per day",
        "SELECT enrollment_date, registrations, unregistrations, enrolled_learners "
        "FROM reporting.course_enrollments_daily WHERE course_key = {course} "
        "ORDER BY enrollment_date",
        "SELECT day, registrations, unregistrations, "
        "sum(registrations - unregistrations) OVER (ORDER BY day) AS enrolled "
        f"FROM (SELECT toDate(emission_time) AS day, countIf(verb_id = '{REGISTERED}') "
        f"AS registrations, countIf(verb_id = '{UNREGISTERED}') AS unregistrations FROM ({RAW}) "
        "WHERE course_key = {course} "
        f"AND verb_id IN ('{REGISTERED}', '{UNREGISTERED}') GROUP BY day) ORDER BY day",
    ),
    Question(
        "active learners per day",
        "SELECT period_start, active_learners FROM reporting.course_active_learners "
        "WHERE course_key = {course} AND period = 'day' ORDER BY period_start",
        f"SELECT toDate(emission_time) AS day, uniqExact(actor_id) FROM ({RAW}) "
        f"WHERE course_key = {{course}} AND verb_id NOT IN {NOT_ACTIVITY} "
        "GROUP BY day ORDER BY day",
    ),
    Question(
        "navigations per day",
        "SELECT navigation_date, sum(navigations) FROM reporting.navigation_daily "
        "WHERE course_key = {course} GROUP BY navigation_date ORDER BY navigation_date",
        f"SELECT toDate(emission_time) AS day, count() FROM ({RAW}) "
        f"WHERE course_key = {{course}} AND verb_id = '{NAVIGATED}' GROUP BY day ORDER BY day",
    ),
    Question(
        "video plays and viewers",
        "SELECT video_id, plays, viewers, completers FROM reporting.video_engagement "
        "WHERE course_key = {course} ORDER BY plays DESC",
        f"SELECT block_id, countIf(verb_id = '{PLAYED}') AS plays, "
        f"uniqExactIf(actor_id, verb_id = '{PLAYED}'), "
        f"uniqExactIf(actor_id, verb_id = '{COMPLETED}') FROM ({RAW}) "
        "WHERE course_key = {course} AND position(block_id, '+type@video+') > 0 "
        "GROUP BY block_id ORDER BY plays DESC",
    ),
    Question(
        "problem success rates",
        "SELECT problem_id, attempts, success_rate, average_score "
        "FROM reporting.problem_performance WHERE course_key = {course} ORDER BY problem_id",
        "SELECT block_id, count(), avgIf(success, success IS NOT NULL), avg(scaled_score) "
        f"FROM ({RAW}) WHERE course_key = {{course}} AND verb_id = '{EVALUATED}' "
        "GROUP BY block_id ORDER BY block_id",
    ),
    Question(
        "problem score distribution",
        "SELECT problem_id, score_bucket, learners FROM reporting.problem_score_distribution "
        "WHERE course_key = {course} ORDER BY problem_id, score_bucket",
        "SELECT block_id, least(intDiv(toUInt32(latest * 100), 10) * 10, 100) AS bucket, "
        "count() FROM (SELECT block_id, actor_id, argMax(scaled_score, emission_time) AS latest "
        f"FROM ({RAW}) WHERE course_key = {{course}} AND verb_id = '{EVALUATED}' "
        "AND scaled_score IS NOT NULL GROUP BY block_id, actor_id) "
        "GROUP BY block_id, bucket ORDER BY block_id, bucket",
    ),
    Question(
        "learners' last activity",
        "SELECT actor_id, enrollment_status, last_activity_at, course_grade_percent "
        "FROM reporting.learner_course_status WHERE course_key = {course} ORDER BY actor_id",
        f"SELECT actor_id, max(emission_time) FROM ({RAW}) WHERE course_key = {{course}} "
        f"AND verb_id NOT IN {NOT_ACTIVITY} GROUP BY actor_id ORDER BY actor_id",
    ),
    Question(
        "learners at risk",
        "SELECT actor_id, days_inactive FROM reporting.at_risk_learners "
        "WHERE course_key = {course} ORDER BY days_inactive DESC",
        f"SELECT actor_id, dateDiff('day', max(emission_time), (SELECT max(emission_time) "
        f"FROM {RAW_TABLE})) AS days FROM ({RAW}) WHERE course_key = {{course}} "
        f"AND verb_id NOT IN {NOT_ACTIVITY} GROUP BY actor_id HAVING days >= 14 "
        "ORDER BY days DESC",
    ),
]


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def timed(stack: Stack, sql: str) -> float:
    started = time.perf_counter()
    stack.query(sql)
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def grow(stack: Stack, statements: int) -> str:
    """
    Load statements until there are `statements`, then bring the models up to date (a full
    build the first time, incremental after); what it took, for the notes.
    """
    before = stack.statements
    load_seconds = stack.load_statements(statements - before)
    dbt_seconds, results = stack.dbt("run")
    failed = [result["unique_id"] for result in results if result["status"] != "success"]
    if failed:
        raise RuntimeError(f"dbt run failed for {failed}")
    return (
        f"{stack.statements - before:,} generated statements loaded in {seconds(load_seconds)} "
        f"(materialized view included); `dbt run` brought the models up to date in "
        f"{seconds(dbt_seconds)}."
    )


def measure(stack: Stack, loaded: str = "") -> list[Row]:
    courses = [
        row[0]
        for row in stack.query(
            "SELECT course_key FROM reporting.course_active_learners WHERE period = 'week' "
            f"GROUP BY course_key ORDER BY sum(statements) DESC LIMIT {COURSES}"
        )
    ]
    model_times: dict[str, list[float]] = {q.name: [] for q in QUESTIONS}
    raw_times: dict[str, list[float]] = {q.name: [] for q in QUESTIONS}
    raw_courses = COURSES
    if stack.statements > RAW_COURSES_ABOVE[0]:
        raw_courses = RAW_COURSES_ABOVE[1]
    for index, course in enumerate(courses):
        for question in QUESTIONS:
            # Interleaved, so that machine noise hits both alike.
            if index < raw_courses:
                sql = question.raw.format(course=quote(course))
                raw_times[question.name].append(timed(stack, sql))
            for _ in range(MODEL_REPEAT):
                sql = question.model.format(course=quote(course))
                model_times[question.name].append(timed(stack, sql))
    every_model = [value for values in model_times.values() for value in values]
    every_raw = [value for values in raw_times.values() for value in values]
    model_p50, raw_p50 = statistics.median(every_model), statistics.median(every_raw)
    per_question = "; ".join(
        f"{name}: {seconds(statistics.median(model_times[name]))} vs "
        f"{seconds(statistics.median(raw_times[name]))}"
        for name in model_times
    )
    notes = (
        f"{loaded} {len(QUESTIONS)} chart questions, each for the {len(courses)} busiest of "
        f"20 courses, {MODEL_REPEAT} times from the models, and for "
        f"{min(raw_courses, len(courses))} of them once from the raw table, over HTTP as "
        f"Superset asks them. p50 per question, model vs raw: {per_question}."
    )
    return [
        Row(
            benchmark=f"Dashboard queries on {stack.statements:,} statements, p50",
            baseline=f"raw table {seconds(raw_p50)}",
            ours=f"reporting models {seconds(model_p50)}",
            ratio=raw_p50 / model_p50,
            target="≥ 10 (times faster)",
            met=raw_p50 / model_p50 >= 10,
            notes=notes,
        ),
        Row(
            benchmark=f"Dashboard queries on {stack.statements:,} statements, p95",
            baseline=f"raw table {seconds(percentile(every_raw, 0.95))}",
            ours=f"reporting models {seconds(percentile(every_model, 0.95))}",
            ratio=percentile(every_raw, 0.95) / percentile(every_model, 0.95),
            target="≥ 10 (times faster)",
            met=percentile(every_raw, 0.95) / percentile(every_model, 0.95) >= 10,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: 20,000 statements")
    parser.add_argument(
        "--statements",
        type=lambda text: [int(size) for size in text.split(",")],
        help="sizes measured at, growing, comma-separated (default 1000000,10000000)",
    )
    args = parser.parse_args(argv)
    sizes = args.statements or (SMALL_SIZES if args.small else FULL_SIZES)
    rows = []
    with tempfile.TemporaryDirectory() as directory, analytics_stack(Path(directory)) as stack:
        for size in sizes:
            rows += measure(stack, grow(stack, size))
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
