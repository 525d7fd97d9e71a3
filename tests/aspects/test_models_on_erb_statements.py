"""
The Aspects dbt models on the statements event-routing-backends really sends.

A course month is written as the LMS writes it: tracking-log events (enrolments, mode changes
and unenrolments, browser and server problem checks of one- and multi-question problems, the
platform's course and subsection grade recomputations, a pass and a fail at the same instant,
video plays, seeks, transcripts, captions and speeds, answers and hints shown, forum threads,
responses and comments posted, edited, voted on, reported, viewed and deleted, navigation, and
a CCX run of a course). The log is replayed through event-routing-backends (ERB, the
release the Open edX image installs, tests/harness/erb.py) into Ralph, run from the rendered
Tutor settings and writing to the raw table of the test ClickHouse, as the LMS and Ralph do in
production. Then `dbt build`.

Every model's figures are computed again here from the tracking-log events themselves: each
event says what happened (``facts_of``: a learner enrolled, submitted a problem with this grade,
paused a video at that time, ...), and test_dbt_models' reference computations turn those facts
into figures. Neither ERB's output nor the SQL enters the ground truth.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.aspects.test_dbt_models import (
    DBT_VARS,
    EXPECTED,
    HINT_TYPE,
    MODELS,
    RAW_TABLE_DDL,
    SOLUTION_TYPE,
    XAPI_DATABASE,
    Course,
    Dbt,
    Fact,
    Row,
    as_expected,
    create_event_sink,
    expected_parsed,
    is_submission,
    projected,
)
from tests.harness.erb import EventRoutingBackends, Person
from tests.harness.fixtures import ClickHouseServer
from tests.harness.processes import free_port
from tests.harness.ralph import RalphProcess
from tests.harness.tutor import TutorRoot

ERB_XAPI_DATABASE = "erb_models_xapi"
ERB_REPORTING_DATABASE = "erb_models_reporting"
ERB_EVENT_SINK_DATABASE = "erb_models_event_sink"
LMS = "http://lms.example.org"

PHYSICS = Course("course-v1:PhysicsX+PHY101+2026", "Physics")
HISTORY = Course("course-v1:HistoryX+HIS200+2026", "History")
PHYSICS_CCX = "ccx-v1:PhysicsX+PHY101+2026+ccx@4"
COURSES = {PHYSICS.key: PHYSICS.name, HISTORY.key: HISTORY.name, PHYSICS_CCX: "Physics (CCX)"}

ADA = Person(7, "ada", "a0a0a0a0-0000-4000-8000-000000000007")
BEN = Person(8, "ben", "b0b0b0b0-0000-4000-8000-000000000008")
CLEO = Person(9, "cleo", "c0c0c0c0-0000-4000-8000-000000000009")
DEV = Person(10, "dev", "d0d0d0d0-0000-4000-8000-000000000010")
EMA = Person(11, "ema", "e0e0e0e0-0000-4000-8000-000000000011")
PEOPLE = (ADA, BEN, CLEO, DEV, EMA)

# Blocks: PhysicsX+PHY101+2026 "forces" has three questions, "units" one; HIS200's "dates" one.
FORCES, UNITS, DATES, LECTURE = "forces", "units", "dates", "lecture"
# Forum posts: threads, a response and a comment (ids as the forum service makes them).
T1, T2, T3 = "65f0c1a2b3c4d5e6f7a8b9c1", "65f0c1a2b3c4d5e6f7a8b9c2", "65f0c1a2b3c4d5e6f7a8b9c3"
R1, C1 = "65f0c1a2b3c4d5e6f7a8b9d1", "65f0c1a2b3c4d5e6f7a8b9e1"


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A time in March 2026, UTC."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def block_key(course_key: str, block_type: str, name: str) -> str:
    """A block's usage key in a course run, or in a CCX (ccx-block-v1)."""
    version, _, run = course_key.partition(":")
    prefix = "ccx-block-v1" if version == "ccx-v1" else "block-v1"
    return f"{prefix}:{run}+type@{block_type}+block@{name}"


def master_of(course_key: str) -> Course:
    key = course_key
    if key.startswith("ccx-v1:"):
        key = "course-v1:" + key.removeprefix("ccx-v1:").rpartition("+ccx@")[0]
    return next(course for course in (PHYSICS, HISTORY) if course.key == key)


def master_block(block: str) -> str:
    """A CCX block's key in the master course."""
    if not block.startswith("ccx-block-v1:"):
        return block
    run, _, rest = block.removeprefix("ccx-block-v1:").partition("+type@")
    return f"block-v1:{run.rpartition('+ccx@')[0]}+type@{rest}"


# --- Tracking-log events, as the LMS writes them -----------------------------------------------


