"""Seeded generator of realistic Open edX xAPI statements, for test data and benchmarks.

The statements are those event-routing-backends (ERB) 10.1.0 sends for the LMS's tracking
events, value for value apart from statement ids: the generator also writes the tracking log of
the same simulation (``iter_tracking_log``), and tests/aspects/test_generator_matches_erb.py
replays it through ERB and compares. xAPI version 1.0.3, an ``account`` actor (LMS URL and
anonymous user id), object ids under ``{lms_url}/xblock/...`` and ``{lms_url}/course/...``, the
course as ``context.contextActivities.parent``, the transformer version and session id as
context extensions, scores as floats (tincan's), timestamps as ``datetime.isoformat`` writes them.
Ralph's API accepts every statement (``LaxStatement``). The module uses the standard library
only, so it runs in a plain Python image.

Usage::

    from tutoraspects.job.xapi_generator import Config, build_universe, iter_statement_json

    config = Config(seed=7, learners=500, weeks=10)
    universe = build_universe(config)        # courses, blocks, learners and enrollments
    for line in iter_statement_json(config): # one JSON document per statement
        ...

or from a shell: ``python xapi_generator.py --statements 1000000 --output statements.jsonl``.

API
---
``Config``
    Frozen dataclass: ``seed``, ``orgs``, ``courses_per_org``, ``learners``, ``weeks``, ``start``
    (timezone-aware), ``lms_url``, course shape (``sections_per_course``,
    ``subsections_per_section``, ``units_per_subsection``), per-learner activity
    (``sessions_per_week``), ``pass_cutoff``, ``transformer_version``, and ``statements``: stop
    after exactly that many statements (``None``: every learner's whole activity).
``sized_config(statements, **settings) -> Config``
    A ``Config`` with enough learners to reach ``statements``, capped at that number.
``build_universe(config) -> Universe``
    The plain data behind the statements: ``courses`` (each with ``sections``,
    ``subsections``, ``units`` and their component ``Block`` objects), ``learners``,
    ``enrollments`` (enrollment and unenrollment times, mode, weeks active before dropping out).
``course_structure(config) -> (overview rows, block rows)``
    What the CMS sends the event sink tables ``course_overviews`` and ``course_blocks`` for the
    universe's courses (platform-plugin-aspects' columns, ``COURSE_OVERVIEW_COLUMNS`` and
    ``COURSE_BLOCK_COLUMNS``): names, block types, outline numbers and order, graded flags.
    ``course_block_rows(course_key, outline, dump_id, dumped)`` numbers any outline that way.
``iter_statements(config) -> Iterator[dict]``
    Statements as dicts (convenient, slower).
``iter_statement_json(config) -> Iterator[str]``
    The fast path: the same statements as JSON text, byte for byte ``json.dumps`` of the dicts.
``write_jsonl(config, stream) -> int``
    Writes the statements as JSON lines; returns how many were written.
``iter_tracking_log(config) -> Iterator[dict]``
    The LMS tracking-log events ERB turns into the same statements, one per line of
    tracking.log. What ERB looks up while transforming them is in the universe: each learner's
    ``user_id``, ``username`` and anonymous id (``name``), each course's ``display_name``.
``classify(statement) -> str``
    The kind of a statement (a key of ``KINDS``), from its verb, object and context.
``KINDS``
    Every kind of statement generated, with its xAPI verb and the ERB event names it comes from.

Same seed and config give byte-identical output. Learners are generated one after the other from
their own random streams, so the first N learners (and their statements) do not depend on how
many learners there are in total.

Behaviour
---------
Learners enroll (mostly early in the date range; some unenroll; some stop being active after a
few weeks, i.e. at risk; those who enroll in its first hours have no registration statement, as
learners enrolled before a deployment began collecting statements), then come back in sessions
whose frequency decays week after week. A session resumes where the learner left the course and
walks through units (navigating to the next unit, sometimes back or to another tab), reading
HTML, watching videos in segments and answering problems. Every video segment is a ``played``
statement followed by a ``paused`` one (or by ``completed`` then ``terminated`` at the end of
the video), so watched segments are the (played time, paused/terminated time) pairs; seeks
happen between segments. Problems worth two or three points have that many questions (one point
each). A problem submission is a browser ``attempted`` and a server ``evaluated``: for a
one-question problem, the score, response and attempt number; for the others, ERB's parent
statement (interaction type ``other``, the problem's score, and the first question's success and
response) then one ``evaluated`` per question (object id suffixed with the question's input id,
no score, the problem as context parent and the course as grouping, a StatementRef to the
parent). The block completion follows the first time, then the subsection and course grades;
crossing the pass cutoff gives ``passed``, falling back under it ``failed``. Learners retry
problems they did not fully solve (at most three attempts), and the score of the last attempt
counts. A session may end with a forum post. Timestamps never decrease for a learner and stay in
``[start, start + weeks)``. Output is learner after learner, each learner's statements in time
order.

Statements by kind: verb <- the LMS events ERB transforms into it (``KINDS`` holds the same):

- enrollment_registered: registered <- edx.course.enrollment.activated
- enrollment_unregistered: unregistered <- edx.course.enrollment.deactivated
- navigation: navigated <- edx.ui.lms.sequence.next_selected, previous_selected, tab_selected
  (the unit left, as the learning MFE sends it; starting-position and ending-point context
  extensions)
- video_played: played <- play_video (time; the video length is a context extension)
- video_paused: paused <- pause_video
- video_seeked: seeked <- seek_video (time-from, time-to)
- video_completed: completed <- complete_video (completion, duration)
- video_stopped: terminated <- stop_video
- problem_browser_check: attempted <- problem_check from the browser (no result; interaction
  type ``other``: the browser's event holds only the answers)
- problem_server_check: evaluated <- problem_check from the server (score, success, response,
  attempt number; the parent statement of a problem with several questions)
- problem_question_check: evaluated <- problem_check from the server, one per question of a
  problem with several (success and response)
- block_completion: progressed <- edx.completion.block_completion.changed (progress 100)
- subsection_grade: earned <- edx.grades.subsection.grade_calculated
- course_grade: earned <- edx.grades.course.grade_calculated (Pass/Fail classification)
- course_passed: passed <- edx.course.grade.passed.first_time, edx.course.grade.now_passed
- course_failed: failed <- edx.course.grade.now_failed
- forum_thread_posted: posted <- edx.forum.thread.created (title as the object's name)
- forum_response_posted: posted <- edx.forum.response.created (its thread as grouping)

Pass/fail statements carry an empty ``extensions`` in their object definition, as ERB sends
them (it reads an enrollment mode that grade events lack); Ralph's API model accepts that, its
strict ``BaseXapiStatement`` does not. ERB 10.1.0 sends nothing for two events the LMS writes:
edx.grades.problem.submitted (not in its default list of allowed events) and the course
progress of openedx-completion-aggregator (not installed by default), so neither is generated.

Where the output knowingly differs from ERB: keys come in a fixed order of our own (JSON objects
are unordered), and statement ids are random-looking UUIDs rather than ERB's UUID5 of actor,
time and verb. Not generated: video loads, transcript and speed changes, hints and answers
shown, question types other than multiple choice, link clicks, exams and forum events other
than posts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import Any, TextIO

XAPI_VERSION = "1.0.3"
DEFAULT_TRANSFORMER_VERSION = "event-routing-backends@10.1.0"

# Activity types.
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
VIDEO_TYPE = "https://w3id.org/xapi/video/activity-type/video"
INTERACTION_TYPE = "http://adlnet.gov/expapi/activities/cmi.interaction"
RESOURCE_TYPE = "http://id.tincanapi.com/activitytype/resource"
DISCUSSION_TYPE = "http://id.tincanapi.com/activitytype/discussion"

# Extension keys.
EXT_TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"
EXT_SESSION_ID = "https://w3id.org/xapi/openedx/extensions/session-id"
EXT_MODE = "https://w3id.org/xapi/acrossx/extensions/type"
EXT_VIDEO_LENGTH = "https://w3id.org/xapi/video/extensions/length"
EXT_VIDEO_TIME = "https://w3id.org/xapi/video/extensions/time"
EXT_VIDEO_TIME_FROM = "https://w3id.org/xapi/video/extensions/time-from"
EXT_VIDEO_TIME_TO = "https://w3id.org/xapi/video/extensions/time-to"
EXT_STARTING_POSITION = "http://id.tincanapi.com/extension/starting-position"
EXT_ENDING_POINT = "http://id.tincanapi.com/extension/ending-point"
EXT_TOTAL_ITEMS = "https://w3id.org/xapi/acrossx/extensions/total-items"
EXT_ATTEMPT = "http://id.tincanapi.com/extension/attempt-id"
EXT_PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
EXT_GRADE_CLASSIFICATION = "http://www.tincanapi.co.uk/activitytypes/grade_classification"


@dataclass(frozen=True)
class Verb:
    id: str
    display: str


REGISTERED = Verb("http://adlnet.gov/expapi/verbs/registered", "registered")
UNREGISTERED = Verb("http://id.tincanapi.com/verb/unregistered", "unregistered")
NAVIGATED = Verb("https://w3id.org/xapi/dod-isd/verbs/navigated", "navigated")
PLAYED = Verb("https://w3id.org/xapi/video/verbs/played", "played")
PAUSED = Verb("https://w3id.org/xapi/video/verbs/paused", "paused")
SEEKED = Verb("https://w3id.org/xapi/video/verbs/seeked", "seeked")
COMPLETED = Verb("http://adlnet.gov/expapi/verbs/completed", "completed")
TERMINATED = Verb("http://adlnet.gov/expapi/verbs/terminated", "terminated")
ATTEMPTED = Verb("http://adlnet.gov/expapi/verbs/attempted", "attempted")
EVALUATED = Verb("https://w3id.org/xapi/acrossx/verbs/evaluated", "evaluated")
PROGRESSED = Verb("http://adlnet.gov/expapi/verbs/progressed", "progressed")
EARNED = Verb("http://id.tincanapi.com/verb/earned", "earned")
PASSED = Verb("http://adlnet.gov/expapi/verbs/passed", "passed")
FAILED = Verb("http://adlnet.gov/expapi/verbs/failed", "failed")
POSTED = Verb("https://w3id.org/xapi/acrossx/verbs/posted", "posted")


@dataclass(frozen=True)
class Kind:
    """A kind of generated statement: its verb, object type and the ERB events behind it."""

    verb: Verb
    object_type: str
    erb_events: tuple[str, ...]


KINDS: dict[str, Kind] = {
    "enrollment_registered": Kind(REGISTERED, COURSE_TYPE, ("edx.course.enrollment.activated",)),
    "enrollment_unregistered": Kind(
        UNREGISTERED, COURSE_TYPE, ("edx.course.enrollment.deactivated",)
    ),
    "navigation": Kind(
        NAVIGATED,
        RESOURCE_TYPE,
        (
            "edx.ui.lms.sequence.next_selected",
            "edx.ui.lms.sequence.previous_selected",
            "edx.ui.lms.sequence.tab_selected",
        ),
    ),
    "video_played": Kind(PLAYED, VIDEO_TYPE, ("play_video",)),
    "video_paused": Kind(PAUSED, VIDEO_TYPE, ("pause_video",)),
    "video_seeked": Kind(SEEKED, VIDEO_TYPE, ("seek_video",)),
    "video_completed": Kind(COMPLETED, VIDEO_TYPE, ("complete_video",)),
    "video_stopped": Kind(TERMINATED, VIDEO_TYPE, ("stop_video",)),
    "problem_browser_check": Kind(ATTEMPTED, INTERACTION_TYPE, ("problem_check (browser)",)),
    "problem_server_check": Kind(EVALUATED, INTERACTION_TYPE, ("problem_check (server)",)),
    "problem_question_check": Kind(
        EVALUATED, INTERACTION_TYPE, ("problem_check (server, one per question)",)
    ),
    "block_completion": Kind(
        PROGRESSED, RESOURCE_TYPE, ("edx.completion.block_completion.changed",)
    ),
    "subsection_grade": Kind(EARNED, RESOURCE_TYPE, ("edx.grades.subsection.grade_calculated",)),
    "course_grade": Kind(EARNED, COURSE_TYPE, ("edx.grades.course.grade_calculated",)),
    "course_passed": Kind(
        PASSED, COURSE_TYPE, ("edx.course.grade.passed.first_time", "edx.course.grade.now_passed")
    ),
    "course_failed": Kind(FAILED, COURSE_TYPE, ("edx.course.grade.now_failed",)),
    "forum_thread_posted": Kind(POSTED, DISCUSSION_TYPE, ("edx.forum.thread.created",)),
    "forum_response_posted": Kind(POSTED, DISCUSSION_TYPE, ("edx.forum.response.created",)),
}

_KIND_BY_VERB_AND_TYPE = {
    (kind.verb.id, kind.object_type): name
    for name, kind in KINDS.items()
    if name not in ("forum_response_posted", "problem_question_check")
}


def classify(statement: dict[str, Any]) -> str:
    """Return the kind (a key of ``KINDS``) of a generated statement."""
    obj = statement["object"]
    name = _KIND_BY_VERB_AND_TYPE[statement["verb"]["id"], obj["definition"]["type"]]
    if name == "forum_thread_posted" and "/comments/" in obj["id"]:
        return "forum_response_posted"
    if name == "problem_server_check" and "statement" in statement["context"]:
        return "problem_question_check"
    return name


# Time is kept as integer microseconds since the Unix epoch.
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
# Enrolments in the first hours of the date range have no registration statement: those learners
# stand for the ones enrolled before a deployment began collecting statements.
UNCOLLECTED_ENROLMENT = 6 * HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

MAX_ATTEMPTS = 3
_MASK48 = (1 << 48) - 1
_MASK64 = (1 << 64) - 1


def _to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# ---------------------------------------------------------------------------------------------
# Configuration and universe
# ---------------------------------------------------------------------------------------------


# Scheme, host name (or [IPv6 address]), port, then a path in printable ASCII without quotes or
# backslashes.
_LMS_URL = re.compile(
    r"https?://(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?(?:/[!#-\[\]-~]*)?"
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(config: Config, name: str, ok: bool, requirement: str) -> None:
    if not ok:
        raise ValueError(f"{name} {requirement}, not {getattr(config, name)!r}")


@dataclass(frozen=True)
class Config:
    """What to generate. Every field has a default; ``seed`` picks one of many variants."""

    seed: int = 0
    orgs: int = 2
    courses_per_org: int = 2
    learners: int = 200
    weeks: int = 8
    start: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc)
    lms_url: str = "http://localhost:18000"
    sections_per_course: int = 4
    subsections_per_section: int = 2
    units_per_subsection: int = 3
    sessions_per_week: float = 2.0
    pass_cutoff: float = 0.5
    transformer_version: str = DEFAULT_TRANSFORMER_VERSION
    statements: int | None = None

    def __post_init__(self) -> None:
        counts = ("orgs", "courses_per_org", "learners", "weeks", "sections_per_course")
        counts += ("subsections_per_section", "units_per_subsection")
        for name in ("seed", *counts):
            _check(self, name, _is_int(getattr(self, name)), "must be an integer")
        for name in counts:
            _check(self, name, getattr(self, name) >= 1, "must be at least 1")
        for name in ("sessions_per_week", "pass_cutoff"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            _check(self, name, number and math.isfinite(value), "must be a finite number")
        # More would be one session every few minutes, each a whole walk through units.
        _check(self, "sessions_per_week", 1 <= self.sessions_per_week <= 50, "must be in [1, 50]")
        _check(self, "pass_cutoff", 0 < self.pass_cutoff <= 1, "must be in (0, 1]")
        if self.statements is not None:
            _check(self, "statements", _is_int(self.statements), "must be an integer or None")
            _check(self, "statements", self.statements >= 0, "must not be negative")
        _check(self, "start", isinstance(self.start, datetime), "must be a datetime")
        _check(self, "start", self.start.tzinfo is not None, "must be timezone-aware")
        try:
            self.start + timedelta(weeks=self.weeks)
        except OverflowError:
            raise ValueError(
                f"start ({self.start}) and weeks ({self.weeks}) end after the year 9999"
            ) from None
        _check(
            self, "transformer_version", isinstance(self.transformer_version, str), "must be text"
        )
        # The JSON path writes ids made from the URL as they are, without escaping.
        _check(
            self,
            "lms_url",
            isinstance(self.lms_url, str) and _LMS_URL.fullmatch(self.lms_url) is not None,
            "must be an http(s) URL with a host name, in printable ASCII, without quotes",
        )
        # Frozen, so normalised values are set through object.__setattr__.
        object.__setattr__(self, "start", self.start.astimezone(timezone.utc))
        object.__setattr__(self, "lms_url", self.lms_url.rstrip("/"))

    @property
    def end(self) -> datetime:
        """End of the date range (exclusive)."""
        return self.start + timedelta(weeks=self.weeks)


@dataclass(frozen=True, eq=False)
class Block:
    """An XBlock of a course. ``uid`` indexes ``Universe.blocks``."""

    uid: int
    course_index: int
    block_type: str  # chapter, sequential, vertical, html, video or problem
    usage_key: str
    iri: str
    display_name: str
    # video: length in seconds.
    video_length: float = 0.0
    # problem: weighted points possible; sequential: graded points possible in it.
    weight: float = 0.0
    # problem: the answers offered, the index of the correct one, the question, how hard it is,
    # whether half credit is possible and the sequential it belongs to.
    answers: tuple[str, ...] = ()
    correct_answer: int = 0
    question: str = ""
    difficulty: float = 0.0
    partial_credit: bool = False
    subsection_uid: int = -1
    # problem: how many questions (response fields) it has, each worth one point.
    questions: int = 1


@dataclass(frozen=True, eq=False)
class Unit:
    """A vertical, with its place in its sequential (``position`` of ``tab_count``, from 1)."""

    block: Block
    subsection: Block
    position: int
    tab_count: int
    components: tuple[Block, ...]


@dataclass(frozen=True, eq=False)
class Course:
    index: int
    org: str
    code: str
    run: str
    key: str  # course-v1:Org+Code+Run
    display_name: str
    iri: str  # {lms_url}/course/{key}
    root_iri: str  # {lms_url}/xblock/block-v1:Org+Code+Run+type@course+block@course
    sections: tuple[Block, ...]
    subsections: tuple[Block, ...]
    units: tuple[Unit, ...]
    components: tuple[Block, ...]
    points_possible: float

    @property
    def videos(self) -> tuple[Block, ...]:
        return tuple(b for b in self.components if b.block_type == "video")

    @property
    def problems(self) -> tuple[Block, ...]:
        return tuple(b for b in self.components if b.block_type == "problem")


@dataclass(frozen=True)
class Learner:
    index: int
    name: str  # anonymous user id, the actor's account name
    engagement: float  # 0..1: how often and how long the learner studies
    skill: float  # 0..1: chance of answering right on a first attempt
    forum_propensity: float  # chance of posting to the forum in a session

    @property
    def user_id(self) -> int:
        """The learner's id in the LMS's user table."""
        return self.index + 1

    @property
    def username(self) -> str:
        return f"learner{self.index + 1}"


@dataclass(frozen=True)
class Enrollment:
    learner_index: int
    course_index: int
    mode: str
    enrolled_at: datetime
    unenrolled_at: datetime | None
    # Weeks of activity after enrolling before going inactive (at risk); None: never stops.
    active_weeks: int | None
    # False: enrolled before statements were collected, so no registration statement says so.
    registration_sent: bool = True


@dataclass(frozen=True, eq=False)
class Universe:
    config: Config
    courses: tuple[Course, ...]
    blocks: tuple[Block, ...]
    learners: tuple[Learner, ...]
    enrollments: tuple[Enrollment, ...]
    enrollments_by_learner: tuple[tuple[Enrollment, ...], ...] = field(repr=False)


_ORGS = ("OpenedX", "MITx", "HarvardX", "DelftX", "UQx", "EPFLx", "UBCx", "BerkeleyX")
_SUBJECTS = (
    ("CS101", "Introduction to Computer Science"),
    ("DS201", "Data Science: Foundations & Practice"),
    ("ECO110", "Économie du développement"),
    ("BIO150", "Principles of Biology: Life's Machinery"),
    ("MATH120", "Calculus I"),
    ("STAT100", "Statistics for Everyone"),
    ("HIST210", "World History since 1500"),
    ("PHYS101", "Mechanics and Motion"),
)
_ANSWERS = ("Option A", "Option B", "Option C", "Option D")
_MODES = (("audit", 0.70), ("verified", 0.95), ("honor", 1.0))
_DUMP_NAMESPACE = uuid.UUID("0b5e7d3c-4f1a-5c2e-9d8b-6a7f3e2c1d40")


def _hex32(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _uuid4(rng: random.Random) -> str:
    h = _hex32(rng)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.getrandbits(2)]}{h[17:20]}-{h[20:]}"


def _course_identity(config: Config, index: int) -> tuple[str, str, str, str]:
    """Org, course code, run and display name of the index-th course."""
    org_index, course_in_org = divmod(index, config.courses_per_org)
    org = _ORGS[org_index % len(_ORGS)] + (str(org_index // len(_ORGS)) if org_index >= 8 else "")
    code, name = _SUBJECTS[(org_index * 3 + course_in_org) % len(_SUBJECTS)]
    if course_in_org >= len(_SUBJECTS):
        code += f"_{course_in_org // len(_SUBJECTS)}"
    run = f"{config.start.year}_T{(config.start.month - 1) // 3 + 1}"
    return org, code, run, name


class _CourseBuilder:
    """Builds one course's block tree, numbering blocks from ``first_uid``."""

    def __init__(self, config: Config, index: int, rng: random.Random, first_uid: int) -> None:
        self.config = config
        self.index = index
        self.rng = rng
        self.blocks: list[Block] = []
        self.first_uid = first_uid
        self.org, self.code, self.run, self.name = _course_identity(config, index)

    def block(self, block_type: str, display_name: str, **attributes: Any) -> Block:
        usage_key = (
            f"block-v1:{self.org}+{self.code}+{self.run}+type@{block_type}+block@{_hex32(self.rng)}"
        )
        block = Block(
            uid=self.first_uid + len(self.blocks),
            course_index=self.index,
            block_type=block_type,
            usage_key=usage_key,
            iri=f"{self.config.lms_url}/xblock/{usage_key}",
            display_name=display_name,
            **attributes,
        )
        self.blocks.append(block)
        return block

    def components(self, label: str, subsection_uid: int) -> list[Block]:
        rng = self.rng
        kinds = [
            k for k, p in (("html", 0.6), ("video", 0.55), ("problem", 0.65)) if rng.random() < p
        ]
        components = []
        for kind in kinds or ["video"]:
            if kind == "html":
                components.append(self.block("html", f"Reading {label}"))
            elif kind == "video":
                length = float(rng.randrange(90, 900))
                components.append(self.block("video", f"Lecture {label}", video_length=length))
            else:
                components.append(self.problem(label, subsection_uid))
        return components

    def problem(self, label: str, subsection_uid: int) -> Block:
        rng = self.rng
        weight = rng.choice((1.0, 1.0, 1.0, 2.0, 3.0))
        return self.block(
            "problem",
            f"Check your understanding {label}",
            weight=weight,
            # A problem's default weight is one point per question.
            questions=int(weight),
            answers=_ANSWERS,
            correct_answer=rng.randrange(len(_ANSWERS)),
            question=f'Which option is "right" for unit {label}?',
            difficulty=0.5 * rng.random(),
            partial_credit=rng.random() < 0.3,
            subsection_uid=subsection_uid,
        )

    def build(self) -> Course:
        config = self.config
        sections, subsections, units = [], [], []
        for s in range(1, config.sections_per_course + 1):
            sections.append(self.block("chapter", f"Section {s}"))
            for ss in range(1, config.subsections_per_section + 1):
                subsection = self.block("sequential", f"Subsection {s}.{ss}")
                unit_parts = []
                for u in range(1, config.units_per_subsection + 1):
                    label = f"{s}.{ss}.{u}"
                    vertical = self.block("vertical", f"Unit {label}")
                    unit_parts.append((vertical, self.components(label, subsection.uid)))
                points = sum(c.weight for _, parts in unit_parts for c in parts)
                # Blocks are immutable; the sequential learns its graded points once known.
                subsection = replace(subsection, weight=points)
                self.blocks[subsection.uid - self.first_uid] = subsection
                subsections.append(subsection)
                for position, (vertical, parts) in enumerate(unit_parts, start=1):
                    units.append(
                        Unit(vertical, subsection, position, len(unit_parts), tuple(parts))
                    )
        components = tuple(c for unit in units for c in unit.components)
        key = f"course-v1:{self.org}+{self.code}+{self.run}"
        return Course(
            index=self.index,
            org=self.org,
            code=self.code,
            run=self.run,
            key=key,
            display_name=self.name,
            iri=f"{config.lms_url}/course/{key}",
            root_iri=(
                f"{config.lms_url}/xblock/block-v1:{self.org}+{self.code}+{self.run}"
                "+type@course+block@course"
            ),
            sections=tuple(sections),
            subsections=tuple(subsections),
            units=tuple(units),
            components=components,
            points_possible=sum(c.weight for c in components),
        )


