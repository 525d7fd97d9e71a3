"""
One invalid statement in a batch: Ralph refuses the whole batch with a 4xx and stores none of
it, while the good batches sent before and after it are stored in full.
"""

from __future__ import annotations

import copy

import pytest

from tests.reliability.conftest import Stack, generated

BATCH = 20


def without(statement: dict, key: str) -> dict:
    broken = copy.deepcopy(statement)
    del broken[key]
    return broken


# What an LMS bug or a corrupted retry could send; each is one statement of a batch of BATCH.
INVALID = {
    "no verb": lambda s: without(s, "verb"),
    "no actor": lambda s: without(s, "actor"),
    "id not a UUID": lambda s: {**s, "id": "not-a-uuid"},
    "timestamp not a date": lambda s: {**s, "timestamp": "yesterday"},
    "timestamp without a year": lambda s: {**s, "timestamp": "12-01 10:00"},
    "no object": lambda s: without(s, "object"),
    "verb a string": lambda s: {**s, "verb": "registered"},
    "statement not an object": lambda s: ["not", "a", "statement"],
}


@pytest.mark.parametrize("fault", list(INVALID))
def test_a_batch_with_one_invalid_statement_is_refused_whole(stack: Stack, fault: str) -> None:
    seed = 200 + list(INVALID).index(fault)
    statements = generated(3 * BATCH, seed)
    before, middle, after = (statements[i : i + BATCH] for i in range(0, 3 * BATCH, BATCH))
    assert stack.post(before).status_code == 200

    sent = [*middle[:-1], INVALID[fault](middle[-1])]
    reply = stack.post(sent)
    if fault in MISREPORTED:
        assert reply.status_code == 500, reply.text  # see the test below
    else:
        assert reply.status_code == 422, reply.text

    assert stack.post(after).status_code == 200
    ids = [statement["id"] for statement in statements]
    stored = stack.stored_ids(ids)
    # Nothing of the refused batch, not even its valid statements; the others each once.
    assert sorted(stored) == sorted(s["id"] for s in before + after)
    assert stack.count(ids, final=False) == 2 * BATCH

    # Sent again, fixed, the batch is stored whole: the refusal left nothing half-written.
    assert stack.post(middle).status_code == 200
    assert sorted(stack.stored_ids(ids)) == sorted(ids)


# Ralph's model takes any text as a timestamp; its ClickHouse backend then fails to read the
# date and Ralph answers 500, the status a sender must retry on.
MISREPORTED = ["timestamp not a date", "timestamp without a year"]


@pytest.mark.xfail(
    strict=True,
    reason="Ralph 5 answers 500 (retry) instead of 4xx to a statement whose timestamp is not "
    "an ISO 8601 date; event-routing-backends then retries a batch that can never succeed",
)
@pytest.mark.parametrize("fault", MISREPORTED)
def test_a_timestamp_that_is_not_a_date_is_a_client_error(stack: Stack, fault: str) -> None:
    [statement] = generated(1, 300 + MISREPORTED.index(fault))
    reply = stack.post([INVALID[fault](statement)])
    assert 400 <= reply.status_code < 500, reply.text