def event(
    name: str,
    person: Person,
    when: datetime,
    course_key: str,
    data: dict[str, Any] | str,
    source: str = "server",
    page: str = "",
) -> dict[str, Any]:
    """One line of the LMS's tracking log. Browser events carry their data as a JSON string."""
    payload = data if source == "server" or isinstance(data, str) else json.dumps(data)
    return {
        "name": name,
        "event_type": name,
        "event_source": source,
        "time": when.isoformat(timespec="microseconds"),
        "username": person.username,
        "session": "5e" * 16,
        "ip": "10.0.0.1",
        "agent": "Mozilla/5.0",
        "host": "lms.example.org",
        "referer": page or f"{LMS}/courses/{course_key}/courseware",
        "page": page or None,
        "accept_language": "en",
        "context": {
            "course_id": course_key,
            "org_id": course_key.partition(":")[2].split("+")[0],
            "user_id": person.id,
            "path": "/event" if source == "browser" else "/courses/handler",
            "course_user_tags": {},
        },
        "event": payload,
    }


def enrollment(kind: str, person: Person, when: datetime, course_key: str, mode="audit") -> dict:
    """edx.course.enrollment.activated, .mode_changed or .deactivated."""
    data = {"course_id": course_key, "user_id": person.id, "mode": mode}
    return event(f"edx.course.enrollment.{kind}", person, when, course_key, data)


def problem_check(
    person: Person, when: datetime, course_key: str, problem: str, answers: list[bool]
) -> dict:
    """The server's problem_check: one graded submission of a problem's questions."""
    problem_id = block_key(course_key, "problem", problem)
    inputs = [f"{problem_id.rpartition('@')[2]}_{n + 2}_1" for n in range(len(answers))]
    data = {
        "problem_id": problem_id,
        "attempts": 1,
        "grade": sum(answers),
        "max_grade": len(answers),
        "success": "correct" if all(answers) else "incorrect",
        "state": {"seed": 1, "done": True},
        "answers": {
            key: f"choice_{int(right)}" for key, right in zip(inputs, answers, strict=True)
        },
        "correct_map": {
            key: {"correctness": "correct" if right else "incorrect", "npoints": None}
            for key, right in zip(inputs, answers, strict=True)
        },
        "submission": {
            key: {
                "question": f"Question {number}",
                "answer": f"choice_{int(right)}",
                "response_type": "multiplechoiceresponse",
                "input_type": "choicegroup",
                "correct": right,
                "variant": "",
                "group_label": "",
            }
            for number, (key, right) in enumerate(zip(inputs, answers, strict=True), start=1)
        },
    }
    line = event("problem_check", person, when, course_key, data)
    line["context"]["module"] = {"display_name": problem.title(), "usage_key": problem_id}
    return line


def problem_check_browser(person: Person, when: datetime, course_key: str, problem: str) -> dict:
    """The browser's problem_check: the answers as a form, before any grading."""
    answers = f"input_{problem}_2_1=choice_1"
    return event("problem_check", person, when, course_key, answers, source="browser")


def problem_submitted(
    person: Person, when: datetime, course_key: str, problem: str, earned: float, possible: float
) -> dict:
    """edx.grades.problem.submitted: the platform records a problem's new weighted score."""
    data = {
        "user_id": person.id,
        "course_id": course_key,
        "problem_id": block_key(course_key, "problem", problem),
        "weighted_earned": earned,
        "weighted_possible": possible,
        "event_transaction_type": "edx.grades.problem.submitted",
    }
    return event("edx.grades.problem.submitted", person, when, course_key, data)


def course_grade(person: Person, when: datetime, course_key: str, percent: float) -> dict:
    """edx.grades.course.grade_calculated, sent whenever the platform recomputes the grade."""
    data = {
        "user_id": str(person.id),
        "course_id": course_key,
        "percent_grade": percent,
        "letter_grade": "Pass" if percent >= 0.5 else "",
        "event_transaction_type": "edx.grades.problem.submitted",
    }
    return event("edx.grades.course.grade_calculated", person, when, course_key, data)


def subsection_grade(
    person: Person, when: datetime, course_key: str, earned: float, possible: float
) -> dict:
    data = {
        "user_id": str(person.id),
        "course_id": course_key,
        "block_id": block_key(course_key, "sequential", "week1"),
        "weighted_total_earned": earned,
        "weighted_total_possible": possible,
        "weighted_graded_earned": earned,
        "weighted_graded_possible": possible,
        "first_attempted": when.isoformat(),
    }
    return event("edx.grades.subsection.grade_calculated", person, when, course_key, data)


def grade_outcome(kind: str, person: Person, when: datetime, course_key: str) -> dict:
    """edx.course.grade.now_passed / .now_failed / .passed.first_time."""
    data = {"user_id": person.id, "course_id": course_key}
    return event(f"edx.course.grade.{kind}", person, when, course_key, data)


