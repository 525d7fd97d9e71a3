"""
Every statement delivered twice: the LMS retries a batch whose answer it never got, or an
operator loads the same statements again. Nothing may be counted twice, whichever way the
second copy arrives: through Ralph (which knows the ids) or straight into the raw table
(which keeps both rows until its parts merge).
"""

from __future__ import annotations

from tests.reliability.conftest import Stack, generated, model_figures

STATEMENTS = 400
SEED = 101


def test_replaying_every_statement_changes_no_figure(stack: Stack) -> None:
    ids = [statement["id"] for statement in generated(STATEMENTS, SEED)]
    options = ("--statements", str(STATEMENTS), "--seed", str(SEED), "--batch-size", "50")
    assert f"Loaded {STATEMENTS} test statements." in stack.tutor("load-xapi-test-data", *options)
    assert "Completed successfully" in stack.tutor("dbt", "run")
    once = model_figures(stack.admin())
    assert once["ingestion_hourly"] and once["xapi_events_parsed"]

    # Again through Ralph: every batch is a replay, answered 204, nothing written.
    stack.tutor("load-xapi-test-data", *options)
    assert stack.count(ids, final=False) == STATEMENTS
    # Again straight into the raw table: a second row per statement until a background merge
    # (which may already have run) keeps one; reading with FINAL never sees the second.
    stack.tutor("load-xapi-test-data", *options, "--direct")
    assert STATEMENTS <= stack.count(ids, final=False) <= 2 * STATEMENTS
    assert stack.count(ids, final=True) == STATEMENTS
    assert sorted(stack.stored_ids(ids)) == sorted(ids)

    assert "Completed successfully" in stack.tutor("dbt", "run")
    twice = model_figures(stack.admin())
    assert twice.keys() == once.keys()
    for model in once:
        assert twice[model] == once[model], model