def _build_learner(config: Config, index: int, popularity: list[float]) -> tuple[Learner, tuple]:
    rng = random.Random(f"{config.seed}:learner:{index}")
    learner = Learner(
        index=index,
        name=_uuid4(rng),
        engagement=rng.betavariate(2.0, 2.2),
        skill=0.35 + 0.6 * rng.betavariate(3.0, 2.0),
        forum_propensity=0.0 if rng.random() < 0.7 else 0.05 + 0.3 * rng.random(),
    )
    wanted = 1 + (rng.random() < 0.35) + (rng.random() < 0.12)
    candidates = list(range(len(popularity)))
    weights = list(popularity)
    enrollments = []
    start_us = _to_micros(config.start)
    span = config.weeks * WEEK
    for _ in range(min(wanted, len(candidates))):
        # Weighted draw without replacement: popular courses get more learners.
        [pick] = rng.choices(range(len(candidates)), weights)
        course_index = candidates.pop(pick)
        weights.pop(pick)
        # Most learners enroll early in the range.
        enrolled = start_us + int(span * 0.85 * rng.random() ** 2)
        draw = rng.random()
        mode = next(name for name, upper in _MODES if draw < upper)
        unenrolled = None
        if rng.random() < 0.12:
            moment = enrolled + MINUTE + int(rng.expovariate(1.0) * 6 * DAY)
            unenrolled = _from_micros(moment) if moment < start_us + span else None
        active_weeks = 1 + rng.randrange(3) if rng.random() < 0.25 else None
        enrollments.append(
            Enrollment(
                index,
                course_index,
                mode,
                _from_micros(enrolled),
                unenrolled,
                active_weeks,
                registration_sent=enrolled >= start_us + UNCOLLECTED_ENROLMENT,
            )
        )
    enrollments.sort(key=lambda e: e.enrolled_at)
    return learner, tuple(enrollments)


