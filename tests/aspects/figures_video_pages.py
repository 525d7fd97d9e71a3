"""
Ground truth of the video, pages and section figures, computed from the statements' facts
(tests/aspects/test_dbt_models.py's Fact) and the course structure, never from the SQL.

- A watched segment is a played statement followed, for the same learner and video, by a
  paused or completed one at a later video time.
- A video is cut into ten equal parts; a segment watches the parts it overlaps by more than an
  instant. A learner's view is full when they completed the video or watched every part.
- A page visit is a navigation statement: it names the unit the learner leaves.
"""

from __future__ import annotations

import typing as t
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

if t.TYPE_CHECKING:
    from tests.aspects.test_dbt_models import Fact

Row = dict[str, t.Any]
PARTS = 10
SUBSECTION = ("section_name", "subsection_name")
PART_FIGURES = ("Learners who watched it", "Times watched", "Learners who watched it again")


def _by(facts: Iterable[Fact], key: Callable[[Fact], t.Any]) -> dict[t.Any, list[Fact]]:
    groups: dict[t.Any, list[Fact]] = defaultdict(list)
    for fact in sorted(facts, key=lambda f: f.time):
        groups[key(fact)].append(fact)
    return groups


def part_views(segments: list[tuple[float, float]], length: float) -> list[int]:
    """How many of the segments overlap each tenth of a video of that length."""
    return [
        sum(
            1
            for start, end in segments
            if end > start and start < (part + 1) * length / PARTS and end > part * length / PARTS
        )
        for part in range(PARTS)
    ]


def expected_video_views(facts: list[Fact]) -> list[Row]:
    video = [f for f in facts if f.verb in ("played", "paused", "completed")]
    video = [f for f in video if f.block_type == "video" and f.actor]
    lengths = {
        key: max(f.video_length or 0.0 for f in group)
        for key, group in _by(video, lambda f: (f.course, f.block)).items()
    }
    rows = []
    for (course, video_id, actor), group in _by(
        video, lambda f: (f.course, f.block, f.actor)
    ).items():
        plays = sum(f.verb == "played" for f in group)
        completed = any(f.verb == "completed" for f in group)
        if not plays and not completed:
            continue
        segments = [
            (start.video_time, end.video_time)
            for start, end in zip(group, group[1:], strict=False)
            if start.verb == "played"
            and end.verb in ("paused", "completed")
            and start.video_time is not None
            and end.video_time is not None
            and end.video_time > start.video_time
        ]
        views = part_views(segments, lengths[course, video_id])
        watched = sum(v > 0 for v in views)
        rows.append(
            {
                "org": course.org,
                "course_key": course.key,
                "video_id": video_id,
                "actor_id": actor,
                "plays": plays,
                "completed": completed,
                "video_length_seconds": lengths[course, video_id],
                "part_views": views,
                "watched_parts": watched,
                "rewatched_parts": sum(v > 1 for v in views),
                "full_view": completed or watched == PARTS,
            }
        )
    return rows


def activity_of(fact: Fact) -> str:
    """page, video or problem: what block_engagement_daily counts the statement as; '' if none."""
    if fact.verb == "navigated" and fact.block_type == "vertical":
        return "page"
    if fact.verb in ("played", "completed") and fact.block_type == "video":
        return "video"
    if fact.verb == "evaluated" and fact.block_type == "problem" and not fact.parent_statement:
        return "problem"
    return ""


