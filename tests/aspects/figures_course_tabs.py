"""
Ground truth of the course dashboard's enrolment, grades, problems and interactions tabs,
computed from the statements' facts (tests/aspects/test_dbt_models.py's Fact) and the course
structure, never from the SQL.

- A learner is in the track (enrolment mode) of their latest registration while enrolled;
  their enrolment statements in time order, at the same instant an unregistration first.
- A submission is a graded check of a whole problem; correct when it earned full marks.
- An interaction is a statement of learning activity; its kind is the first that applies of
  forum, page, completion, problem, video, other.
- Charts show a track or status by its English label (the chart data of English readers).
"""

from __future__ import annotations

import typing as t
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from tutoraspects.superset_value_labels import ASPECTS_ENGLISH_LABELS

if t.TYPE_CHECKING:
    from tests.aspects.test_dbt_models import Fact

Row = dict[str, t.Any]


def label(key: str | None) -> str:
    """A track or status as charts show it: a learner of no known track in "Unknown"."""
    key = key or "unknown"
    return ASPECTS_ENGLISH_LABELS.get(key, key)


def _by(facts: Iterable[Fact], key: Callable[[Fact], t.Any]) -> dict[t.Any, list[Fact]]:
    groups: dict[t.Any, list[Fact]] = defaultdict(list)
    for fact in sorted(facts, key=lambda f: f.time):
        groups[key(fact)].append(fact)
    return groups


def expected_enrollments_by_mode(facts: list[Fact]) -> list[Row]:
    enrolment = [f for f in facts if f.verb in ("registered", "unregistered")]
    order = {"unregistered": 0, "registered": 1}
    changes: dict[tuple[t.Any, str, date], list[int]] = defaultdict(list)
    for (course, _), group in _by(enrolment, lambda f: (f.course, f.actor)).items():
        track: str | None = None  # the learner's track while enrolled
        for fact in sorted(group, key=lambda f: (f.time, order[f.verb], f.event_id)):
            day = fact.time.date()
            new_track = fact.mode if fact.verb == "registered" else None
            if track != new_track:
                if track is not None:
                    changes[course, track, day].append(-1)
                if new_track is not None:
                    changes[course, new_track, day].append(1)
            track = new_track
    rows = []
    totals: dict[tuple[t.Any, str], int] = defaultdict(int)
    for (course, mode, day), deltas in sorted(changes.items(), key=lambda item: item[0][2]):
        totals[course, mode] += sum(deltas)
        rows.append(
            {
                "org": course.org,
                "course_key": course.key,
                "enrollment_mode": mode,
                "enrollment_date": day,
                "entered": deltas.count(1),
                "left_track": deltas.count(-1),
                "net_change": sum(deltas),
                "enrolled_learners": totals[course, mode],
            }
        )
    return rows


def expected_problem_learner_attempts(facts: list[Fact]) -> list[Row]:
    from tests.aspects.test_dbt_models import is_correct, is_submission  # noqa: PLC0415

    submissions = [f for f in facts if is_submission(f)]
    return [
        {
            "org": course.org,
            "course_key": course.key,
            "problem_id": problem,
            "actor_id": actor,
            "attempts": len(group),
            "correct_attempts": sum(map(is_correct, group)),
            "first_attempt_at": group[0].time,
            "last_attempt_at": group[-1].time,
        }
        for (course, problem, actor), group in _by(
            submissions, lambda f: (f.course, f.block, f.actor)
        ).items()
    ]


def interaction_kind(fact: Fact) -> str:
    if fact.post_type:
        return "forum"
    if fact.verb == "navigated":
        return "page"
    if fact.verb == "progressed":
        return "completion"
    return fact.block_type if fact.block_type in ("problem", "video") else "other"


def expected_course_interactions(facts: list[Fact]) -> list[Row]:
    from tests.aspects.test_dbt_models import is_activity  # noqa: PLC0415

    activity = [f for f in facts if is_activity(f) and f.actor]
    return [
        {
            "org": course.org,
            "course_key": course.key,
            "interaction_date": day,
            "interaction_kind": kind,
            "interactions": len(group),
            "learners": len({f.actor for f in group}),
        }
        for (course, day, kind), group in _by(
            activity, lambda f: (f.course, f.time.date(), interaction_kind(f))
        ).items()
    ]


def cumulative_by_day(
    daily: dict[tuple[t.Any, ...], int], last_day: date
) -> dict[tuple[t.Any, ...], int]:
    """
    (series..., day) -> count, to (series..., day) -> running total, for every day from the
    series' first to `last_day`: what the cumulative charts show.
    """
    firsts: dict[tuple[t.Any, ...], date] = {}
    for *series, day in daily:
        key = tuple(series)
        firsts[key] = min(firsts.get(key, day), day)
    running = {}
    for series, first in firsts.items():
        total, day = 0, first
        while day <= last_day:
            total += daily.get((*series, day), 0)
            running[(*series, day)] = total
            day += timedelta(days=1)
    return running


# --- Through Superset: the charts of the tabs, figure by figure --------------------------------