def block_completion(person: Person, when: datetime, course_key: str, block: str) -> dict:
    data = {"user_id": person.id, "course_id": course_key, "block_id": block, "completion": 1.0}
    return event("edx.completion.block_completion.changed", person, when, course_key, data)


def video(
    name: str, person: Person, when: datetime, course_key: str, time: float, **more: Any
) -> dict:
    """A browser video event (play_video, pause_video, stop_video, complete_video, seek_video)."""
    data = {"id": LECTURE, "code": "html5", "duration": 240, "currentTime": time, **more}
    return event(name, person, when, course_key, data, source="browser")


def show_answer(person: Person, when: datetime, course_key: str, problem: str) -> dict:
    """showanswer: the server shows a problem's answer."""
    data = {"problem_id": block_key(course_key, "problem", problem)}
    return event("showanswer", person, when, course_key, data)


def hint(name: str, person: Person, when: datetime, course_key: str, problem: str, **more) -> dict:
    """edx.problem.hint.demandhint_displayed (a hint asked for) or .feedback_displayed."""
    data = {"module_id": block_key(course_key, "problem", problem), **more}
    return event(f"edx.problem.hint.{name}", person, when, course_key, data)


def forum(
    kind: str, action: str, person: Person, when: datetime, course_key: str, post: str, **data
) -> dict:
    """edx.forum.<thread|response|comment>.<action>, as the discussions API logs it: the path of
    the request names the post, but for a new one."""
    api = "threads" if kind == "thread" else "comments"
    payload = {
        "commentable_id": "course",
        **data,
        "id": post,
        "url": f"{LMS}/discussions/{course_key}/posts/{post}",
        "user_forums_roles": ["Student"],
        "user_course_roles": [],
    }
    line = event(f"edx.forum.{kind}.{action}", person, when, course_key, payload)
    line["context"]["path"] = f"/api/discussion/v1/{api}/" + (
        "" if action == "created" else f"{post}/"
    )
    return line


def navigation(name: str, person: Person, when: datetime, course_key: str, **data: Any) -> dict:
    return event(f"edx.ui.lms.{name}", person, when, course_key, data, source="browser")


def sequence_move(kind: str, person: Person, when: datetime, course_key: str) -> dict:
    sequence = block_key(course_key, "sequential", "week1")
    target = {"next": 3, "previous": 1, "tab": 3}[kind]
    name = {"next": "next_selected", "previous": "previous_selected", "tab": "tab_selected"}[kind]
    return navigation(
        f"sequence.{name}",
        person,
        when,
        course_key,
        id=sequence,
        current_tab=2,
        target_tab=target,
        tab_count=4,
        widget_placement="top",
    )