def _build_courses(config: Config, rng: random.Random) -> tuple[list[Course], list[Block]]:
    courses, blocks = [], []
    for index in range(config.orgs * config.courses_per_org):
        builder = _CourseBuilder(config, index, rng, len(blocks))
        courses.append(builder.build())
        blocks.extend(builder.blocks)
    return courses, blocks


def build_universe(config: Config) -> Universe:
    """Courses (with their blocks), learners and enrollments for ``config``."""
    rng = random.Random(f"{config.seed}:courses")
    courses, blocks = _build_courses(config, rng)
    popularity = [1.0 / (rank + 1) ** 0.8 for rank in range(len(courses))]
    rng.shuffle(popularity)
    learners, by_learner = [], []
    for index in range(config.learners):
        learner, enrollments = _build_learner(config, index, popularity)
        learners.append(learner)
        by_learner.append(enrollments)
    return Universe(
        config=config,
        courses=tuple(courses),
        blocks=tuple(blocks),
        learners=tuple(learners),
        enrollments=tuple(e for group in by_learner for e in group),
        enrollments_by_learner=tuple(by_learner),
    )


# The event sink's course tables, in the column order platform-plugin-aspects inserts them
# (INSERT ... FORMAT CSV without a column list): what the CMS sends when a course is published.
COURSE_OVERVIEW_COLUMNS = (
    "org",
    "course_key",
    "display_name",
    "course_start",
    "course_end",
    "enrollment_start",
    "enrollment_end",
    "self_paced",
    "course_data_json",
    "created",
    "modified",
    "dump_id",
    "time_last_dumped",
)
COURSE_BLOCK_COLUMNS = (
    "org",
    "course_key",
    "location",
    "display_name",
    "xblock_data_json",
    "order",
    "edited_on",
    "dump_id",
    "time_last_dumped",
)


def _sink_time(moment: datetime) -> str:
    """A time as the sink writes time_last_dumped and the course dates: str() of a UTC datetime."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


# Blocks the CMS keeps outside the course outline: numbered 0, marked detached.
DETACHED_BLOCK_TYPES = frozenset({"static_tab", "about", "course_info"})


def course_block_rows(
    course_key: str, outline: list[tuple[str, str, str, bool]], dump_id: str, dumped: str
) -> list[tuple]:
    """
    One dump's ``course_blocks`` rows (``COURSE_BLOCK_COLUMNS``) from a course's blocks in outline
    order, ``(location, name, block type, graded)``: numbered as platform-plugin-aspects numbers
    them, each section, subsection and unit from 1 within the level above.
    """
    org, code, run = course_key.removeprefix("course-v1:").split("+")
    rows = []
    section = subsection = unit = 0
    for order, (location, name, block_type, graded) in enumerate(outline, start=1):
        if block_type == "chapter":
            section, subsection, unit = section + 1, 0, 0
        elif block_type == "sequential":
            subsection, unit = subsection + 1, 0
        elif block_type == "vertical":
            unit += 1
        detached = block_type in DETACHED_BLOCK_TYPES
        data = {
            "course": code,
            "run": run,
            "block_type": block_type,
            "detached": int(detached),
            "graded": int(graded),
            "completion_mode": "",
            "section": 0 if detached else section,
            "subsection": 0 if detached else subsection,
            "unit": 0 if detached else unit,
        }
        rows.append((org, course_key, location, name, json.dumps(data), order, "", dump_id, dumped))
    return rows


def course_structure(config: Config) -> tuple[list[tuple], list[tuple]]:
    """
    The rows of event sink ``course_overviews`` and ``course_blocks`` (``COURSE_OVERVIEW_COLUMNS``
    and ``COURSE_BLOCK_COLUMNS``) that the CMS sends for the courses of ``build_universe(config)``:
    one dump per course, dumped at the start of the date range. The dump id comes from the seed
    and the course, so the same config gives the same rows. Builds the courses only, not the
    learners.
    """
    courses, all_blocks = _build_courses(config, random.Random(f"{config.seed}:courses"))
    dumped = _sink_time(config.start)
    overviews, blocks = [], []
    by_course: dict[int, list[Block]] = {}
    for block in all_blocks:
        by_course.setdefault(block.course_index, []).append(block)
    for course in courses:
        dump_id = str(uuid.uuid5(_DUMP_NAMESPACE, f"{config.seed}:{course.key}"))
        overviews.append(
            (course.org, course.key, course.display_name, dumped, "", "", "", False, "{}")
            + (dumped, dumped, dump_id, dumped)
        )
        root = course.root_iri.split("/xblock/", 1)[1]
        outline = [(root, course.display_name, "course", False)]
        graded_subsections = {s.uid for s in course.subsections if s.weight > 0}
        for block in by_course.get(course.index, []):
            # Grading is inherited in the modulestore: a problem of a graded subsection is graded.
            graded = block.uid in graded_subsections or block.subsection_uid in graded_subsections
            outline.append((block.usage_key, block.display_name, block.block_type, graded))
        blocks.extend(course_block_rows(course.key, outline, dump_id, dumped))
    return overviews, blocks


# ---------------------------------------------------------------------------------------------
# Statement shapes
# ---------------------------------------------------------------------------------------------


def _question_ids(problem: Block) -> tuple[str, ...]:
    """The LMS's input ids of a problem's questions: block id, response index from 2, input 1."""
    block_id = problem.usage_key.rsplit("@", 1)[1]
    return tuple(f"{block_id}_{number + 2}_1" for number in range(problem.questions))


def _question_texts(problem: Block) -> tuple[str, ...]:
    if problem.questions == 1:
        return (problem.question,)
    stem = problem.question.rstrip("?")
    return tuple(f"{stem}, part {number}?" for number in range(1, problem.questions + 1))


def _question_iris(problem: Block) -> tuple[str, ...]:
    """ERB's object ids of a problem's questions: the block id's last part becomes the input id."""
    base = problem.iri.rsplit("@", 1)[0]
    return tuple(f"{base}@{question_id}" for question_id in _question_ids(problem))


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration as the TinCan library (used by ERB) writes it, e.g. ``PT03M15S``."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    days, hours, minutes = int(days), int(hours), int(minutes)
    secs = round(secs, 6)
    text = f"{days}D" if days else ""
    text += "T"
    if days or hours:
        text += f"{hours:02}H"
    if days or hours or minutes:
        text += f"{minutes:02}M"
    text += f"{int(secs):02}" if float(secs).is_integer() else f"{secs:09.6f}".rstrip("0")
    return f"P{text}S"