def expected_block_engagement(facts: list[Fact]) -> list[Row]:
    counted = [f for f in facts if f.actor and f.block and activity_of(f)]
    groups = _by(counted, lambda f: (f.course, f.time.date(), activity_of(f), f.block, f.actor))
    return [
        {
            "org": course.org,
            "course_key": course.key,
            "activity_date": day,
            "activity": activity,
            "block_id": block,
            "actor_id": actor,
            "statements": len(group),
        }
        for (course, day, activity, block, actor), group in groups.items()
    ]


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _outline(structure: dict[str, list[Row]]) -> dict[str, Row]:
    """Each block's row of course_block_names, with the names of its section and subsection."""
    rows = structure["course_block_names"]
    sections = {
        (row["course_key"], row["section"]): row["block_name"]
        for row in rows
        if row["block_type"] == "chapter"
    }
    subsections = {
        (row["course_key"], row["section"], row["subsection"]): row["block_name"]
        for row in rows
        if row["block_type"] == "sequential"
    }
    return {
        row["block_id"]: {
            **row,
            "section_name": sections.get((row["course_key"], row["section"]), ""),
            "subsection_name": subsections.get(
                (row["course_key"], row["section"], row["subsection"]), ""
            ),
        }
        for row in rows
    }


def expected_chart_figures(facts: list[Fact], structure: dict[str, list[Row]]) -> dict[str, dict]:
    """
    Each chart of the Video, Pages and Sections tabs: its rows by the names they show (the
    chart's group-by values) -> its figures by label, from the facts and the course structure.
    """
    blocks = _outline(structure)
    names = {row["course_key"]: row["course_name"] for row in structure["course_names"]}

    def place(course_key: str, block: str, *levels: str) -> tuple[str, ...]:
        row = blocks.get(block, {})
        return (names.get(course_key, course_key), *(row.get(level, "") for level in levels))

    def video_name(block: str) -> str:
        return blocks[block]["location_label"] if block in blocks else block

    charts: dict[str, dict] = defaultdict(dict)
    views = expected_video_views(facts)
    per_video = _by_key(
        views, lambda v: (*place(v["course_key"], ""), video_name(v["video_id"]), v["video_id"])
    )
    charts["Views per video"] = {
        key: {
            "Viewers": len(group),
            "Full views": sum(v["full_view"] for v in group),
            "Partial views": sum(not v["full_view"] for v in group),
            "Learners who watched again": sum(v["rewatched_parts"] > 0 for v in group),
        }
        for key, group in per_video.items()
    }
    per_subsection = _by_key(views, lambda v: place(v["course_key"], v["video_id"], *SUBSECTION))
    charts["Video views per section and subsection"] = {
        key: {
            "Viewers": len({v["actor_id"] for v in group}),
            "Full views": sum(v["full_view"] for v in group),
            "Partial views": sum(not v["full_view"] for v in group),
        }
        for key, group in per_subsection.items()
    }
    parts: dict[tuple, Row] = {}
    for v in views:
        for part, times in enumerate(v["part_views"]):
            label = f"{part * 100 // PARTS}-{(part + 1) * 100 // PARTS}%"
            key = (*place(v["course_key"], ""), video_name(v["video_id"]), label)
            figures = parts.setdefault(
                key,
                {
                    "Learners who watched it": 0,
                    "Times watched": 0,
                    "Learners who watched it again": 0,
                },
            )
            figures["Learners who watched it"] += times > 0
            figures["Times watched"] += times
            figures["Learners who watched it again"] += times > 1
    charts["Views across each video's length"] = parts

    activity = expected_block_engagement(facts)
    pages = [row for row in activity if row["activity"] == "page"]
    charts["Page visits per section and subsection"] = {
        key: {
            "Learners": len({row["actor_id"] for row in group}),
            "Page visits": sum(row["statements"] for row in group),
        }
        for key, group in _by_key(
            pages,
            lambda row: place(
                row["course_key"], row["block_id"], "section_name", "subsection_name"
            ),
        ).items()
    }
    charts["Page visits per week"] = {
        (week,): {
            "Page visits": sum(row["statements"] for row in group),
            "Learners": len({row["actor_id"] for row in group}),
        }
        for week, group in _by_key(pages, lambda row: monday(row["activity_date"])).items()
    }
    for title, levels in (
        ("Section summary", ("section_name",)),
        ("Subsection summary", SUBSECTION),
    ):
        charts[title] = {
            key: {
                label: len({row["actor_id"] for row in group if row["activity"] == kind})
                for label, kind in (
                    ("Visited pages", "page"),
                    ("Watched videos", "video"),
                    ("Attempted problems", "problem"),
                )
            }
            for key, group in _by_key(
                activity,
                lambda row, levels=levels: place(row["course_key"], row["block_id"], *levels),
            ).items()
        }
    return charts