def scenario() -> list[dict]:
    """Two courses and a CCX of one of them over March 2026, in the order the LMS logs it."""
    p, h, x = PHYSICS.key, HISTORY.key, PHYSICS_CCX
    units_target = f"{LMS}/courses/{p}/jump_to/{block_key(p, 'problem', UNITS)}"
    lines = [
        # Enrolments: an upgrade to verified (registered again), an unenrolment and return.
        enrollment("activated", ADA, at(2, 9), p),
        enrollment("activated", BEN, at(2, 10), p),
        enrollment("mode_changed", ADA, at(3, 9), p, mode="verified"),
        enrollment("activated", CLEO, at(3, 10), p),
        enrollment("deactivated", CLEO, at(4, 10), p),
        enrollment("activated", CLEO, at(5, 10), p),
        enrollment("activated", DEV, at(2, 11), h),
        enrollment("activated", ADA, at(2, 12), h),
        # The CCX: enrolment, video, a problem of the master course as the CCX shows it.
        enrollment("activated", EMA, at(3, 11), x),
        video("play_video", EMA, at(3, 11, 5), x, 0.0),
        video("seek_video", EMA, at(3, 11, 6), x, 20.0, old_time=20.0, new_time=50.0),
        video("pause_video", EMA, at(3, 11, 7), x, 95.5),
        problem_check(EMA, at(3, 11, 10), x, UNITS, [True]),
        show_answer(EMA, at(3, 11, 11), x, UNITS),
        forum(
            "thread", "created", EMA, at(4, 12), x, T3, title="Our group", thread_type="discussion"
        ),
        # Ada: video, navigation, a multi-question problem (wrong first answer), a one-question
        # problem, from the browser and then graded.
        sequence_move("next", ADA, at(3, 14), p),
        video("load_video", ADA, at(3, 14, 1), p, 0.0),
        video("play_video", ADA, at(3, 14, 2), p, 0.0),
        video("seek_video", ADA, at(3, 14, 3), p, 30.0, old_time=30.0, new_time=60.0),
        video("show_transcript", ADA, at(3, 14, 4), p, 60.0),
        video("hide_transcript", ADA, at(3, 14, 4, 30), p, 61.0),
        video("video_show_cc_menu", ADA, at(3, 14, 4, 40), p, 62.0),
        video("pause_video", ADA, at(3, 14, 5), p, 120.0),
        video("video_hide_cc_menu", ADA, at(3, 14, 5, 30), p, 120.0),
        video("play_video", ADA, at(3, 14, 6), p, 120.0),
        video("speed_change_video", ADA, at(3, 14, 7), p, 150.0, old_speed="1.0", new_speed="1.50"),
        video("stop_video", ADA, at(3, 14, 8), p, 200.0),
        video("complete_video", ADA, at(3, 14, 9), p, 240.0),
        hint("demandhint_displayed", ADA, at(3, 14, 9, 30), p, FORCES, hint_index=0, hint_len=2),
        hint("demandhint_displayed", ADA, at(3, 14, 9, 40), p, FORCES, hint_index=1, hint_len=2),
        problem_check_browser(ADA, at(3, 14, 10), p, FORCES),
        problem_check(ADA, at(3, 14, 10, 1), p, FORCES, [False, True, True]),
        problem_submitted(ADA, at(3, 14, 10, 2), p, FORCES, 2, 3),
        problem_check(ADA, at(3, 14, 12), p, FORCES, [True, True, True]),
        block_completion(ADA, at(3, 14, 12, 1), p, block_key(p, "problem", FORCES)),
        problem_check(ADA, at(3, 14, 15), p, UNITS, [False]),
        problem_check(ADA, at(3, 14, 16), p, UNITS, [True]),
        show_answer(ADA, at(3, 14, 17), p, UNITS),
        navigation(
            "link_clicked", ADA, at(3, 14, 20), p, current_url=f"{LMS}/x", target_url=units_target
        ),
        # Ben: the first question right, the others wrong: half marks or less, no success.
        sequence_move("tab", BEN, at(4, 9), p),
        video("play_video", BEN, at(4, 9, 1), p, 10.0),
        video("pause_video", BEN, at(4, 9, 3), p, 70.0),
        video("seek_video", BEN, at(4, 9, 4), p, 70.0, old_time=70.0, new_time=10.0),
        video("seek_video", BEN, at(4, 9, 4, 30), p, 12.5, old_time=12.5, new_time=40.25),
        video(
            "speed_change_video", BEN, at(4, 9, 4, 40), p, 40.0, old_speed="1.50", new_speed="0.75"
        ),
        hint("demandhint_displayed", BEN, at(4, 9, 4, 50), p, FORCES, hint_index=0, hint_len=2),
        problem_check(BEN, at(4, 9, 5), p, FORCES, [True, False, False]),
        hint("feedback_displayed", BEN, at(4, 9, 5, 30), p, FORCES, trigger_type="single"),
        subsection_grade(BEN, at(4, 9, 5, 1), p, 1, 3),
        course_grade(BEN, at(4, 9, 5, 2), p, 0.1),
        problem_check(BEN, at(4, 9, 6), p, FORCES, [True, True, False]),
        subsection_grade(BEN, at(4, 9, 6, 1), p, 2, 3),
        course_grade(BEN, at(4, 9, 6, 2), p, 0.15),
        show_answer(BEN, at(4, 9, 7), p, FORCES),
        navigation(
            "outline.selected",
            BEN,
            at(4, 9, 8),
            p,
            target_url=f"{LMS}/courses/{p}/jump_to/{block_key(p, 'sequential', 'week1')}",
            target_name="Week 1",
            widget_placement="accordion",
        ),
        sequence_move("previous", BEN, at(4, 9, 9), p),
        # History: Dev's problem, then a pass and a fail of the same instant.
        problem_check(DEV, at(5, 15), h, DATES, [True]),
        grade_outcome("passed.first_time", DEV, at(5, 15, 1), h),
        grade_outcome("now_failed", DEV, at(6, 8), h),
        grade_outcome("now_passed", DEV, at(6, 8), h),
        navigation(
            "sequence.next_selected",
            ADA,
            at(6, 9),
            h,
            id=block_key(h, "sequential", "s1"),
            current_tab=1,
            target_tab=2,
            tab_count=2,
        ),
        # The forum: Ada's question, viewed and answered by Ben, Cleo's comment on his
        # response, votes (one withdrawn), edits, reports, deletions; Dev's thread in History.
        forum(
            "thread", "created", ADA, at(7, 10), p, T1, title="Friction?", thread_type="question"
        ),
        forum("thread", "viewed", BEN, at(7, 11), p, T1, title="Friction?"),
        forum("response", "created", BEN, at(7, 11, 5), p, R1, discussion={"id": T1}),
        forum("thread", "voted", BEN, at(7, 11, 6), p, T1, vote_value="up", undo_vote=False),
        forum(
            "comment", "created", CLEO, at(7, 12), p, C1, discussion={"id": T1}, response={"id": R1}
        ),
        forum("response", "voted", ADA, at(7, 13), p, R1, vote_value="up", undo_vote=False),
        forum("response", "voted", ADA, at(7, 13, 1), p, R1, vote_value="up", undo_vote=True),
        forum("thread", "viewed", ADA, at(7, 13, 2), p, T1, title="Friction?"),
        forum("comment", "edited", CLEO, at(8, 9), p, C1, content_type="Comment", own_content=True),
        forum("thread", "edited", ADA, at(8, 9, 5), p, T1, content_type="Post", own_content=True),
        forum("comment", "reported", BEN, at(8, 10), p, C1, content_type="Comment"),
        forum("thread", "reported", CLEO, at(8, 11), p, T1, title="Friction?", content_type="Post"),
        forum("thread", "unreported", CLEO, at(8, 11, 30), p, T1, title="Friction?"),
        forum("response", "deleted", BEN, at(9, 8), p, R1, content_type="Response"),
        forum("thread", "created", DEV, at(6, 10), h, T2, title="Dates", thread_type="discussion"),
        forum("thread", "viewed", ADA, at(6, 10, 30), h, T2, title="Dates"),
        forum("thread", "deleted", DEV, at(6, 11), h, T2, title="Dates", content_type="Post"),
        # Grades that the platform recomputes: a subsection, and a course regrade for
        # everyone on the 20th (nobody's activity).
        subsection_grade(ADA, at(3, 14, 12, 2), p, 3, 3),
        course_grade(ADA, at(3, 14, 12, 3), p, 0.6),
        grade_outcome("passed.first_time", ADA, at(3, 14, 12, 4), p),
        course_grade(ADA, at(20, 2), p, 0.55),
        course_grade(BEN, at(20, 2), p, 0.2),
        course_grade(CLEO, at(20, 2), p, 0.0),
        course_grade(EMA, at(20, 2), x, 0.5),
        course_grade(DEV, at(20, 3), h, 0.9),
    ]
    return sorted(lines, key=lambda line: line["time"])


