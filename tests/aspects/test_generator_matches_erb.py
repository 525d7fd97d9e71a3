"""
The generator's statements against event-routing-backends' own, for one simulation.

The generator writes the LMS tracking log of a small universe (``iter_tracking_log``: every
kind of statement, multi-question problems included), ERB 10.1.0 replays it into an LRS that
keeps what it receives (tests/harness/erb.py), and each statement ERB sent is set beside the one
the generator made for the same event: same shape (every JSON path with its value's type) and
same values, statement ids aside (ERB's are UUID5 of actor, time and verb).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from tests.harness.erb import EventRoutingBackends, Person, capturing_lrs
from tutoraspects.job import xapi_generator as xg

# Small, yet every kind of statement: passing, failing again and both forum posts included.
CONFIG = xg.Config(
    seed=23, learners=12, orgs=1, courses_per_org=2, weeks=6, lms_url="http://lms.example.org"
)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    universe = xg.build_universe(CONFIG)
    events = list(xg.iter_tracking_log(CONFIG))
    people = [Person(p.user_id, p.username, p.name) for p in universe.learners]
    courses = {course.key: course.display_name for course in universe.courses}
    with capturing_lrs() as lrs:
        erb = EventRoutingBackends(tmp_path_factory.mktemp("lms"), lrs.url, CONFIG.lms_url)
        output = erb.transform(events, people, courses)
        sent = list(lrs.statements)
    assert f"Queued {len(events)} log lines" in output
    assert "skipped 0 log lines" in output
    return {"events": events, "generated": list(xg.iter_statements(CONFIG)), "sent": sent}


def shape(value: Any, path: str = "") -> set[tuple[str, str]]:
    """Every JSON path to a leaf with the leaf's type; list items all share the path ``[]``."""
    if isinstance(value, dict):
        found = {(path, "object")} if not value else set()
        for key, child in value.items():
            found |= shape(child, f"{path}/{key}")
        return found
    if isinstance(value, list):
        return set().union({(path, "array")}, *(shape(item, f"{path}[]") for item in value))
    return {(path, type(value).__name__)}


def without_ids(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement less its id and the id of the statement it refers to."""
    statement = copy.deepcopy(statement)
    del statement["id"]
    statement["context"].get("statement", {}).pop("id", None)
    return statement


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in ours.keys() | theirs.keys():
            if key not in theirs or key not in ours:
                found.append(f"{path}/{key} only in {'ours' if key in ours else 'ERB'}'s")
            else:
                found += differences(ours[key], theirs[key], f"{path}/{key}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for a, b in zip(ours, theirs, strict=True) for d in differences(a, b, path)]
    return [] if ours == theirs else [f"{path}: ours {ours!r}, ERB {theirs!r}"]


def test_erb_sends_one_statement_for_each_generated_one(replay: dict) -> None:
    generated, sent = replay["generated"], replay["sent"]
    kinds = Counter(xg.classify(statement) for statement in generated)
    assert set(kinds) == set(xg.KINDS), kinds
    assert len(sent) == len(generated) > len(replay["events"]) > 1000
    # A multi-question submission is one event and 1 + N statements.
    assert kinds["problem_question_check"] > 100


def test_statements_have_the_shape_erb_sends(replay: dict) -> None:
    mismatches = Counter()
    for ours, theirs in zip(replay["generated"], replay["sent"], strict=True):
        ours_shape, theirs_shape = shape(ours), shape(theirs)
        if ours_shape != theirs_shape:
            only_ours = tuple(sorted(ours_shape - theirs_shape))
            only_theirs = tuple(sorted(theirs_shape - ours_shape))
            mismatches[xg.classify(ours), only_ours, only_theirs] += 1
    assert not mismatches, "\n".join(
        f"{count} x {kind}: only ours {ours}, only ERB's {theirs}"
        for (kind, ours, theirs), count in mismatches.items()
    )


def test_statements_have_the_values_erb_sends(replay: dict) -> None:
    mismatches = Counter()
    for ours, theirs in zip(replay["generated"], replay["sent"], strict=True):
        for difference in differences(without_ids(ours), without_ids(theirs)):
            mismatches[xg.classify(ours), difference] += 1
    assert not mismatches, "\n".join(
        f"{count} x {kind}: {difference}"
        for (kind, difference), count in list(mismatches.items())[:40]
    )


def test_question_statements_refer_to_their_problem_statement(replay: dict) -> None:
    def references(statements: list[dict]) -> list[int]:
        position = {statement["id"]: index for index, statement in enumerate(statements)}
        return [
            index - position[statement["context"]["statement"]["id"]]
            for index, statement in enumerate(statements)
            if "statement" in statement["context"]
        ]

    ours = references(replay["generated"])
    assert ours == references(replay["sent"])
    assert set(ours) == {1, 2, 3}  # two or three questions, right after the problem's statement


def test_the_comparison_sees_a_shape_erb_does_not_send(replay: dict) -> None:
    scored = next(s for s in replay["generated"] if "score" in s.get("result", {}))
    integer_minimum = copy.deepcopy(scored)
    integer_minimum["result"]["score"]["min"] = 0  # tincan sends every score as a float
    extra_key = copy.deepcopy(scored)
    extra_key["result"]["completion"] = True
    for changed in (integer_minimum, extra_key):
        assert shape(changed) != shape(scored)


def test_the_tracking_log_is_shaped_like_the_lms(replay: dict) -> None:
    keys = {"name", "event_type", "event_source", "time", "username", "session", "referer"}
    learners = {p.username: p.user_id for p in xg.build_universe(CONFIG).learners}
    sources = Counter()
    for event in replay["events"]:
        assert keys <= set(event), event
        context = event["context"]
        assert {"course_id", "org_id", "user_id", "path", "referer"} <= set(context)
        assert context["user_id"] == learners[event["username"]]
        assert event["event_type"] == event["name"]
        sources[event["name"], event["event_source"]] += 1
        if event["event_source"] == "browser":
            # Browser events reach the log through the /event endpoint, their data as text.
            assert context["path"] == "/event" and isinstance(event["event"], str)
        else:
            assert isinstance(event["event"], dict)
    assert sources["problem_check", "browser"] == sources["problem_check", "server"] > 100
    modules = [e["context"]["module"] for e in replay["events"] if "module" in e["context"]]
    assert modules and all(m["usage_key"].startswith("block-v1:") for m in modules)


def test_tracking_log_is_written_in_the_statements_order() -> None:
    config = xg.Config(seed=3, learners=3)
    events = list(xg.iter_tracking_log(config))
    times = [event["time"] for event in events]
    statements = [
        s for s in xg.iter_statements(config) if xg.classify(s) != "problem_question_check"
    ]
    assert times == [statement["timestamp"] for statement in statements]