class _Shapes:
    """Builds every statement as fresh dicts: the one definition of what statements look like.

    The dict path calls the statement shapes with real values. The JSON path calls them once
    with placeholders and turns the JSON text into ``%`` templates (see ``_compile``), so both
    paths give the same JSON. Shapes take their arguments in the order the values appear in the
    JSON text, and the keys are ordered so that what stays the same during a session (the
    session id, the course and the actor) comes last. Statement shapes leave their parameters
    untyped: they take real values or placeholders.
    """

    def __init__(self, config: Config) -> None:
        self.lms_url = config.lms_url
        self.transformer_version = config.transformer_version

    # Fragments.

    def actor(self, name: str) -> dict:
        return {"objectType": "Agent", "account": {"homePage": self.lms_url, "name": name}}

    @staticmethod
    def course_parent(course: Course) -> dict:
        return {
            "id": course.iri,
            "objectType": "Activity",
            "definition": {"name": {"en-US": course.display_name}, "type": COURSE_TYPE},
        }

    @staticmethod
    def course_object(course: Course, extensions: dict | None = None) -> dict:
        """The course as ERB writes it: extensions for enrollments and verdicts, not grades."""
        definition: dict[str, Any] = {"type": COURSE_TYPE, "name": {"en": course.display_name}}
        if extensions is not None:
            definition["extensions"] = extensions
        return {"id": course.iri, "objectType": "Activity", "definition": definition}

    @staticmethod
    def activity(iri: str, activity_type: str) -> dict:
        return {"id": iri, "objectType": "Activity", "definition": {"type": activity_type}}

    @staticmethod
    def navigation_object(unit: Unit) -> dict:
        # The learning MFE names the unit the learner leaves, and how many units its
        # subsection has.
        return {
            "id": unit.block.iri,
            "objectType": "Activity",
            "definition": {"type": RESOURCE_TYPE, "extensions": {EXT_TOTAL_ITEMS: unit.tab_count}},
        }

    @staticmethod
    def browser_check_object(problem: Block) -> dict:
        # The browser's event holds only the answers: ERB knows no question type.
        definition = {"type": INTERACTION_TYPE, "interactionType": "other"}
        return {"id": problem.iri, "objectType": "Activity", "definition": definition}

    @staticmethod
    def question_object(iri, question, interaction, attempt) -> dict:
        """A problem (interaction ``other`` when it has several questions) or one question."""
        definition = {
            "type": INTERACTION_TYPE,
            "description": {"en-US": question},
            "interactionType": interaction,
            "extensions": {EXT_ATTEMPT: attempt},
        }
        return {"id": iri, "objectType": "Activity", "definition": definition}

    @staticmethod
    def thread_object(iri, title) -> dict:
        definition = {"type": DISCUSSION_TYPE, "name": {"en": title}}
        return {"id": iri, "objectType": "Activity", "definition": definition}

    def thread_iri(self, post_id: str) -> str:
        return f"{self.lms_url}/api/discussion/v1/threads/{post_id}"

    def comment_iri(self, post_id: str) -> str:
        return f"{self.lms_url}/api/discussion/v1/comments/{post_id}"

    def _extensions(self, session: Any, extra: dict | None) -> dict:
        extensions = dict(extra or {})
        extensions[EXT_TRANSFORMER_VERSION] = self.transformer_version
        extensions[EXT_SESSION_ID] = session
        return extensions

    @staticmethod
    def _statement(sid, ts, verb: Verb, obj, result, context: dict, actor) -> dict:
        statement = {
            "id": sid,
            "timestamp": ts,
            "version": XAPI_VERSION,
            "verb": {"id": verb.id, "display": {"en": verb.display}},
            "object": obj,
        }
        if result is not None:
            statement["result"] = result
        statement["context"] = context
        statement["actor"] = actor
        return statement

    def _in_course(self, sid, ts, verb, obj, result, extra, session, parent, actor) -> dict:
        """A statement about something in a course, which is the context's parent."""
        context = {
            "extensions": self._extensions(session, extra),
            "contextActivities": {"parent": [parent]},
        }
        return self._statement(sid, ts, verb, obj, result, context, actor)

    def _grouped(self, sid, ts, verb, obj, result, parent, grouping, ref, session, actor) -> dict:
        """A statement with a parent and a grouping activity (and a statement it belongs to)."""
        context: dict[str, Any] = {
            "contextActivities": {"parent": [parent], "grouping": [grouping]}
        }
        if ref is not None:
            context["statement"] = {"objectType": "StatementRef", "id": ref}
        context["extensions"] = self._extensions(session, None)
        return self._statement(sid, ts, verb, obj, result, context, actor)

    # Statements.

    def about_course(self, verb: Verb, sid, ts, obj, session, actor) -> dict:
        """Enrollments and pass/fail verdicts: ERB gives them no context activities."""
        context = {"extensions": self._extensions(session, None)}
        return self._statement(sid, ts, verb, obj, None, context, actor)

    def navigated(self, sid, ts, obj, start, end, session, parent, actor) -> dict:
        extra = {EXT_STARTING_POSITION: start, EXT_ENDING_POINT: end}
        return self._in_course(sid, ts, NAVIGATED, obj, None, extra, session, parent, actor)

    def video_position(self, verb: Verb, sid, ts, obj, time, length, session, parent, actor):
        result = {"extensions": {EXT_VIDEO_TIME: time}}
        extra = {EXT_VIDEO_LENGTH: length}
        return self._in_course(sid, ts, verb, obj, result, extra, session, parent, actor)

    def video_seeked(self, sid, ts, obj, time_from, time_to, length, session, parent, actor):
        result = {"extensions": {EXT_VIDEO_TIME_FROM: time_from, EXT_VIDEO_TIME_TO: time_to}}
        extra = {EXT_VIDEO_LENGTH: length}
        return self._in_course(sid, ts, SEEKED, obj, result, extra, session, parent, actor)

    def video_completed(self, sid, ts, obj, time, duration, length, session, parent, actor):
        result = {"extensions": {EXT_VIDEO_TIME: time}, "completion": True, "duration": duration}
        extra = {EXT_VIDEO_LENGTH: length}
        return self._in_course(sid, ts, COMPLETED, obj, result, extra, session, parent, actor)

    def problem_attempted(self, sid, ts, obj, session, parent, actor) -> dict:
        return self._in_course(sid, ts, ATTEMPTED, obj, None, None, session, parent, actor)

    def problem_evaluated(self, sid, ts, obj, maximum, raw, scaled, success, response, *tail):
        """The whole submission: the problem's score, and the first question's answer."""
        score = {"min": 0.0, "max": maximum, "raw": raw, "scaled": scaled}
        result = {"score": score, "success": success, "response": response}
        return self._in_course(sid, ts, EVALUATED, obj, result, None, *tail)

    def question_evaluated(self, sid, ts, obj, success, response, problem, course, ref, *tail):
        """One question of a problem that has several: no score, only the parent's has one."""
        result = {"success": success, "response": response}
        return self._grouped(sid, ts, EVALUATED, obj, result, problem, course, ref, *tail)

    def subsection_graded(self, sid, ts, obj, maximum, raw, scaled, success, *tail) -> dict:
        score = {"min": 0.0, "max": maximum, "raw": raw, "scaled": scaled}
        result = {"score": score, "success": success}
        return self._in_course(sid, ts, EARNED, obj, result, None, *tail)

    def block_completed(self, sid, ts, obj, session, parent, actor) -> dict:
        result = {"completion": True, "extensions": {EXT_PROGRESS: 100.0}}
        return self._in_course(sid, ts, PROGRESSED, obj, result, None, session, parent, actor)

    def course_graded(self, sid, ts, obj, raw, scaled, letter, *tail) -> dict:
        result = {
            "score": {"min": 0.0, "max": 1.0, "raw": raw, "scaled": scaled},
            "extensions": {EXT_GRADE_CLASSIFICATION: letter},
        }
        return self._in_course(sid, ts, EARNED, obj, result, None, *tail)

    def thread_posted(self, sid, ts, obj, thread_type, *tail) -> dict:
        return self._in_course(sid, ts, POSTED, obj, None, {EXT_MODE: thread_type}, *tail)

    def response_posted(self, sid, ts, iri, course, thread_iri, session, actor) -> dict:
        """A response, grouped under the thread it answers."""
        obj, thread = (
            self.activity(iri, DISCUSSION_TYPE),
            self.activity(thread_iri, DISCUSSION_TYPE),
        )
        return self._grouped(sid, ts, POSTED, obj, None, course, thread, None, session, actor)


# Placeholders: q is a JSON string's content, r raw JSON text, n a number written with %r.
_PLACEHOLDER = re.compile(r'"@@([rn])(\d+)@@"|@@q(\d+)@@')
# Statements of a session end alike from here on: session id, course parent, actor.
_TAIL_START = json.dumps(EXT_TRANSFORMER_VERSION)


def _to_template(text: str, first: int) -> tuple[str, int]:
    """Replace the placeholders in ``text`` with ``%`` conversions; they must be in order."""
    text = text.replace("%", "%%")
    parts, cursor, expected = [], 0, first
    for match in _PLACEHOLDER.finditer(text):
        raw_kind, raw_index, quoted_index = match.groups()
        index = int(quoted_index if quoted_index is not None else raw_index)
        if index != expected:
            raise ValueError(f"placeholder {index} found where {expected} was expected")
        parts += [text[cursor : match.start()], "%r" if raw_kind == "n" else "%s"]
        cursor = match.end()
        expected += 1
    parts.append(text[cursor:])
    return "".join(parts), expected


def _compile(shape: Callable[..., dict], holes: str) -> tuple[str, str]:
    """Turn a statement shape into a template and the template of its session tail.

    ``holes`` gives each argument's placeholder kind. The template takes the arguments before
    the session id, then the session's rendered tail as one more ``%s``.
    """
    placeholders = [f"@@{kind}{index}@@" for index, kind in enumerate(holes)]
    text = json.dumps(shape(*placeholders))
    cut = text.index(_TAIL_START)
    head, count = _to_template(text[:cut], 0)
    tail, total = _to_template(text[cut:], count)
    if total != len(holes):
        raise ValueError(f"{shape}: {len(holes) - total} arguments are missing from the JSON")
    return head + "%s", tail


_JSON_BOOL = {True: "true", False: "false"}


class _Session:
    """One visit of a learner to a course, as renderers need it."""

    __slots__ = ("learner", "course", "session", "tail", "short_tail")

    def __init__(self, learner: Learner, course: Course, session: str) -> None:
        self.learner = learner
        self.course = course
        self.session = session  # session id
        # The JSON renderer's pre-rendered ends of statements (with and without course parent).
        self.tail = ""
        self.short_tail = ""