# --- What each event says: the ground truth --------------------------------------------------

VIDEO_VERBS = {
    "play_video": "played",
    "pause_video": "paused",
    "complete_video": "completed",
    "stop_video": "terminated",
    "seek_video": "seeked",
    "load_video": "initialized",
    "show_transcript": "interacted",
    "hide_transcript": "interacted",
    "video_show_cc_menu": "interacted",
    "video_hide_cc_menu": "interacted",
    "speed_change_video": "interacted",
}
# A transcript or captions shown (True) or hidden (False).
CAPTIONS = {
    "show_transcript": True,
    "video_show_cc_menu": True,
    "hide_transcript": False,
    "video_hide_cc_menu": False,
}
FORUM_ACTIONS = {"created": "posted"}  # the other actions are their verbs
NAVIGATION_KINDS = {
    "edx.ui.lms.sequence.next_selected": "next",
    "edx.ui.lms.sequence.previous_selected": "previous",
    "edx.ui.lms.sequence.tab_selected": "tab",
    "edx.ui.lms.outline.selected": "outline",
    "edx.ui.lms.link_clicked": "link",
}
# Not among the events event-routing-backends routes in a default install
# (EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS): the tracking log holds it, no statement comes.
NOT_ROUTED = {"edx.grades.problem.submitted", "edx.problem.hint.feedback_displayed"}
# The statement ids are ERB's (a hash of the learner, time and verb): the facts do without.
NO_ID = str(uuid.UUID(int=0))


