"""The harness's event-routing-backends: a tracking log replayed through ERB's own command."""

from pathlib import Path

from tests.harness.erb import EventRoutingBackends, Person, capturing_lrs

LMS = "http://lms.example.org"
COURSE = "course-v1:PhysicsX+PHY101+2026"
PROBLEM = "block-v1:PhysicsX+PHY101+2026+type@problem+block@p1"


def problem_check(answers: dict[str, tuple[str, bool]]) -> dict:
    """A server problem_check event of the LMS: one submission of a problem's questions."""
    return {
        "name": "problem_check",
        "event_type": "problem_check",
        "event_source": "server",
        "time": "2026-03-02T10:00:00.000000+00:00",
        "username": "ada",
        "session": "f" * 32,
        "referer": f"{LMS}/xblock/{PROBLEM}",
        "context": {
            "course_id": COURSE,
            "org_id": "PhysicsX",
            "user_id": 7,
            "referer": f"{LMS}/xblock/{PROBLEM}",
            "module": {"display_name": "Forces", "usage_key": PROBLEM},
        },
        "event": {
            "problem_id": PROBLEM,
            "attempts": 1,
            "grade": sum(correct for _, correct in answers.values()),
            "max_grade": len(answers),
            "success": "correct" if all(c for _, c in answers.values()) else "incorrect",
            "answers": {key: answer for key, (answer, _) in answers.items()},
            "correct_map": {
                key: {"correctness": "correct" if correct else "incorrect"}
                for key, (_, correct) in answers.items()
            },
            "submission": {
                key: {
                    "question": f"Question {key}",
                    "answer": answer,
                    "response_type": "multiplechoiceresponse",
                    "input_type": "choicegroup",
                    "correct": correct,
                    "variant": "",
                    "group_label": "",
                }
                for key, (answer, correct) in answers.items()
            },
        },
    }


def test_a_multi_question_submission_becomes_a_parent_and_one_statement_per_question(
    tmp_path: Path,
) -> None:
    with capturing_lrs() as lrs:
        erb = EventRoutingBackends(tmp_path, lrs.url, LMS)
        output = erb.transform(
            [problem_check({"p1_2_1": ("north", True), "p1_3_1": ("down", False)})],
            [Person(7, "ada", "a0a0a0a0-0000-4000-8000-000000000007")],
            {COURSE: "Physics"},
        )
    assert "Queued 1 log lines" in output
    parent, *children = lrs.statements
    assert parent["object"]["id"] == f"{LMS}/xblock/{PROBLEM}"
    # ERB builds a GroupActivity; its LRS client (tincan) sends it as a plain Activity.
    assert parent["object"]["objectType"] == "Activity"
    assert parent["object"]["definition"]["interactionType"] == "other"
    assert parent["result"]["score"] == {"scaled": 0.5, "raw": 1.0, "min": 0.0, "max": 2.0}
    assert parent["actor"]["account"] == {
        "name": "a0a0a0a0-0000-4000-8000-000000000007",
        "homePage": LMS,
    }
    assert parent["context"]["contextActivities"]["parent"][0]["definition"]["name"] == {
        "en-US": "Physics"
    }
    assert (
        parent["context"]["extensions"][
            "https://w3id.org/xapi/openedx/extension/transformer-version"
        ]
        == "event-routing-backends@10.1.0"
    )
    assert [(c["object"]["id"].rsplit("@", 1)[1], c["result"]) for c in children] == [
        ("p1_2_1", {"success": True, "response": "north"}),
        ("p1_3_1", {"success": False, "response": "down"}),
    ]
    for child in children:
        assert child["context"]["statement"] == {"objectType": "StatementRef", "id": parent["id"]}
