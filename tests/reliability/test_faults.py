"""
Faults under sustained load. A few clients POST batches of generated statements to Ralph at
once, and retry a batch on a connection error or a 5xx with the same statement ids, as the
LMS's event-routing-backends does. Mid-load, Ralph is killed (SIGKILL) and started again, or
the ClickHouse server is killed and started again on the same data directory and port.
Afterwards every acknowledged statement is stored, and stored once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from tests.reliability.conftest import Stack, generated, uuid_list

CLIENTS = 3
BATCHES_PER_CLIENT = 20
BATCH = 20
DEADLINE = 45.0  # seconds for the whole load, faults included
RETRY_PAUSE = 0.2


@dataclass
class Client:
    """One sender: its batches, and what Ralph answered them."""

    batches: list[list[dict]]
    acknowledged: list[str] = field(default_factory=list)
    retried: list[list[str]] = field(default_factory=list)
    attempts: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self, stack: Stack, deadline: float) -> None:
        for batch in self.batches:
            ids = [statement["id"] for statement in batch]
            tries = 0
            while True:
                if time.monotonic() > deadline:
                    self.failures.append(f"batch of {ids[0]} not acknowledged in time")
                    return
                tries += 1
                self.attempts += 1
                try:
                    status, text = self.send(stack, batch)
                except requests.RequestException as error:
                    status, text = 0, str(error)
                if status in (200, 204):
                    self.acknowledged += ids
                    if tries > 1:
                        self.retried.append(ids)
                    break
                if status and status < 500:
                    # A 409 here would mean a retry was taken for other content.
                    self.failures.append(f"{status} for the batch of {ids[0]}: {text[:200]}")
                    break
                time.sleep(RETRY_PAUSE)

    @staticmethod
    def send(stack: Stack, batch: list[dict]) -> tuple[int, str]:
        reply = stack.post(batch, timeout=20)
        return reply.status_code, reply.text


@dataclass
class Outcome:
    statements: int
    acknowledged: list[str]
    retried: list[list[str]]
    attempts: int
    seconds: float


def load_with_fault(stack: Stack, seed: int, fault: Callable[[], None]) -> Outcome:
    """Run the clients; once a third of the batches are acknowledged, inject the fault."""
    statements = generated(CLIENTS * BATCHES_PER_CLIENT * BATCH, seed)
    batches = [statements[i : i + BATCH] for i in range(0, len(statements), BATCH)]
    clients = [Client(batches[n::CLIENTS]) for n in range(CLIENTS)]
    started = time.monotonic()
    deadline = started + DEADLINE
    threads = [threading.Thread(target=c.run, args=(stack, deadline)) for c in clients]
    for thread in threads:
        thread.start()
    while sum(len(c.acknowledged) for c in clients) < len(statements) // 3:
        assert time.monotonic() < deadline, "the load did not get going"
        time.sleep(0.05)
    fault()
    for thread in threads:
        thread.join(DEADLINE)
    assert [f for c in clients for f in c.failures] == []
    return Outcome(
        statements=len(statements),
        acknowledged=[i for c in clients for i in c.acknowledged],
        retried=[ids for c in clients for ids in c.retried],
        attempts=sum(c.attempts for c in clients),
        seconds=time.monotonic() - started,
    )


def assert_stored_once(stack: Stack, outcome: Outcome) -> None:
    ids = outcome.acknowledged
    assert len(ids) == outcome.statements == len(set(ids))
    stored = stack.stored_ids(ids)
    # No acknowledged statement missing, none twice once the table deduplicates.
    assert sorted(stored) == sorted(ids)
    admin = stack.admin()
    distinct = admin.command(
        f"SELECT uniqExact(event_id) FROM xapi.xapi_events_all WHERE event_id IN "
        f"(SELECT event_id FROM xapi.xapi_events_all FINAL WHERE event_id IN ({uuid_list(ids)}))"
    )
    assert distinct == stack.count(ids, final=True) == len(ids)
    for batch in outcome.retried:
        assert sorted(stack.stored_ids(batch)) == sorted(batch)
    # A second copy, if a retry wrote one, is the same statement.
    assert (
        stack.admin().command(
            "SELECT count() FROM (SELECT event_id FROM xapi.xapi_events_all "
            f"WHERE event_id IN ({uuid_list(ids)}) GROUP BY event_id HAVING uniqExact(event) > 1)"
        )
        == 0
    )


def report(name: str, outcome: Outcome) -> None:
    print(
        f"\n{name}: {outcome.statements} statements from {CLIENTS} clients in "
        f"{outcome.attempts} requests ({len(outcome.retried)} batches retried), "
        f"{outcome.seconds:.1f}s"
    )


def test_ralph_killed_and_restarted_mid_load(stack: Stack) -> None:
    def fault() -> None:
        stack.ralph.kill()
        time.sleep(1)  # the clients meet a closed port for a while
        stack.ralph.start()

    outcome = load_with_fault(stack, 401, fault)
    report("Ralph SIGKILL", outcome)
    assert outcome.retried, "no batch met the fault"
    assert_stored_once(stack, outcome)


def test_clickhouse_killed_and_started_mid_load(stack: Stack) -> None:
    def fault() -> None:
        stack.server.kill()
        time.sleep(1)
        stack.server.start()  # same data directory, same port

    outcome = load_with_fault(stack, 403, fault)
    report("ClickHouse SIGKILL", outcome)
    assert outcome.retried, "no batch met the fault"
    assert_stored_once(stack, outcome)