def facts_of(line: dict[str, Any]) -> list[Fact]:
    """What a tracking-log event says happened, as the facts test_dbt_models computes from."""
    name, time = line["name"], datetime.fromisoformat(line["time"])
    course_key = line["context"]["course_id"]
    course = master_of(course_key)
    ccx = course_key if course_key.startswith("ccx-v1:") else ""
    actor = next(p.xapi_id for p in PEOPLE if p.id == line["context"]["user_id"])
    data = line["event"] if isinstance(line["event"], dict) else None
    if isinstance(line["event"], str) and line["event"].startswith("{"):
        data = json.loads(line["event"])

    def fact(verb: str, block: str = "", **more: Any) -> Fact:
        return Fact(NO_ID, time, actor, verb, course, master_block(block), ccx=ccx, **more)

    def about_course(verb: str, **more: Any) -> Fact:
        """A statement whose object is the course (or the CCX), named as the LMS names it."""
        return fact(verb, object_name=COURSES[course_key], **more)

    if name in NOT_ROUTED:
        return []
    if name.startswith("edx.course.enrollment."):
        if name.endswith("deactivated"):
            return [about_course("unregistered")]
        # A registration names the enrolment mode (track) it puts the learner in.
        return [about_course("registered", mode=data["mode"])]
    if name.startswith("edx.course.grade."):
        return [about_course("failed" if name.endswith("now_failed") else "passed")]
    if name == "edx.grades.course.grade_calculated":
        percent = data["percent_grade"]
        return [about_course("earned", score=percent, raw_score=percent, max_score=1.0)]
    if name == "edx.grades.subsection.grade_calculated":
        earned, possible = data["weighted_total_earned"], data["weighted_total_possible"]
        return [
            fact(
                "earned",
                data["block_id"],
                score=earned / possible,
                success=earned >= possible,
                raw_score=earned,
                max_score=possible,
            )
        ]
    if name.startswith("edx.forum."):
        kind, action = name.split(".")[2:]
        post_type = "thread" if kind == "thread" else "reply"
        # A thread is its own object; a reply names a thread when its event says which.
        thread = data["id"] if post_type == "thread" else data.get("discussion", {}).get("id", "")
        return [
            fact(
                FORUM_ACTIONS.get(action, action),
                object_name=data.get("title", ""),
                post_type=post_type,
                thread=thread,
            )
        ]
    if name == "showanswer":
        return [fact("asked", data["problem_id"], object_type=SOLUTION_TYPE)]
    if name == "edx.problem.hint.demandhint_displayed":
        return [fact("asked", data["module_id"], object_type=HINT_TYPE)]
    if name == "edx.completion.block_completion.changed":
        return [fact("progressed", data["block_id"], progress=data["completion"] * 100)]
    if name == "problem_check" and line["event_source"] == "browser":
        problem = block_key(course_key, "problem", line["event"].split("_")[1])
        return [fact("attempted", problem)]
    if name == "problem_check":
        problem = data["problem_id"]
        questions = list(data["submission"].values())
        # ERB's statement of the whole check carries the first question's correctness.
        whole = fact(
            "evaluated",
            problem,
            score=data["grade"] / data["max_grade"],
            success=questions[0]["correct"],
            raw_score=data["grade"],
            max_score=data["max_grade"],
            response=questions[0]["answer"],
        )
        if len(questions) == 1:
            return [whole]
        return [whole] + [
            fact(
                "evaluated",
                problem,
                success=q["correct"],
                parent_statement="the check",
                response=q["answer"],
                question="_".join(key.rsplit("_", 2)[1:]),
            )
            for key, q in data["submission"].items()
        ]
    if name in VIDEO_VERBS:
        verb = VIDEO_VERBS[name]
        position = data["duration"] if verb == "completed" else data["currentTime"]
        speeds = {}
        if name == "speed_change_video":
            speeds = {"speed_from": float(data["old_speed"]), "speed_to": float(data["new_speed"])}
        seek = {}
        if verb == "seeked":
            seek = {"time_from": float(data["old_time"]), "time_to": float(data["new_time"])}
        no_position = verb in ("seeked", "initialized") or name == "speed_change_video"
        return [
            fact(
                verb,
                block_key(course_key, "video", data["id"]),
                video_time=None if no_position else float(position),
                video_length=float(data["duration"]),
                captions=CAPTIONS.get(name),
                **speeds,
                **seek,
            )
        ]
    if name in NAVIGATION_KINDS or name == "edx.ui.lms.sequence.outline.selected":
        kind = NAVIGATION_KINDS.get(name, "outline")
        target = data.get("id") or data["target_url"]
        block = re.search(r"block-v1:[^/?#]+", target)
        return [
            fact(
                "navigated",
                block.group(0) if block else "",
                navigation=kind,
                object_name=data.get("target_name", "") if kind == "outline" else "",
            )
        ]
    raise AssertionError(f"no ground truth for {name}")


def ground_truth(lines: list[dict[str, Any]]) -> list[Fact]:
    return [fact for line in lines for fact in facts_of(line)]


# --- The history ---------------------------------------------------------------------------------


@dataclass
class Replay:
    lines: list[dict[str, Any]]
    facts: list[Fact]
    output: str  # what ERB's command printed
    sent: tuple[datetime, datetime]  # the replay ran between these times
    statements: list[dict[str, Any]]  # as Ralph stored them
    tables: dict[str, list[Row]]
    results: dict[str, Any]