INTERACTION_KINDS = {
    "forum": "Forum",
    "page": "Pages",
    "completion": "Completions",
    "problem": "Problems",
    "video": "Videos",
    "other": "Other",
}


def _day(milliseconds: int) -> date:
    """A time axis value as Superset returns it (epoch milliseconds, UTC) as a day."""
    return date(1970, 1, 1) + timedelta(milliseconds=milliseconds)


def _shown(rows: list[Row], keys: tuple[str, ...], figure: str) -> dict[tuple[t.Any, ...], t.Any]:
    return {tuple(row[key] for key in keys): row[figure] for row in rows if row[figure]}


def _summed(totals: dict[tuple[t.Any, ...], int], key: Callable[..., t.Any]) -> dict:
    summed: dict[t.Any, int] = defaultdict(int)
    for group, total in totals.items():
        summed[key(*group)] += total
    return {group: total for group, total in summed.items() if total}


def assert_course_tab_figures(
    rows: dict[str, list[Row]], facts: list[Fact], structure: dict[str, list[Row]]
) -> None:
    """
    The enrolment, grades, problems and interactions tabs' charts (`rows`: title -> the rows
    Superset answered), each figure against the statements' facts and the course structure.
    """
    from tests.aspects.test_dbt_models import (  # noqa: PLC0415
        enrolment_order,
        expected_enrollments,
        expected_learner_status,
    )

    names = {row["course_key"]: row["course_name"] for row in structure["course_names"]}
    # Enrolment: who is enrolled now, in which track, by their latest enrolment statements.
    latest: dict[tuple[t.Any, str], Fact] = {}
    for fact in sorted(
        (f for f in facts if f.verb in ("registered", "unregistered")), key=enrolment_order
    ):
        latest[fact.course, fact.actor] = fact
    enrolled = [fact for fact in latest.values() if fact.verb == "registered"]
    [current] = rows["Learners enrolled now"]
    assert current["Learners enrolled"] == len(enrolled) > 0
    tracks: dict[str, int] = defaultdict(int)
    for fact in enrolled:
        tracks[label(fact.mode)] += 1
    assert len(tracks) > 1, "the generated learners are in one track only"
    shown = _shown(rows["Enrolled learners by track"], ("enrollment_mode",), "Learners")
    assert shown == {(track,): count for track, count in tracks.items()}
    by_mode = expected_enrollments_by_mode(facts)
    daily = {
        (r["course_key"], r["enrollment_mode"], r["enrollment_date"]): r["net_change"]
        for r in by_mode
    }
    running = cumulative_by_day(daily, max(r["enrollment_date"] for r in by_mode))
    expected = _summed(running, lambda _course, mode, day: (day, label(mode)))
    shown = _shown(
        rows["Enrolled learners by track over time"],
        ("enrollment_date", "enrollment_mode"),
        "Enrolled learners",
    )
    assert {(_day(day), mode): count for (day, mode), count in shown.items()} == expected
    # Each track's total on the last day is the learners enrolled in it now.
    last_day = max(day for day, _ in expected)
    assert {mode: n for (day, mode), n in expected.items() if day == last_day} == tracks
    # Every course's learners on every day, a day without enrolment statements included (a
    # course counts on such a day with its total of the day before).
    shown = _shown(rows["Enrolled learners over time"], ("enrollment_date",), "Enrolled learners")
    expected_total = _summed(running, lambda _course, _mode, day: day)
    assert {_day(day): count for (day,), count in shown.items()} == expected_total
    per_day: dict[tuple[date, str], int] = defaultdict(int)
    for row in expected_enrollments(facts):
        per_day[row["enrollment_date"], "Enrollments"] += row["registrations"]
        per_day[row["enrollment_date"], "Unenrollments"] += row["unregistrations"]
    shown_per_day = {
        (_day(row["enrollment_date"]), figure): row[figure]
        for row in rows["Enrollments and unenrollments per day"]
        for figure in ("Enrollments", "Unenrollments")
        if row[figure]
    }
    assert shown_per_day == {key: count for key, count in per_day.items() if count}
    # Grades: each learner's latest grade and pass outcome.
    learners = [row for row in expected_learner_status(facts) if row["actor_id"]]
    passing = defaultdict(int)
    buckets: dict[tuple[int], int] = defaultdict(int)
    for row in learners:
        passing["Passing" if row["passed"] else "Not passing"] += 1
        if row["course_grade_percent"] is not None:
            buckets[min(int(row["course_grade_percent"] // 10), 10) * 10,] += 1
    shown = _shown(rows["Learners with a passing grade"], ("pass_status",), "Learners")
    assert shown == {(status,): count for status, count in passing.items()}
    assert passing["Passing"] > 0
    shown = _shown(rows["Learners per current course grade"], ("grade_bucket",), "Learners")
    assert shown == dict(buckets), (shown, dict(buckets))
    # Problems: per problem, section and subsection, named as the course outline names them.
    assert_problem_figures(rows, facts, structure, names)
    # Interactions so far, per kind and day, from each kind's first day to the last.
    interactions = expected_course_interactions(facts)
    daily = {
        (r["course_key"], r["interaction_kind"], r["interaction_date"]): r["interactions"]
        for r in interactions
    }
    running = cumulative_by_day(daily, max(r["interaction_date"] for r in interactions))
    expected = _summed(running, lambda _course, kind, day: (day, INTERACTION_KINDS[kind]))
    shown = _shown(
        rows["Interactions over time, cumulative"],
        ("interaction_date", "interaction_kind"),
        "Interactions so far",
    )
    assert {(_day(day), kind): count for (day, kind), count in shown.items()} == expected
    assert {kind for _, kind in expected} >= {"Problems", "Videos", "Pages", "Forum"}


def assert_problem_figures(
    rows: dict[str, list[Row]],
    facts: list[Fact],
    structure: dict[str, list[Row]],
    names: dict[str, str],
) -> None:
    from tests.aspects.test_dbt_models import (  # noqa: PLC0415
        expected_problem_performance,
        expected_score_distribution,
    )

    blocks = {row["block_id"]: row for row in structure["course_block_names"]}
    titles = {
        (row["course_key"], row["section"], row["subsection"]): row["block_name"]
        for row in structure["course_block_names"]
        if row["block_type"] in ("chapter", "sequential")
    }

    def places(problem: str) -> dict[str, str]:
        block = blocks[problem]
        section, subsection = block["section"], block["subsection"]
        course = block["course_key"]
        return {
            "problem_name": block["location_label"],
            "section_name": f"{section}. {titles[course, section, 0]}",
            "subsection_name": f"{section}.{subsection} {titles[course, section, subsection]}",
        }

    attempts = expected_problem_learner_attempts(facts)
    for title, columns in (
        ("Attempts and results per problem", ("problem_name", "problem_id")),
        ("Problem engagement per section", ("section_name",)),
        ("Problem engagement per subsection", ("subsection_name",)),
    ):
        groups: dict[tuple[str, ...], list[Row]] = defaultdict(list)
        for row in attempts:
            place = {**places(row["problem_id"]), "problem_id": row["problem_id"]}
            groups[(names[row["course_key"]], *(place[c] for c in columns))].append(row)
        expected = {
            group: (
                len({row["actor_id"] for row in members}),
                sum(row["attempts"] for row in members),
                sum(row["correct_attempts"] for row in members),
            )
            for group, members in groups.items()
        }
        shown = {
            tuple(row[c] for c in ("course_name", *columns)): (
                row["Learners"],
                row["Attempts"],
                row["Correct attempts"],
            )
            for row in rows[title]
        }
        assert shown == expected, title
        for row in rows[title]:
            assert abs(row["Correct rate"] - row["Correct attempts"] / row["Attempts"]) < 1e-9
    assert len(rows["Problem engagement per subsection"]) > len(
        rows["Problem engagement per section"]
    )
    # Per problem: its attempts, correct attempts and learners, whichever tried it.
    performance = {
        (names[row["course_key"]], row["problem_id"]): (
            row["attempts"],
            row["correct_attempts"],
            row["learners"],
        )
        for row in expected_problem_performance(facts)
    }
    shown_performance = {
        (row["course_name"], row["problem_id"]): (
            row["Attempts"],
            row["Correct attempts"],
            row["Learners"],
        )
        for row in rows["Problem performance"]
    }
    assert shown_performance == performance
    for row in rows["Problem performance"]:
        assert row["problem_name"] == places(row["problem_id"])["problem_name"]
    # Each learner's latest score on each problem, per tenth of the maximum, all problems added.
    per_score: dict[tuple[int], int] = defaultdict(int)
    for row in expected_score_distribution(facts):
        per_score[row["score_bucket"],] += row["learners"]
    assert _shown(rows["Learners per score"], ("score_bucket",), "Learners") == dict(per_score)
    assert len(per_score) > 1


OUTLINE_ORDERED = (
    "Attempts and results per problem",
    "Problem engagement per section",
    "Problem engagement per subsection",
)


def assert_outline_order(saved: dict[str, list[Row]], structure: dict[str, list[Row]]) -> None:
    """
    The problem tables as their saved query contexts order them (what the dashboard shows):
    each course's problems, sections and subsections in the order of its outline.
    """
    # The structure lists each course's blocks in outline order.
    place = {row["block_id"]: index for index, row in enumerate(structure["course_block_names"])}

    def numbers(label: str) -> tuple[int, ...]:
        return tuple(int(n) for n in label.split(" ", 1)[0].rstrip(".").split("."))

    for title, key in zip(
        OUTLINE_ORDERED,
        (
            lambda row: place[row["problem_id"]],
            lambda row: numbers(row["section_name"]),
            lambda row: numbers(row["subsection_name"]),
        ),
        strict=True,
    ):
        per_course = _by_course(saved[title])
        assert per_course, title
        for course, rows in per_course.items():
            keys = [key(row) for row in rows]
            assert keys == sorted(keys) and len(set(keys)) == len(keys), (title, course)


def _by_course(rows: list[Row]) -> dict[str, list[Row]]:
    courses: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        courses[row["course_name"]].append(row)
    return courses