class _DictRenderer:
    """Builds each statement as new dicts (the straightforward way)."""

    def __init__(self, universe: Universe) -> None:
        self.shapes = _Shapes(universe.config)

    def open_session(self, learner: Learner, course: Course, session: str) -> _Session:
        return _Session(learner, course, session)

    def _tail(self, s: _Session) -> tuple[str, dict, dict]:
        return s.session, self.shapes.course_parent(s.course), self.shapes.actor(s.learner.name)

    def enrollment(self, s: _Session, verb: Verb, mode: str, sid: str, ts: str) -> dict:
        obj = self.shapes.course_object(s.course, {EXT_MODE: mode})
        return self.shapes.about_course(verb, sid, ts, obj, s.session, self._tail(s)[2])

    def course_verdict(self, s: _Session, verb: Verb, sid: str, ts: str, first: bool) -> dict:
        # ERB reads an enrollment mode that grade events lack: its extensions stay empty.
        obj = self.shapes.course_object(s.course, {})
        return self.shapes.about_course(verb, sid, ts, obj, s.session, self._tail(s)[2])

    def navigated(self, s: _Session, unit: Unit, ending: str | int, sid: str, ts: str) -> dict:
        obj = self.shapes.navigation_object(unit)
        return self.shapes.navigated(sid, ts, obj, unit.position, ending, *self._tail(s))

    def video_position(
        self, s: _Session, verb: Verb, video: Block, sid: str, ts: str, time: float
    ) -> dict:
        obj = self.shapes.activity(video.iri, VIDEO_TYPE)
        length = video.video_length
        return self.shapes.video_position(verb, sid, ts, obj, time, length, *self._tail(s))

    def video_seeked(
        self, s: _Session, video: Block, sid: str, ts: str, old: float, new: float
    ) -> dict:
        obj = self.shapes.activity(video.iri, VIDEO_TYPE)
        length = video.video_length
        return self.shapes.video_seeked(sid, ts, obj, old, new, length, *self._tail(s))

    def video_completed(self, s: _Session, video: Block, sid: str, ts: str) -> dict:
        obj = self.shapes.activity(video.iri, VIDEO_TYPE)
        length, duration = video.video_length, iso_duration(video.video_length)
        return self.shapes.video_completed(sid, ts, obj, length, duration, length, *self._tail(s))

    def problem_attempted(
        self, s: _Session, problem: Block, sid: str, ts: str, answers: tuple[int, ...]
    ) -> dict:
        obj = self.shapes.browser_check_object(problem)
        return self.shapes.problem_attempted(sid, ts, obj, *self._tail(s))

    def problem_evaluated(
        self,
        s: _Session,
        problem: Block,
        sids: list[str],
        ts: str,
        attempt: int,
        grades: tuple[float, ...],
        answers: tuple[int, ...],
    ) -> list[dict]:
        shapes, tail = self.shapes, self._tail(s)
        texts, responses = _question_texts(problem), [problem.answers[a] for a in answers]
        several = problem.questions > 1
        obj = shapes.question_object(
            problem.iri, texts[0], "other" if several else "choice", attempt
        )
        maximum, raw = float(problem.questions), float(sum(grades))
        statements = [
            shapes.problem_evaluated(
                sids[0], ts, obj, maximum, raw, raw / maximum, grades[0] == 1, responses[0], *tail
            )
        ]
        if several:
            session, course, actor = tail
            for sid, iri, text, grade, response in zip(
                sids[1:], _question_iris(problem), texts, grades, responses, strict=True
            ):
                part = shapes.question_object(iri, text, "choice", attempt)
                statements.append(
                    shapes.question_evaluated(
                        sid, ts, part, grade == 1, response, obj, course, sids[0], session, actor
                    )
                )
        return statements

    def subsection_graded(
        self, s: _Session, subsection: Block, sid: str, ts: str, raw: float, maximum: float
    ) -> dict:
        obj = self.shapes.activity(subsection.iri, RESOURCE_TYPE)
        raw, maximum = float(raw), float(maximum)
        scaled, success = raw / maximum, raw >= maximum
        shape = self.shapes.subsection_graded
        return shape(sid, ts, obj, maximum, raw, scaled, success, *self._tail(s))

    def block_completed(self, s: _Session, block: Block, sid: str, ts: str) -> dict:
        obj = self.shapes.activity(block.iri, RESOURCE_TYPE)
        return self.shapes.block_completed(sid, ts, obj, *self._tail(s))

    def course_graded(self, s: _Session, sid: str, ts: str, percent: float, letter: str) -> dict:
        obj = self.shapes.course_object(s.course)
        percent = float(percent)
        return self.shapes.course_graded(sid, ts, obj, percent, percent, letter, *self._tail(s))

    def thread_posted(
        self, s: _Session, sid: str, ts: str, post_id: str, thread_type: str, title: str
    ) -> dict:
        obj = self.shapes.thread_object(self.shapes.thread_iri(post_id), title)
        return self.shapes.thread_posted(sid, ts, obj, thread_type, *self._tail(s))

    def response_posted(self, s: _Session, sid: str, ts: str, post_id: str, thread: str) -> dict:
        iri, thread_iri = self.shapes.comment_iri(post_id), self.shapes.thread_iri(thread)
        session, course, actor = self._tail(s)
        return self.shapes.response_posted(sid, ts, iri, course, thread_iri, session, actor)


class _JsonRenderer:
    """The fast path: fills ``%`` templates with pre-serialised fragments.

    Methods mirror ``_DictRenderer``'s; each returns ``json.dumps`` of what its twin returns.
    """

    def __init__(self, universe: Universe) -> None:
        sh = self.shapes = _Shapes(universe.config)
        dumps = json.dumps
        courses, blocks = universe.courses, universe.blocks
        self._actor: tuple[int, str] = (-1, "")
        self._parent = [dumps(sh.course_parent(c)) for c in courses]
        self._course = [dumps(sh.course_object(c)) for c in courses]
        self._verdict = [dumps(sh.course_object(c, {})) for c in courses]
        self._enrolled = {
            (c.index, mode): dumps(sh.course_object(c, {EXT_MODE: mode}))
            for c in courses
            for mode, _ in _MODES
        }
        self._video = [dumps(sh.activity(b.iri, VIDEO_TYPE)) for b in blocks]
        self._browser_check = [dumps(sh.browser_check_object(b)) for b in blocks]
        self._resource = [dumps(sh.activity(b.iri, RESOURCE_TYPE)) for b in blocks]
        problems = [b for b in blocks if b.block_type == "problem"]
        self._questions = {b.uid: [dumps(text) for text in _question_texts(b)] for b in problems}
        self._question_iris = {b.uid: _question_iris(b) for b in problems}
        self._answers = {b.uid: [dumps(answer) for answer in b.answers] for b in problems}
        self._duration = [iso_duration(b.video_length) for b in blocks]
        self._navigation = {
            u.block.uid: dumps(sh.navigation_object(u)) for c in courses for u in c.units
        }
        self._thread_prefix = sh.thread_iri("")
        self._comment_prefix = sh.comment_iri("")

        self._tails: set[str] = set()
        self._t_about = {
            verb.id: self._template(partial(sh.about_course, verb), "qqrqr")
            for verb in (REGISTERED, UNREGISTERED, PASSED, FAILED)
        }
        self._t_navigated = self._template(sh.navigated, "qqrnrqrr")
        self._t_position = {
            verb.id: self._template(partial(sh.video_position, verb), "qqrnnqrr")
            for verb in (PLAYED, PAUSED, TERMINATED)
        }
        self._t_seeked = self._template(sh.video_seeked, "qqrnnnqrr")
        self._t_completed = self._template(sh.video_completed, "qqrnqnqrr")
        self._t_attempted = self._template(sh.problem_attempted, "qqrqrr")
        self._t_question, count = _to_template(
            json.dumps(sh.question_object("@@q0@@", "@@r1@@", "@@q2@@", "@@n3@@")), 0
        )
        assert count == 4
        self._t_evaluated = self._template(sh.problem_evaluated, "qqrnnnrrqrr")
        self._t_question_evaluated = self._template(sh.question_evaluated, "qqrrrrrqqr")
        self._t_subsection = self._template(sh.subsection_graded, "qqrnnnrqrr")
        self._t_completion = self._template(sh.block_completed, "qqrqrr")
        self._t_graded = self._template(sh.course_graded, "qqrnnqqrr")
        self._t_thread_object, count = _to_template(
            json.dumps(sh.thread_object("@@q0@@", "@@r1@@")), 0
        )
        assert count == 2
        self._t_thread = self._template(sh.thread_posted, "qqrqqrr")
        self._t_response = self._template(sh.response_posted, "qqqrqqr")
        # Every statement ends with one of two tails: with the course parent, or without.
        [self._short_tail] = [t for t in self._tails if "contextActivities" not in t]
        [self._long_tail] = [t for t in self._tails if "contextActivities" in t]

    def _template(self, shape: Callable[..., dict], holes: str) -> str:
        template, tail = _compile(shape, holes)
        self._tails.add(tail)
        return template

    def open_session(self, learner: Learner, course: Course, session: str) -> _Session:
        index, actor = self._actor
        if index != learner.index:
            actor = json.dumps(self.shapes.actor(learner.name))
            self._actor = (learner.index, actor)
        s = _Session(learner, course, session)
        s.tail = self._long_tail % (session, self._parent[course.index], actor)
        s.short_tail = self._short_tail % (session, actor)
        return s

    def enrollment(self, s: _Session, verb: Verb, mode: str, sid: str, ts: str) -> str:
        obj = self._enrolled[s.course.index, mode]
        return self._t_about[verb.id] % (sid, ts, obj, s.short_tail)

    def course_verdict(self, s: _Session, verb: Verb, sid: str, ts: str, first: bool) -> str:
        return self._t_about[verb.id] % (sid, ts, self._verdict[s.course.index], s.short_tail)

    def navigated(self, s: _Session, unit: Unit, ending: str | int, sid: str, ts: str) -> str:
        end = f'"{ending}"' if ending.__class__ is str else str(ending)
        obj = self._navigation[unit.block.uid]
        return self._t_navigated % (sid, ts, obj, unit.position, end, s.tail)

    def video_position(
        self, s: _Session, verb: Verb, video: Block, sid: str, ts: str, time: float
    ) -> str:
        obj = self._video[video.uid]
        return self._t_position[verb.id] % (sid, ts, obj, time, video.video_length, s.tail)

    def video_seeked(
        self, s: _Session, video: Block, sid: str, ts: str, old: float, new: float
    ) -> str:
        obj = self._video[video.uid]
        return self._t_seeked % (sid, ts, obj, old, new, video.video_length, s.tail)

    def video_completed(self, s: _Session, video: Block, sid: str, ts: str) -> str:
        obj, length = self._video[video.uid], video.video_length
        duration = self._duration[video.uid]
        return self._t_completed % (sid, ts, obj, length, duration, length, s.tail)

    def problem_attempted(
        self, s: _Session, problem: Block, sid: str, ts: str, answers: tuple[int, ...]
    ) -> str:
        return self._t_attempted % (sid, ts, self._browser_check[problem.uid], s.tail)

    def problem_evaluated(
        self,
        s: _Session,
        problem: Block,
        sids: list[str],
        ts: str,
        attempt: int,
        grades: tuple[float, ...],
        answers: tuple[int, ...],
    ) -> list[str]:
        uid = problem.uid
        texts, choices = self._questions[uid], self._answers[uid]
        several = problem.questions > 1
        obj = self._t_question % (problem.iri, texts[0], "other" if several else "choice", attempt)
        maximum, raw = float(problem.questions), float(sum(grades))
        success = _JSON_BOOL[grades[0] == 1]
        values = (sids[0], ts, obj, maximum, raw, raw / maximum, success, choices[answers[0]])
        statements = [self._t_evaluated % (*values, s.tail)]
        if several:
            course, template = self._parent[s.course.index], self._t_question_evaluated
            for sid, iri, text, grade, answer in zip(
                sids[1:], self._question_iris[uid], texts, grades, answers, strict=True
            ):
                part = self._t_question % (iri, text, "choice", attempt)
                success = _JSON_BOOL[grade == 1]
                values = (sid, ts, part, success, choices[answer], obj, course, sids[0])
                statements.append(template % (*values, s.short_tail))
        return statements

    def subsection_graded(
        self, s: _Session, subsection: Block, sid: str, ts: str, raw: float, maximum: float
    ) -> str:
        obj = self._resource[subsection.uid]
        raw, maximum = float(raw), float(maximum)
        scaled, success = raw / maximum, _JSON_BOOL[raw >= maximum]
        return self._t_subsection % (sid, ts, obj, maximum, raw, scaled, success, s.tail)

    def block_completed(self, s: _Session, block: Block, sid: str, ts: str) -> str:
        return self._t_completion % (sid, ts, self._resource[block.uid], s.tail)

    def course_graded(self, s: _Session, sid: str, ts: str, percent: float, letter: str) -> str:
        obj, percent = self._course[s.course.index], float(percent)
        return self._t_graded % (sid, ts, obj, percent, percent, letter, s.tail)

    def thread_posted(
        self, s: _Session, sid: str, ts: str, post_id: str, thread_type: str, title: str
    ) -> str:
        obj = self._t_thread_object % (self._thread_prefix + post_id, json.dumps(title))
        return self._t_thread % (sid, ts, obj, thread_type, s.tail)

    def response_posted(self, s: _Session, sid: str, ts: str, post_id: str, thread: str) -> str:
        iri, thread_iri = self._comment_prefix + post_id, self._thread_prefix + thread
        course = self._parent[s.course.index]
        return self._t_response % (sid, ts, iri, course, thread_iri, s.short_tail)