@pytest.fixture(scope="module")
def replay(
    clickhouse_server: ClickHouseServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replay]:
    directory = tmp_path_factory.mktemp("erb-models")
    client = clickhouse_server.client()
    for database in (ERB_XAPI_DATABASE, ERB_REPORTING_DATABASE):
        client.command(f"DROP DATABASE IF EXISTS {database}")
    client.command(f"CREATE DATABASE {ERB_XAPI_DATABASE}")
    client.command(RAW_TABLE_DDL.replace(f" {XAPI_DATABASE}.", f" {ERB_XAPI_DATABASE}.", 1))
    # Empty: no course was published here, and the models must still build.
    create_event_sink(client, ERB_EVENT_SINK_DATABASE)

    port = free_port()
    root = TutorRoot(directory / "root").save(
        ["clickhouse", "ralph", "aspects"],
        {**clickhouse_server.tutor_settings(), "RALPH_HOST": "127.0.0.1", "RALPH_PORT": port},
    )
    # Ralph as rendered, writing to this module's raw table (the embedded server knows only
    # its admin: the LRS user that the aspects init job creates does not exist here).
    settings = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
    ralph = RalphProcess(
        root,
        port,
        environment={
            settings + "DATABASE": ERB_XAPI_DATABASE,
            settings + "USERNAME": clickhouse_server.user,
            settings + "PASSWORD": clickhouse_server.password,
        },
    )
    lines = scenario()
    ralph.start()
    try:
        erb = EventRoutingBackends(
            directory / "lms",
            f"{ralph.url}/xAPI/",
            LMS,
            auth=(root.value("RALPH_LMS_USERNAME"), root.config()["RALPH_LMS_PASSWORD"]),
        )
        before = datetime.now(UTC)
        output = erb.transform(lines, PEOPLE, COURSES)
        sent = (before, datetime.now(UTC))
    finally:
        ralph.stop()
    stored = client.query(f"SELECT event FROM {ERB_XAPI_DATABASE}.xapi_events_all").result_rows
    statements = [json.loads(event) for (event,) in stored]

    dbt = Dbt(clickhouse_server, tmp_path_factory.mktemp("dbt-target-erb"))
    dbt.env |= {
        "ASPECTS_XAPI_DATABASE": ERB_XAPI_DATABASE,
        "ASPECTS_REPORTING_DATABASE": ERB_REPORTING_DATABASE,
        "ASPECTS_EVENT_SINK_DATABASE": ERB_EVENT_SINK_DATABASE,
    }
    results = dbt("build", variables=DBT_VARS)
    tables = {
        model: as_expected(
            client.query(f"SELECT * FROM {ERB_REPORTING_DATABASE}.{model}").named_results()
        )
        for model in MODELS
    }
    yield Replay(lines, ground_truth(lines), output, sent, statements, tables, results)
    client.close()


# --- Tests -------------------------------------------------------------------------------------

# Every model but the parsed statements, whose own test leaves out ERB's ids and Ralph's times.
EXPECTED_FIGURES = {
    model: expected for model, expected in EXPECTED.items() if model != "xapi_events_parsed"
}


def test_erb_sent_every_routed_event_and_ralph_stored_each_statement_once(replay: Replay) -> None:
    routed = [line for line in replay.lines if line["name"] not in NOT_ROUTED]
    assert f"Queued {len(routed)} log lines" in replay.output
    assert len(replay.statements) == len({s["id"] for s in replay.statements})
    assert len(replay.statements) == len(replay.facts)
    # Every statement as ERB 10.1.0 made it, and stored by Ralph at the time it arrived.
    for statement in replay.statements:
        extensions = statement["context"]["extensions"]
        version = "https://w3id.org/xapi/openedx/extension/transformer-version"
        assert extensions[version] == "event-routing-backends@10.1.0"
        assert replay.sent[0] <= datetime.fromisoformat(statement["stored"]) <= replay.sent[1]


def test_dbt_builds_every_model_and_passes_every_data_test(replay: Replay) -> None:
    statuses = {name: result["status"] for name, result in replay.results.items()}
    assert set(MODELS) <= set(statuses)
    assert {name: s for name, s in statuses.items() if s not in ("success", "pass")} == {}


def test_parsed_statements_say_what_the_events_say(replay: Replay) -> None:
    expected = expected_parsed(replay.facts)
    # Ids are ERB's own (and a question's parent id, its submission's), stored times Ralph's.
    columns = [
        c for c in expected[0] if c not in ("event_id", "parent_statement_id", "stored_time")
    ]
    actual = replay.tables["xapi_events_parsed"]
    assert projected(actual, columns) == projected(as_expected(expected), columns)
    questions = [row for row in actual if row["parent_statement_id"]]
    assert len(questions) == sum(bool(f.parent_statement) for f in replay.facts)
    submissions = {str(row["event_id"]) for row in actual if row["verb_id"].endswith("/evaluated")}
    assert {row["parent_statement_id"] for row in questions} <= submissions


@pytest.mark.parametrize("model", list(EXPECTED_FIGURES))
def test_model_figures_match_the_tracking_log(replay: Replay, model: str) -> None:
    expected = as_expected(EXPECTED_FIGURES[model](replay.facts))
    actual = replay.tables[model]
    columns = list(expected[0])
    assert set(columns) <= set(actual[0]), "the model lacks columns"
    assert projected(actual, columns) == projected(expected, columns)


