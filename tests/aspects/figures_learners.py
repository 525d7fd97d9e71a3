"""
Ground truth of the learner dashboards' charts (Learners at risk; Individual learners: the
summary, problem results against the course average, engagement per section and subsection),
computed from the statements' facts (tests/aspects/test_dbt_models.py's Fact) and the course
structure, never from the SQL.
"""

from __future__ import annotations

import typing as t
from collections import defaultdict
from datetime import datetime

from tests.aspects.figures_course_tabs import label

if t.TYPE_CHECKING:
    from tests.aspects.test_dbt_models import Fact

Row = dict[str, t.Any]
# Superset's raw tables answer up to this many rows (the charts' row_limit).
ROW_LIMIT = 1000


def _seconds(value: t.Any) -> int | None:
    """A time as Superset answers it (epoch milliseconds) or as a fact holds it, in seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value // 1000)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def labelled(row: Row) -> Row:
    """A learner's track and status as charts show them."""
    return {
        column: label(row[column])
        for column in ("enrollment_status", "enrollment_mode")
        if column in row
    }


def _shown(rows: list[Row], columns: tuple[str, ...]) -> set[tuple[t.Any, ...]]:
    def value(column: str, cell: t.Any) -> t.Any:
        if column.endswith("_at"):
            return _seconds(cell)
        return _rounded(cell) if isinstance(cell, float) else cell

    return {tuple(value(column, row[column]) for column in columns) for row in rows}


def assert_learner_figures(
    rows: dict[str, list[Row]],
    facts: list[Fact],
    structure: dict[str, list[Row]],
    criteria: dict[str, int],
    as_of: datetime | None = None,
    row_limit: float = ROW_LIMIT,
) -> None:
    """
    `rows`: chart title -> the rows Superset answered (or the datasets' rows); `criteria`: the
    deployment's at-risk settings (inactive_days, grade_below_percent, progress_below_percent);
    `as_of`: the at_risk_as_of the models were built with, if any; `row_limit`: the most rows
    a chart answers (the datasets' SQL has none).
    """
    from tests.aspects.figures_video_pages import (  # noqa: PLC0415
        _outline,
        expected_block_engagement,
    )
    from tests.aspects.test_dbt_models import (  # noqa: PLC0415
        expected_at_risk,
        expected_learner_status,
        is_correct,
        is_submission,
    )

    names = {row["course_key"]: row["course_name"] for row in structure["course_names"]}
    blocks = structure["course_block_names"]

    # Learners at risk: every criterion of every learner, with what the chart shows of them.
    at_risk = [
        {**row, "course_name": names[row["course_key"]], **labelled(row)}
        for row in expected_at_risk(facts, as_of=as_of, blocks=blocks, criteria=criteria)
        if row["actor_id"]
    ]
    columns = (
        "course_name",
        "actor_id",
        "inactive",
        "failing_grade",
        "low_progress",
        "days_inactive",
        "enrollment_mode",
        "course_grade_percent",
        "progress_percent",
        "last_activity_at",
        "last_enrolled_at",
    )
    assert 0 < len(at_risk) < row_limit
    for flag in ("inactive", "failing_grade", "low_progress"):
        assert any(row[flag] for row in at_risk), f"no generated learner is flagged {flag}"
    assert _shown(rows["Learners at risk"], columns) == _shown(at_risk, columns)
    assert len(rows["Learners at risk"]) == len(at_risk)

    # The summary of each learner in each course.
    learners = [
        {**row, "course_name": names[row["course_key"]], **labelled(row)}
        for row in expected_learner_status(facts)
        if row["actor_id"]
    ]
    columns = (
        "course_name",
        "actor_id",
        "enrollment_status",
        "enrollment_mode",
        "last_enrolled_at",
        "course_grade_percent",
        "passed",
        "completed_blocks",
        "last_activity_at",
    )
    assert 0 < len(learners) < row_limit
    assert _shown(rows["Learners"], columns) == _shown(learners, columns)

    # Problem results: each learner's submissions and correct ones, and the course's average
    # of every learner of the problem.
    submissions: dict[tuple[str, str, str], list[Fact]] = defaultdict(list)
    for fact in {f.event_id: f for f in facts if is_submission(f) and f.actor}.values():
        submissions[fact.course.key, fact.block, fact.actor].append(fact)
    per_learner = {
        key: (len(group), 100 * sum(map(is_correct, group)) / len(group))
        for key, group in submissions.items()
    }
    per_problem: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for (course, problem, _), figures in per_learner.items():
        per_problem[course, problem].append(figures)
    expected = {
        (
            names[course],
            actor,
            problem,
            attempts,
            _rounded(correct),
            _rounded(
                sum(a for a, _ in per_problem[course, problem]) / len(per_problem[course, problem])
            ),
            _rounded(
                sum(c for _, c in per_problem[course, problem]) / len(per_problem[course, problem])
            ),
        )
        for (course, problem, actor), (attempts, correct) in per_learner.items()
    }
    assert 0 < len(expected) < row_limit
    assert any(attempts > 1 for attempts, _ in per_learner.values())
    columns = (
        "course_name",
        "actor_id",
        "problem_id",
        "attempts",
        "correct_percent",
        "course_attempts",
        "course_correct_percent",
    )
    assert _shown(rows["Problem results against the course average"], columns) == expected

    # Engagement: distinct pages, videos and problems per learner and subsection of the outline.
    outline = {block: row for block, row in _outline(structure).items() if row["subsection"] > 0}
    engaged: dict[tuple[t.Any, ...], dict[str, set[str]]] = defaultdict(
        lambda: {"page": set(), "video": set(), "problem": set()}
    )
    for row in expected_block_engagement(facts):
        if block := outline.get(row["block_id"]):
            label = f"{block['section_name']} › {block['subsection_name']}"
            engaged[block["course_key"], row["actor_id"], label][row["activity"]].add(
                row["block_id"]
            )
    expected = {
        (names[course], actor, label, *(len(kinds[kind]) for kind in ("page", "video", "problem")))
        for (course, actor, label), kinds in engaged.items()
    }
    assert 0 < len(expected) < row_limit
    columns = (
        "course_name",
        "actor_id",
        "subsection_name",
        "pages_visited",
        "videos_watched",
        "problems_submitted",
    )
    assert _shown(rows["Engagement per section and subsection"], columns) == expected