def _by_key(rows: Iterable[Row], key: Callable[[Row], t.Any]) -> dict[t.Any, list[Row]]:
    groups: dict[t.Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


# What each chart groups by: the names its rows show.
CHART_KEYS = {
    "Views per video": ("course_name", "video_name", "video_id"),
    "Video views per section and subsection": ("course_name", "section_name", "subsection_name"),
    "Views across each video's length": ("course_name", "video_name", "part_label"),
    "Page visits per section and subsection": ("course_name", "section_name", "subsection_name"),
    "Page visits per week": ("activity_date",),
    "Section summary": ("course_name", "section_name"),
    "Subsection summary": ("course_name", "section_name", "subsection_name"),
}


def shown_figures(title: str, rows: list[Row]) -> dict[tuple, Row]:
    """A chart's rows as Superset answers them: group-by values -> figures (whole numbers)."""
    keys = CHART_KEYS[title]
    shown = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if keys == ("activity_date",):  # the week's Monday, in milliseconds
            key = (datetime.fromtimestamp(row["activity_date"] / 1000, UTC).date(),)
        shown[key] = {label: int(value) for label, value in row.items() if label not in keys}
    return shown


def assert_video_and_page_figures(
    facts: list[Fact], structure: dict[str, list[Row]], rows: dict[str, list[Row]]
) -> None:
    """Every figure of the Video, Pages and Sections tabs' charts equals the ground truth."""
    expected = expected_chart_figures(facts, structure)
    for title in CHART_KEYS:
        assert expected[title], f"{title}: the generated statements give it no row"
        assert shown_figures(title, rows[title]) == expected[title], title
    # The data exercise what the charts tell apart.
    views = expected["Views per video"].values()
    assert sum(v["Full views"] for v in views) and sum(v["Partial views"] for v in views)
    assert sum(v["Learners who watched again"] for v in views)


# The tables in outline order (their saved query contexts sort them by the outline position).
OUTLINE_ORDERED = (
    "Views per video",
    "Video views per section and subsection",
    "Views across each video's length",
    "Page visits per section and subsection",
    "Section summary",
    "Subsection summary",
)


def assert_outline_order(saved: dict[str, list[Row]], structure: dict[str, list[Row]]) -> None:
    """
    Each course's rows of the tables, as their saved query contexts order them (what the
    dashboard shows), in the order of the course's outline: its blocks' order in the structure.
    """
    blocks = _outline(structure)
    names = {row["course_key"]: row["course_name"] for row in structure["course_names"]}
    # Where each video, section and subsection first comes in its course's outline.
    first: dict[tuple, int] = {}
    for index, row in enumerate(structure["course_block_names"]):
        block = blocks[row["block_id"]]
        course = names[row["course_key"]]
        for key in (
            (course, block["location_label"]),
            (course, block["section_name"]),
            (course, block["section_name"], block["subsection_name"]),
        ):
            first.setdefault(key, index)

    def order(title: str, row: Row) -> tuple | None:
        """The row's place in its course's outline; None for a video the CMS has not sent."""
        course = row["course_name"]
        if "video_name" in row:
            place = first.get((course, row["video_name"]))
            if place is None or title != "Views across each video's length":
                return place if place is None else (place,)
            return (place, int(row["part_label"].split("-")[0]))
        if "subsection_name" in row:
            return (first[course, row["section_name"], row["subsection_name"]],)
        return (first[course, row["section_name"]],)

    for title in OUTLINE_ORDERED:
        assert saved[title], title
        per_course: dict[str, list[tuple]] = defaultdict(list)
        for row in saved[title]:
            if (place := order(title, row)) is not None:
                per_course[row["course_name"]].append(place)
        for course, keys in per_course.items():
            assert keys == sorted(keys) and len(set(keys)) == len(keys), (title, course)