def test_attempts_are_the_server_checks_of_each_problem(replay: Replay) -> None:
    """Counted from the log alone: one attempt per server problem_check, correct at full marks."""
    checks = [
        line["event"]
        for line in replay.lines
        if line["name"] == "problem_check" and line["event_source"] == "server"
    ]
    expected = {}
    for check in checks:
        problem = master_block(check["problem_id"])
        attempts, correct = expected.get(problem, (0, 0))
        expected[problem] = (attempts + 1, correct + (check["grade"] == check["max_grade"]))
    actual = {
        row["problem_id"]: (row["attempts"], row["correct_attempts"])
        for row in replay.tables["problem_performance"]
    }
    assert actual == expected
    forces = block_key(PHYSICS.key, "problem", FORCES)
    # 4 checks of a three-question problem: ERB sent 16 evaluated statements for them.
    assert expected[forces] == (4, 1)
    assert (
        sum(is_submission(f) or bool(f.parent_statement) for f in replay.facts if f.block == forces)
        == 16
    )


def test_the_arrival_delay_runs_from_the_timestamp_to_ralph_storing_it(replay: Replay) -> None:
    for row in replay.tables["ingestion_hourly"]:
        hour = row["emission_hour"]
        times = [f.time for f in replay.facts if f.time.replace(minute=0, second=0) == hour]
        low = max((replay.sent[0] - t).total_seconds() for t in times)
        high = max((replay.sent[1] - t).total_seconds() for t in times)
        assert low - 1 <= row["max_arrival_delay_seconds"] <= high + 1
        assert row["max_arrival_delay_seconds"] > 0


def test_a_ccx_counts_towards_its_master_course(replay: Replay) -> None:
    status = {
        (row["course_key"], row["ccx_course_key"])
        for row in replay.tables["learner_course_status"]
        if row["actor_id"] == EMA.xapi_id
    }
    assert status == {(PHYSICS.key, PHYSICS_CCX)}
    keys = {row["course_key"] for row in replay.tables["xapi_events_parsed"]}
    assert keys == {PHYSICS.key, HISTORY.key}


def test_the_regrade_makes_nobody_active(replay: Replay) -> None:
    days = {row["period_start"] for row in replay.tables["course_active_learners"]}
    assert at(20).date() not in days
    statements = [
        row for row in replay.tables["xapi_events_parsed"] if row["emission_time"].day == 20
    ]
    assert len(statements) == 5


def test_answers_hints_seeks_and_forum_posts_counted_from_the_log(replay: Replay) -> None:
    """Counted from the log alone: what each routed event adds to the new models."""
    help_asked: dict[tuple[str, str], int] = {}
    seeks: dict[tuple[str, int, int], int] = {}
    forum: dict[str, int] = {}
    for line in replay.lines:
        name, data = line["name"], line["event"]
        if name in ("showanswer", "edx.problem.hint.demandhint_displayed"):
            problem = master_block(data.get("problem_id") or data["module_id"])
            key = (problem, "answer" if name == "showanswer" else "hint")
            help_asked[key] = help_asked.get(key, 0) + 1
        elif name == "seek_video":
            data = json.loads(data)
            key = (line["time"][:10], int(data["old_time"]), int(data["new_time"]))
            seeks[key] = seeks.get(key, 0) + 1
        elif name.startswith("edx.forum."):
            action = FORUM_ACTIONS.get(name.rpartition(".")[2], name.rpartition(".")[2])
            forum[action] = forum.get(action, 0) + 1
    rows = replay.tables["problem_hints_and_answers"]
    assert {
        **{(r["problem_id"], "answer"): r["answers_shown"] for r in rows if r["answers_shown"]},
        **{(r["problem_id"], "hint"): r["hints_shown"] for r in rows if r["hints_shown"]},
    } == help_asked
    assert help_asked[block_key(PHYSICS.key, "problem", UNITS), "answer"] == 2  # one in the CCX
    assert {
        (str(r["seek_date"]), r["time_from"], r["time_to"]): r["seeks"]
        for r in replay.tables["video_seeks"]
    } == seeks
    actions: dict[str, int] = {}
    for row in replay.tables["forum_activity_daily"]:
        actions[row["action"]] = actions.get(row["action"], 0) + row["statements"]
    assert actions == forum
    # A withdrawn vote is a vote too; a reply's edit, report and deletion name no thread.
    assert forum["voted"] == 3
    unnamed = {
        row["action"] for row in replay.tables["forum_activity_daily"] if not row["thread_id"]
    }
    assert unnamed == {"voted", "edited", "reported", "deleted"}