class _EventRenderer:
    """Writes the LMS's tracking-log events that ERB turns into the other renderers' statements.

    One event per call, as the LMS writes it to tracking.log: browser events (videos,
    navigation, the browser's problem_check) carry their data as JSON text, server events as
    an object. Methods mirror ``_DictRenderer``'s; statement ids are not part of events.
    """

    _AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    _XBLOCK_VIEW = "?show_title=0&show_bookmark_button=0&recheck_access=1&view=student_view"

    def __init__(self, universe: Universe) -> None:
        self.lms_url = universe.config.lms_url
        self.host = self.lms_url.split("://", 1)[1].split("/", 1)[0]
        self.units = {
            c.uid: u for course in universe.courses for u in course.units for c in u.components
        }

    def open_session(self, learner: Learner, course: Course, session: str) -> _Session:
        return _Session(learner, course, session)

    def _event(
        self,
        s: _Session,
        name: str,
        ts: str,
        data: dict | str,
        path: str,
        referer: str,
        module: Block | None = None,
    ) -> dict:
        course, learner = s.course, s.learner
        browser = path == "/event"
        context: dict[str, Any] = {
            "course_id": course.key,
            "course_user_tags": {},
            "user_id": learner.user_id,
            "path": path,
            "org_id": course.org,
            "enterprise_uuid": "",
            "referer": referer,
        }
        if module is not None:
            context["module"] = {"display_name": module.display_name, "usage_key": module.usage_key}
        return {
            "name": name,
            "context": context,
            "username": learner.username,
            "session": s.session,
            "ip": "172.18.0.1",
            "agent": self._AGENT,
            "host": self.host,
            "referer": referer,
            "accept_language": "en-US,en;q=0.5",
            "event": data,
            "time": ts,
            "event_type": name,
            "event_source": "browser" if browser else "server",
            "page": referer if browser else None,
        }

    def _unit_url(self, block: Block) -> str:
        return f"{self.lms_url}/xblock/{self.units[block.uid].block.usage_key}{self._XBLOCK_VIEW}"

    def _handler(self, s: _Session, problem: Block) -> str:
        handler = "handler/xmodule_handler/problem_check"
        return f"/courses/{s.course.key}/xblock/{problem.usage_key}/{handler}"

    def enrollment(self, s: _Session, verb: Verb, mode: str, sid: str, ts: str) -> dict:
        action = "activated" if verb is REGISTERED else "deactivated"
        data = {"course_id": s.course.key, "user_id": s.learner.user_id, "mode": mode}
        referer = f"{self.lms_url}/courses/{s.course.key}/about"
        return self._event(
            s, f"edx.course.enrollment.{action}", ts, data, "/api/enrollment/v1/enrollment", referer
        )

    def _grading(self, s: _Session, name: str, ts: str, data: dict) -> dict:
        # Grades change in the request that scores a problem; its referer is the LMS's page.
        referer = f"{self.lms_url}/courses/{s.course.key}/courseware"
        return self._event(s, name, ts, data, f"/courses/{s.course.key}/progress", referer)

    def course_verdict(self, s: _Session, verb: Verb, sid: str, ts: str, first: bool) -> dict:
        name = "edx.course.grade." + (
            "passed.first_time" if first else "now_passed" if verb is PASSED else "now_failed"
        )
        data = {
            "user_id": str(s.learner.user_id),
            "course_id": s.course.key,
            "event_transaction_id": sid,
            "event_transaction_type": "edx.grades.problem.submitted",
        }
        return self._grading(s, name, ts, data)

    def navigated(self, s: _Session, unit: Unit, ending: str | int, sid: str, ts: str) -> dict:
        data: dict[str, Any] = {
            "current_tab": unit.position,
            "id": unit.block.usage_key,
            "tab_count": unit.tab_count,
            "widget_placement": "top",
        }
        if ending == _NEXT_UNIT:
            name = "edx.ui.lms.sequence.next_selected"
        elif ending == _PREVIOUS_UNIT:
            name = "edx.ui.lms.sequence.previous_selected"
        else:
            name = "edx.ui.lms.sequence.tab_selected"
            data["target_tab"] = ending
        course = s.course.key
        referer = (
            f"{self.lms_url}/learning/course/{course}/{unit.subsection.usage_key}"
            f"/{unit.block.usage_key}"
        )
        return self._event(s, name, ts, json.dumps(data), "/event", referer)

    def _video(self, s: _Session, name: str, video: Block, ts: str, data: dict) -> dict:
        data = {
            "id": video.usage_key.rsplit("@", 1)[1],
            "code": "html5",
            "duration": video.video_length,
            **data,
        }
        return self._event(s, name, ts, json.dumps(data), "/event", self._unit_url(video))

    def video_position(
        self, s: _Session, verb: Verb, video: Block, sid: str, ts: str, time: float
    ) -> dict:
        name = {PLAYED: "play_video", PAUSED: "pause_video", TERMINATED: "stop_video"}[verb]
        return self._video(s, name, video, ts, {"currentTime": time})

    def video_seeked(
        self, s: _Session, video: Block, sid: str, ts: str, old: float, new: float
    ) -> dict:
        data = {"old_time": old, "new_time": new, "type": "onSlideSeek"}
        return self._video(s, "seek_video", video, ts, data)

    def video_completed(self, s: _Session, video: Block, sid: str, ts: str) -> dict:
        return self._video(s, "complete_video", video, ts, {"currentTime": video.video_length})

    def problem_attempted(
        self, s: _Session, problem: Block, sid: str, ts: str, answers: tuple[int, ...]
    ) -> dict:
        # The browser sends the problem form: one choice per question.
        data = "&".join(
            f"input_{question}=choice_{answer}"
            for question, answer in zip(_question_ids(problem), answers, strict=True)
        )
        return self._event(s, "problem_check", ts, data, "/event", self._unit_url(problem))

    def problem_evaluated(
        self,
        s: _Session,
        problem: Block,
        sids: list[str],
        ts: str,
        attempt: int,
        grades: tuple[float, ...],
        answers: tuple[int, ...],
    ) -> list[dict]:
        ids, texts = _question_ids(problem), _question_texts(problem)
        correctness = {1: "correct", 0.5: "partially-correct", 0: "incorrect"}
        data = {
            "state": {
                "seed": 1,
                "student_answers": {},
                "has_saved_answers": False,
                "correct_map": {},
                "input_state": {question: {} for question in ids},
                "done": attempt > 1,
            },
            "problem_id": problem.usage_key,
            "answers": {
                question: f"choice_{answer}" for question, answer in zip(ids, answers, strict=True)
            },
            "grade": sum(grades),
            "max_grade": problem.questions,
            "correct_map": {
                question: {
                    "correctness": correctness[grade],
                    "npoints": None,
                    "msg": "",
                    "hint": "",
                    "hintmode": None,
                    "queuestate": None,
                    "answervariable": None,
                }
                for question, grade in zip(ids, grades, strict=True)
            },
            "success": "correct" if min(grades) == 1 else "incorrect",
            "attempts": attempt,
            "submission": {
                question: {
                    "question": text,
                    "answer": problem.answers[answer],
                    "response_type": "multiplechoiceresponse",
                    "input_type": "choicegroup",
                    "correct": grade == 1,
                    "variant": "",
                    "group_label": "",
                }
                for question, text, answer, grade in zip(ids, texts, answers, grades, strict=True)
            },
        }
        path, referer = self._handler(s, problem), self._unit_url(problem)
        return [self._event(s, "problem_check", ts, data, path, referer, module=problem)]

    def subsection_graded(
        self, s: _Session, subsection: Block, sid: str, ts: str, raw: float, maximum: float
    ) -> dict:
        data = {
            "user_id": str(s.learner.user_id),
            "course_id": s.course.key,
            "block_id": subsection.usage_key,
            "course_version": "",
            "weighted_total_earned": raw,
            "weighted_total_possible": maximum,
            "weighted_graded_earned": raw,
            "weighted_graded_possible": maximum,
            "first_attempted": ts,
            "subtree_edited_timestamp": ts,
            "event_transaction_id": sid,
            "event_transaction_type": "edx.grades.problem.submitted",
            "visible_blocks_hash": "",
        }
        return self._grading(s, "edx.grades.subsection.grade_calculated", ts, data)

    def block_completed(self, s: _Session, block: Block, sid: str, ts: str) -> dict:
        data = {
            "user_id": s.learner.user_id,
            "course_id": s.course.key,
            "context_key": s.course.key,
            "block_id": block.usage_key,
            "block_type": block.block_type,
            "completion": 1.0,
        }
        path = f"/courses/{s.course.key}/xblock/{block.usage_key}/handler/publish_completion"
        referer = self._unit_url(block)
        return self._event(s, "edx.completion.block_completion.changed", ts, data, path, referer)

    def course_graded(self, s: _Session, sid: str, ts: str, percent: float, letter: str) -> dict:
        data = {
            "user_id": str(s.learner.user_id),
            "course_id": s.course.key,
            "course_version": "",
            "course_edited_timestamp": "",
            "event_transaction_id": sid,
            "event_transaction_type": "edx.grades.problem.submitted",
            "percent_grade": percent,
            # edx-platform keeps no letter under the pass cutoff; ERB writes "Fail" then.
            "letter_grade": "" if letter == "Fail" else letter,
            "grading_policy_hash": "",
        }
        return self._grading(s, "edx.grades.course.grade_calculated", ts, data)

    def _forum(self, s: _Session, name: str, ts: str, kind: str, data: dict) -> dict:
        data = {
            **data,
            "truncated": False,
            "url": f"{self.lms_url}/discussions/{s.course.key}/posts/{data['id']}",
            "user_forums_roles": ["Student"],
            "user_course_roles": [],
        }
        referer = f"{self.lms_url}/discussions/{s.course.key}/"
        return self._event(s, name, ts, data, f"/api/discussion/v1/{kind}/", referer)

    def thread_posted(
        self, s: _Session, sid: str, ts: str, post_id: str, thread_type: str, title: str
    ) -> dict:
        data = {
            "commentable_id": "course",
            "group_id": None,
            "thread_type": thread_type,
            "title": title,
            "title_truncated": False,
            "anonymous": False,
            "anonymous_to_peers": False,
            "options": {"followed": True},
            "id": post_id,
            "body": "I have a question about this unit.",
        }
        return self._forum(s, "edx.forum.thread.created", ts, "threads", data)

    def response_posted(self, s: _Session, sid: str, ts: str, post_id: str, thread: str) -> dict:
        data = {
            "discussion": {"id": thread},
            "commentable_id": "course",
            "options": {"followed": False},
            "id": post_id,
            "body": "Here is what I found.",
        }
        return self._forum(s, "edx.forum.response.created", ts, "comments", data)


_Renderer = _DictRenderer | _JsonRenderer | _EventRenderer

# ---------------------------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------------------------

# The date part of timestamps, per day since the epoch: formatting dates is the slow part.
_DAY_PREFIX: dict[int, str] = {}


def _format_timestamp(micros: int) -> str:
    """``2024-01-03T14:22:05.123456+00:00`` from microseconds since the epoch (fast)."""
    day, rest = divmod(micros, DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat() + "T"
    seconds, micro = divmod(rest, SECOND)
    minutes, second = divmod(seconds, 60)
    if micro:
        return f"{prefix}{minutes // 60:02}:{minutes % 60:02}:{second:02}.{micro:06}+00:00"
    # datetime.isoformat, which the LMS and tincan both use, leaves out zero microseconds.
    return f"{prefix}{minutes // 60:02}:{minutes % 60:02}:{second:02}+00:00"


class _SessionOver(Exception):
    """The session ran into the next enrollment change or the end of the date range."""


class _CourseState:
    """What a learner has done in one course so far."""

    def __init__(self, enrollment: Enrollment, course: Course) -> None:
        self.enrollment = enrollment
        self.course = course
        self.active = True
        self.position = 0  # index in course.units of the unit the learner is on
        self.finished = False
        self.completed: set[int] = set()
        self.video_position: dict[int, float] = {}
        self.attempts: dict[int, int] = {}
        self.earned: dict[int, float] = {}
        self.subsection_earned: dict[int, float] = {}
        self.earned_total = 0.0
        self.passing = False
        self.passed_before = False


# Hours of the day learners study at (UTC), weighted towards evenings.
_HOURS = tuple(range(24))
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 9, 10, 10, 8, 5, 3)
_LETTER = {True: "Pass", False: "Fail"}
_NEXT_UNIT = "next unit"
_PREVIOUS_UNIT = "previous unit"


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _LearnerSimulation:
    """Plays one learner's weeks and renders their statements, in time order."""

    def __init__(self, universe: Universe, learner: Learner, renderer: _Renderer, id_salt: int):
        config = universe.config
        self.universe = universe
        self.config = config
        self.learner = learner
        self.renderer = renderer
        self.rng = random.Random(f"{config.seed}:activity:{learner.index}")
        self.out: list = []
        self.clock = 0
        self.deadline = 0
        self.start_us = _to_micros(config.start)
        self.end_us = self.start_us + config.weeks * WEEK
        self.counter = 0
        self.id_salt = id_salt
        self.id_prefix = self._id_prefix(learner.index, id_salt)
        self.states = [
            _CourseState(e, universe.courses[e.course_index])
            for e in universe.enrollments_by_learner[learner.index]
        ]

    # Identifiers and time.

    def _id_prefix(self, index: int, salt: int) -> str:
        # An odd multiplier makes this a bijection on 64 bits: prefixes never repeat.
        h = f"{((index + 1) * 0xD6E8FEB86659FD93 + salt) & _MASK64:016x}"
        variant = "89ab"[self.rng.getrandbits(2)]
        return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{variant}{h[15]}{self.rng.getrandbits(8):02x}-"

    def _next_id(self) -> str:
        self.counter += 1
        tail = (self.counter * 0x9E3779B97F4A7C15 + self.id_salt) & _MASK48
        return f"{self.id_prefix}{tail:012x}"

    def _tick(self, seconds: float) -> str:
        """Advance the clock and return its timestamp, or end the session at its deadline."""
        clock = self.clock + int(seconds * SECOND) + 1
        if clock >= self.deadline:
            raise _SessionOver
        self.clock = clock
        return _format_timestamp(clock)

    # Planning.

    def run(self) -> list:
        plan = self._plan()
        milestones = sorted(moment for moment, order, _ in plan if order < 2)
        done = 0
        for moment, order, index in plan:
            state = self.states[index]
            if order < 2:
                self._milestone(state, moment, order)
                done += 1
                continue
            if not state.active:
                continue
            deadline = milestones[done] if done < len(milestones) else self.end_us
            start = max(moment, self.clock + SECOND + int(self.rng.random() * 30 * SECOND))
            if start < deadline - MINUTE:
                self._session(state, start, min(deadline, self.end_us))
        return self.out

    def _plan(self) -> list[tuple[int, int, int]]:
        """(time, order, state index): enrollments (0), unenrollments (1), sessions (2)."""
        rng, learner, config = self.rng, self.learner, self.config
        plan = []
        for index, state in enumerate(self.states):
            enrollment = state.enrollment
            enrolled = _to_micros(enrollment.enrolled_at)
            if enrollment.registration_sent:
                plan.append((enrolled, 0, index))
            until = self.end_us
            if enrollment.unenrolled_at is not None:
                until = _to_micros(enrollment.unenrolled_at)
                plan.append((until, 1, index))
            if rng.random() < 0.4 + 0.5 * learner.engagement:
                # Many learners look at the course right after enrolling.
                plan.append((enrolled + 30 * SECOND + int(rng.random() * 10 * MINUTE), 2, index))
            first_week = (enrolled - self.start_us) // WEEK
            weekly = 0.3 + 0.65 * learner.engagement
            decay = 0.7 + 0.25 * learner.engagement
            for week in range(first_week, config.weeks):
                age = week - first_week
                if enrollment.active_weeks is not None and age >= enrollment.active_weeks:
                    break
                if rng.random() >= weekly * decay**age:
                    continue
                mean = (config.sessions_per_week - 1) * (0.5 + learner.engagement)
                for _ in range(1 + _poisson(rng, mean)):
                    [hour] = rng.choices(_HOURS, _HOUR_WEIGHTS)
                    moment = (
                        self.start_us
                        + week * WEEK
                        + rng.randrange(7) * DAY
                        + hour * HOUR
                        + int(rng.random() * HOUR)
                    )
                    if enrolled + MINUTE <= moment < until - MINUTE:
                        plan.append((moment, 2, index))
        plan.sort()
        return plan

    def _milestone(self, state: _CourseState, moment: int, order: int) -> None:
        self.clock = max(self.clock, moment)
        session_id = _hex32(self.rng)
        s = self.renderer.open_session(self.learner, state.course, session_id)
        verb = REGISTERED if order == 0 else UNREGISTERED
        stamp = _format_timestamp(moment)
        self.out.append(
            self.renderer.enrollment(s, verb, state.enrollment.mode, self._next_id(), stamp)
        )
        if order == 1:
            state.active = False

    # Sessions.

    def _session(self, state: _CourseState, start: int, deadline: int) -> None:
        self.clock = start
        self.deadline = deadline
        s = self.renderer.open_session(self.learner, state.course, _hex32(self.rng))
        try:
            if state.finished:
                self._review(s, state)
            else:
                self._study(s, state)
            if self.rng.random() < self.learner.forum_propensity:
                self._post(s, state)
        except _SessionOver:
            pass

    def _study(self, s: _Session, state: _CourseState) -> None:
        units = state.course.units
        visits = 1 + int(self.rng.random() * (1 + 5 * self.learner.engagement))
        for visit in range(visits):
            unit = units[state.position]
            if visit or self._unit_done(state, unit):
                if not self._navigate(s, state):
                    return
                unit = units[state.position]
            # Going back to a unit already done is a review.
            self._visit(s, state, unit, review=self._unit_done(state, unit))

    def _review(self, s: _Session, state: _CourseState) -> None:
        """Learners past the last unit go back to what they skipped, or anywhere to review."""
        rng, units = self.rng, state.course.units
        for _ in range(1 + rng.randrange(2)):
            skipped = [unit for unit in units if not self._unit_done(state, unit)]
            unit = rng.choice(skipped) if skipped and rng.random() < 0.7 else rng.choice(units)
            self._visit(s, state, unit, review=True)

    @staticmethod
    def _unit_done(state: _CourseState, unit: Unit) -> bool:
        return all(c.uid in state.completed for c in unit.components)

    def _navigate(self, s: _Session, state: _CourseState) -> bool:
        """Move to another unit; False when the learner is past the last one."""
        rng = self.rng
        units = state.course.units
        position = state.position
        unit = units[position]
        draw = rng.random()
        if draw < 0.07 and position > 0:
            target, ending = position - 1, _PREVIOUS_UNIT
        elif draw < 0.15 and unit.tab_count > 1:
            tab = rng.randrange(1, unit.tab_count)
            tab += tab >= unit.position  # any tab but the current one
            target, ending = position - unit.position + tab, tab
        elif position + 1 < len(units):
            target, ending = position + 1, _NEXT_UNIT
        else:
            state.finished = True
            return False
        stamp = self._tick(1 + 4 * rng.random())
        self.out.append(self.renderer.navigated(s, unit, ending, self._next_id(), stamp))
        state.position = target
        return True

    def _visit(self, s: _Session, state: _CourseState, unit: Unit, review: bool = False) -> None:
        """Go through a unit: learners skip some of it, unless back for what they skipped."""
        rng, engagement = self.rng, self.learner.engagement
        for component in unit.components:
            kind = component.block_type
            catching_up = review and component.uid not in state.completed
            if kind == "html":
                self._read(s, state, component)
            elif kind == "video":
                if catching_up or rng.random() < 0.5 + 0.5 * engagement:
                    self._watch(s, state, component)
            elif catching_up or rng.random() < 0.6 + 0.4 * engagement:
                self._solve(s, state, component, again=review and rng.random() < 0.5)

    def _complete(self, s: _Session, state: _CourseState, block: Block, stamp: str) -> None:
        state.completed.add(block.uid)
        self.out.append(self.renderer.block_completed(s, block, self._next_id(), stamp))

    def _read(self, s: _Session, state: _CourseState, block: Block) -> None:
        stamp = self._tick(5 + 15 * self.rng.random())
        if block.uid not in state.completed:
            self._complete(s, state, block, stamp)
        self._tick(20 + 160 * self.rng.random())  # reading time

    def _watch(self, s: _Session, state: _CourseState, video: Block) -> None:
        """Watch in segments: played then paused, or completed then terminated at the end."""
        rng, r, out = self.rng, self.renderer, self.out
        length = video.video_length
        position = state.video_position.get(video.uid, 0.0)
        if position >= length - 1:
            position = 0.0
        if rng.random() < 0.25 + 0.6 * self.learner.engagement:
            goal = length
        else:
            goal = min(length, round(position + length * (0.15 + 0.6 * rng.random()), 3))
        start_stamp = self._tick(2 + 4 * rng.random())
        while True:
            watched = min(goal - position, 20 + 220 * rng.random())
            end = length if goal == length and watched == goal - position else position + watched
            end = round(end, 3)
            end_stamp = self._tick(watched)
            if end >= length:
                # Both end-of-video statements or neither: the session may end in between.
                stop_stamp = self._tick(0.05 + 0.25 * rng.random())
                out.append(
                    r.video_position(s, PLAYED, video, self._next_id(), start_stamp, position)
                )
                out.append(r.video_completed(s, video, self._next_id(), end_stamp))
                out.append(
                    r.video_position(s, TERMINATED, video, self._next_id(), stop_stamp, length)
                )
                state.video_position[video.uid] = length
                if video.uid not in state.completed:
                    self._complete(s, state, video, self._tick(0.1 + 0.4 * rng.random()))
                return
            out.append(r.video_position(s, PLAYED, video, self._next_id(), start_stamp, position))
            out.append(r.video_position(s, PAUSED, video, self._next_id(), end_stamp, end))
            position = state.video_position[video.uid] = end
            if position >= goal:
                return
            if rng.random() < 0.3:
                target = position + (-60 + 150 * rng.random())
                target = round(min(max(target, 0.0), length - 1), 3)
                stamp = self._tick(1 + 2 * rng.random())
                out.append(r.video_seeked(s, video, self._next_id(), stamp, position, target))
                position = state.video_position[video.uid] = target
                goal = max(goal, min(length, round(position + 30, 3)))
            start_stamp = self._tick(2 + 15 * rng.random())

    def _grade(self, problem: Block, attempt: int) -> tuple[float, ...]:
        """Each question's points: 1 when right, 0.5 for half credit, 0 when wrong."""
        chance = self.learner.skill * (1 - problem.difficulty) + 0.12 * (attempt - 1)
        grades = []
        for _ in range(problem.questions):
            draw = self.rng.random()
            if draw < chance:
                grades.append(1)
            elif problem.partial_credit and draw < chance + (1 - chance) * 0.5:
                grades.append(0.5)
            else:
                grades.append(0)
        return tuple(grades)

    def _solve(self, s: _Session, state: _CourseState, problem: Block, again: bool = False) -> None:
        """Submit answers until right, out of attempts or discouraged.

        ``again``: a learner reviewing the course may answer a solved problem once more.
        """
        rng, uid = self.rng, problem.uid
        attempts = state.attempts.get(uid, 0)
        solved = state.earned.get(uid) == problem.weight
        if attempts >= MAX_ATTEMPTS or (solved and not again):
            return
        retry = 0.5 + 0.4 * self.learner.engagement
        while True:
            attempts += 1
            grades = self._grade(problem, attempts)
            self._submit(s, state, problem, attempts, grades)
            if min(grades) == 1 or attempts >= MAX_ATTEMPTS or rng.random() > retry:
                return

    def _submit(
        self, s: _Session, state: _CourseState, problem: Block, attempt: int, grades: tuple
    ) -> None:
        """One submission and the grading it triggers; stamps first so it is all or nothing."""
        rng, uid = self.rng, problem.uid
        browser = self._tick(20 + 160 * rng.random())
        server = self._tick(0.2 + 0.6 * rng.random())
        completion = self._tick(0.1 + 0.4 * rng.random()) if uid not in state.completed else None
        graded_at = self._tick(1 + 3 * rng.random())
        course_graded = self._tick(0.05 + 0.3 * rng.random())
        verdict = self._tick(0.01 + 0.2 * rng.random())

        r, out, next_id = self.renderer, self.out, self._next_id
        options = len(problem.answers)
        answers = []
        for number, grade in enumerate(grades):
            # Question n's right answer is n places after the problem's.
            answer = (problem.correct_answer + number) % options
            if grade != 1:
                answer = (answer + 1 + rng.randrange(options - 1)) % options
            answers.append(answer)
        earned = problem.weight * sum(grades) / problem.questions
        out.append(r.problem_attempted(s, problem, next_id(), browser, tuple(answers)))
        # A problem with several questions is one statement for it, then one per question.
        sids = [next_id() for _ in range(problem.questions + (problem.questions > 1))]
        out.extend(r.problem_evaluated(s, problem, sids, server, attempt, grades, tuple(answers)))
        state.attempts[uid] = attempt
        if completion is not None:
            self._complete(s, state, problem, completion)

        # The last attempt's score counts, so a retry can lower the grade.
        change = earned - state.earned.get(uid, 0.0)
        state.earned[uid] = earned
        state.earned_total += change
        subsection = self.universe.blocks[problem.subsection_uid]
        points = state.subsection_earned.get(subsection.uid, 0.0) + change
        state.subsection_earned[subsection.uid] = points
        possible = subsection.weight
        out.append(r.subsection_graded(s, subsection, next_id(), graded_at, points, possible))
        percent = round(state.earned_total / state.course.points_possible, 2)
        passing = percent >= self.config.pass_cutoff
        out.append(r.course_graded(s, next_id(), course_graded, percent, _LETTER[passing]))
        if passing != state.passing:
            verb, first = (PASSED, not state.passed_before) if passing else (FAILED, False)
            out.append(r.course_verdict(s, verb, next_id(), verdict, first))
            state.passed_before |= passing
        state.passing = passing

    def _post(self, s: _Session, state: _CourseState) -> None:
        rng = self.rng
        stamp = self._tick(60 + 540 * rng.random())
        # Forum ids are MongoDB ObjectIds: creation time in seconds, then random bytes.
        post_id = f"{self.clock // SECOND:08x}{rng.getrandbits(64):016x}"
        if rng.random() < 0.5:
            thread_type = "question" if rng.random() < 0.3 else "discussion"
            title = f"About {state.course.units[state.position].block.display_name}"
            self.out.append(
                self.renderer.thread_posted(s, self._next_id(), stamp, post_id, thread_type, title)
            )
        else:
            # The thread answered was started up to a week earlier.
            started = self.clock // SECOND - rng.randrange(WEEK // SECOND)
            thread = f"{started:08x}{rng.getrandbits(64):016x}"
            self.out.append(
                self.renderer.response_posted(s, self._next_id(), stamp, post_id, thread)
            )


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def _learner_batches(config: Config, renderer_class: type[_Renderer]) -> Iterator[list]:
    """Each learner's statements in time order, learner after learner, capped at ``statements``."""
    universe = build_universe(config)
    renderer = renderer_class(universe)
    id_salt = random.Random(f"{config.seed}:ids").getrandbits(64)
    remaining = config.statements
    for learner in universe.learners:
        if remaining == 0:
            return
        batch = _LearnerSimulation(universe, learner, renderer, id_salt).run()
        if remaining is not None:
            if len(batch) >= remaining:
                batch = batch[:remaining]
            remaining -= len(batch)
        if batch:
            yield batch


def iter_statements(config: Config) -> Iterator[dict]:
    """Statements as dicts: convenient, slower than ``iter_statement_json``."""
    for batch in _learner_batches(config, _DictRenderer):
        yield from batch


def iter_statement_json(config: Config) -> Iterator[str]:
    """Statements as JSON text, each equal to ``json.dumps`` of the matching dict."""
    for batch in _learner_batches(config, _JsonRenderer):
        yield from batch


def iter_tracking_log(config: Config) -> Iterator[dict]:
    """The LMS tracking-log events ERB transforms into ``iter_statements(config)``.

    The cap (``statements``) counts events here. ERB looks learners up by ``Learner.user_id``
    and ``Learner.username``, finds their anonymous id (``Learner.name``), and reads each
    course's display name (``Course.display_name``) from ``build_universe(config)``.
    """
    for batch in _learner_batches(config, _EventRenderer):
        yield from batch


def write_jsonl(config: Config, stream: TextIO) -> int:
    """Write the statements as JSON lines to ``stream``; return how many were written."""
    count = 0
    for batch in _learner_batches(config, _JsonRenderer):
        stream.write("\n".join(batch))
        stream.write("\n")
        count += len(batch)
    return count


_PILOT_LEARNERS = 100


def sized_config(statements: int, **settings: Any) -> Config:
    """A config with enough learners for ``statements`` statements, capped at that number.

    The first learners do not depend on the total, so a pilot run of the first ones measures
    statements per learner; a 25% margin keeps the cap the binding limit.
    """
    base = Config(**settings)
    pilot = replace(base, learners=_PILOT_LEARNERS, statements=None)
    pilot_statements = sum(len(batch) for batch in _learner_batches(pilot, _JsonRenderer))
    per_learner = max(1.0, pilot_statements / _PILOT_LEARNERS)
    learners = math.ceil(statements * 1.25 / per_learner) + 10
    return replace(base, learners=learners, statements=statements)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write Open edX xAPI test statements as JSON lines."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--statements", type=int, help="how many statements (sizes the learners)")
    parser.add_argument("--learners", type=int, help="how many learners (default 200)")
    parser.add_argument("--orgs", type=int, default=2)
    parser.add_argument("--courses-per-org", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--start", default="2024-01-01", help="first day (UTC), YYYY-MM-DD")
    parser.add_argument("--lms-url", default="http://localhost:18000")
    parser.add_argument("--output", default="-", help="file to write, - for standard output")
    args = parser.parse_args(argv)
    settings: dict[str, Any] = {
        "seed": args.seed,
        "orgs": args.orgs,
        "courses_per_org": args.courses_per_org,
        "weeks": args.weeks,
        "start": datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc),
        "lms_url": args.lms_url,
    }
    if args.learners is not None:
        settings["learners"] = args.learners
    if args.statements is not None and args.learners is None:
        config = sized_config(args.statements, **settings)
    else:
        config = Config(statements=args.statements, **settings)
    if args.output == "-":
        count = write_jsonl(config, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as stream:
            count = write_jsonl(config, stream)
    print(f"{count} statements", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
