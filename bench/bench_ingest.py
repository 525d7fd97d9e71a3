"""
Ingest: statements per second through Ralph into the raw table (with the reporting models'
materialized view attached), in batches of 100 from several concurrent clients, against the
engine's own insert of the same statements as JSON rows through the same HTTP interface, in the
same batches from the same clients (the most this machine can take). Both are measured in
alternate rounds of new statements in one run. Target: Ralph at 70 % of the engine or more.

    python bench/bench_ingest.py [--small] [--statements N] [--clients C] [--profile]

--profile runs one more round with Ralph under cProfile and prints where its time goes;
--workers N one more with Ralph started with N worker processes (RALPH_WORKERS);
--busy-timeout MS one more with the ClickHouse user Ralph inserts as given shorter async-insert
buffer timeouts (async_insert_busy_timeout_min_ms and _max_ms = MS, in its settings): the one
part of Ralph's insert that the project could change without changing Ralph.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, print_rows, rate  # noqa: E402
from stack import LMS_URL, RAW_TABLE, Stack, analytics_stack  # noqa: E402

from tests.harness.processes import free_port, terminate  # noqa: E402
from tests.harness.ralph import RALPH_BIN, native_settings, wait_until_up  # noqa: E402
from tutoraspects.job import xapi_generator  # noqa: E402

BATCH = 100
MORE_WORKERS = 2  # the number of Ralph workers --workers tries by default
SHORT_BUSY_TIMEOUT_MS = 5  # the async-insert buffer timeout --busy-timeout tries by default
# What Ralph's ClickHouse backend asks for each insert: the server buffers it and answers once
# the buffer is flushed.
RALPH_INSERT_SETTINGS = {"async_insert": "1", "wait_for_async_insert": "1"}
CLIENTS = 4
ROUNDS = 3
# Parts of Ralph's request handler whose cumulative time the profile summary reports.
PROFILE_PARTS = {
    "validation": "validate_strict_statements",
    "lookup of the ids already stored (a query)": "query_statements_by_ids",
    "insert (clickhouse-connect: a column probe query, then the insert)": "_bulk_import",
}
# Profiling starts on SIGUSR1 (after a warm-up batch); uvicorn re-raises the SIGTERM it stopped
# on once it has shut down, and the profile is written then.
PROFILED_RALPH = """
import cProfile, signal, sys, uvicorn
profiler = cProfile.Profile()
def stop(*_):
    profiler.disable()
    profiler.dump_stats(sys.argv[1])
    sys.exit(0)
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
signal.signal(signal.SIGTERM, stop)
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[2]))
stop()
"""


def statement_lines(count: int, seed: int) -> list[str]:
    config = xapi_generator.sized_config(count, seed=seed, lms_url=LMS_URL)
    return list(xapi_generator.iter_statement_json(config))


def batches(lines: list[str]) -> list[list[str]]:
    return [lines[start : start + BATCH] for start in range(0, len(lines), BATCH)]


def post_concurrently(
    url: str, path: str, bodies: list[bytes], headers: dict[str, str], clients: int
) -> float:
    """POST every body, `clients` keep-alive connections at a time; seconds taken."""
    parts = urllib.parse.urlsplit(url)
    pending = iter(bodies)
    lock = threading.Lock()
    errors: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        while not errors:
            with lock:
                body = next(pending, None)
            if body is None:
                break
            connection.request("POST", path, body=body, headers=headers)
            reply = connection.getresponse()
            answer = reply.read()
            if reply.status not in (200, 204):
                errors.append(f"{reply.status}: {answer[:500].decode(errors='replace')}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{url}{path} refused a batch: {errors[0]}")
    return elapsed


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def through_ralph(stack: Stack, url: str, lines: list[str], clients: int) -> float:
    user, password = stack.setting("RALPH_LMS_USERNAME"), stack.setting("RALPH_LMS_PASSWORD")
    headers = {"Content-Type": "application/json", "Authorization": basic(user, password)}
    bodies = [("[" + ",".join(batch) + "]").encode() for batch in batches(lines)]
    return post_concurrently(url, "/xAPI/statements", bodies, headers, clients)


def straight_to_engine(
    stack: Stack, lines: list[str], clients: int, settings: dict[str, str] | None = None
) -> float:
    """The same statements as JSON rows of the raw table, inserted by the user Ralph uses."""
    query = f"INSERT INTO {RAW_TABLE} (event_id, emission_time, event) FORMAT JSONEachRow"
    path = "/?" + urllib.parse.urlencode({"query": query, **(settings or {})})
    headers = {
        "Authorization": basic(
            stack.setting("ASPECTS_CLICKHOUSE_LRS_USER"),
            stack.setting("ASPECTS_CLICKHOUSE_LRS_PASSWORD"),
        )
    }
    bodies = []
    for batch in batches(lines):
        rows = []
        for line in batch:
            statement = json.loads(line)
            row = {"event_id": statement["id"], "emission_time": statement["timestamp"]}
            rows.append(json.dumps(row | {"event": line}))
        bodies.append("\n".join(rows).encode())
    return post_concurrently(stack.server.url, path, bodies, headers, clients)


@contextmanager
def ralph_process(
    stack: Stack, command: list[str], name: str
) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Ralph run from the root's rendered settings with another command line; on a free port."""
    env = {"PATH": os.environ["PATH"], "HOME": str(stack.root.path), **native_settings(stack.root)}
    log_path = stack.root.path / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, env=env, cwd=stack.root.path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process, log_path
    finally:
        terminate(process, timeout=60)


@contextmanager
def ralph_with_workers(stack: Stack, workers: int) -> Iterator[str]:
    """Ralph as the rendered compose service runs it with RALPH_WORKERS=workers."""
    port = free_port()
    command = [str(RALPH_BIN / "uvicorn"), "ralph.api:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    with ralph_process(stack, command, "ralph-workers") as (process, log_path):
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log_path)
        yield url


@contextmanager
def profiled_ralph(stack: Stack, output: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """Ralph as the harness runs it, under cProfile (written when it stops on SIGTERM)."""
    port = free_port()
    command = [str(RALPH_BIN / "python"), "-c", PROFILED_RALPH, str(output), str(port)]
    with ralph_process(stack, command, "ralph-profiled") as (process, log_path):
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log_path)
        yield url, process


def profile_summary(path: Path, batches_sent: int, wall: float) -> str:
    """Where a batch's time goes in Ralph, from the cProfile of its process."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]

    def cumulative(function: str, filename: str = "") -> float:
        return sum(
            total
            for (file, _, name), (_, _, _, total, _) in stats.items()
            if name == function and file.endswith(filename)
        )

    endpoint = cumulative("post", "ralph/api/routers/statements.py")
    parts = {part: cumulative(function) for part, function in PROFILE_PARTS.items()}
    parts["the rest of the endpoint"] = endpoint - sum(parts.values())

    def per_batch(value: float) -> str:
        return f"{value / batches_sent * 1000:.0f} ms"

    return (
        f"Per batch, Ralph (cProfile of its process) took {per_batch(wall)} of wall time, "
        f"{per_batch(endpoint)} of it inside its POST /xAPI/statements handler: "
        + ", ".join(f"{part} {per_batch(value)}" for part, value in parts.items())
        + ". The handler is async but calls ClickHouse synchronously, so one worker serves "
        "one batch at a time whatever the number of clients, and each batch costs three "
        "round trips to the engine instead of one. None of the three is the project's to "
        "remove: the lookup runs on every POST; the insert names no column types, so "
        "clickhouse-connect describes the table before each one; and Ralph's client options "
        "take date_time_input_format alone (any other key is refused), so neither column "
        "types nor a client setting can be passed in."
    )


def measure(
    stack: Stack,
    statements: int,
    clients: int,
    rounds: int,
    profile: bool,
    workers: int | None = None,
    busy_timeout_ms: int | None = None,
) -> Row:
    per_round = max(BATCH, statements // rounds)
    seed = 1000
    elapsed = {"engine": 0.0, "ralph": 0.0, "async": 0.0}
    # A first batch each way, unmeasured, pays for what is imported or connected on first use.
    seed += 1
    straight_to_engine(stack, statement_lines(BATCH, seed), 1)
    seed += 1
    through_ralph(stack, stack.ralph_url, statement_lines(BATCH, seed), 1)
    stored_before = stack.value(f"SELECT count() FROM {RAW_TABLE}")
    for round_number in range(rounds):
        # Rotate which goes first, so that machine noise hits all alike.
        order = ["engine", "ralph", "async"]
        for approach in order[round_number % 3 :] + order[: round_number % 3]:
            seed += 1
            lines = statement_lines(per_round, seed)
            if approach == "engine":
                elapsed[approach] += straight_to_engine(stack, lines, clients)
            elif approach == "async":
                elapsed[approach] += straight_to_engine(
                    stack, lines, clients, RALPH_INSERT_SETTINGS
                )
            else:
                elapsed[approach] += through_ralph(stack, stack.ralph_url, lines, clients)
    stored = stack.value(f"SELECT count() FROM {RAW_TABLE}") - stored_before
    if stored != len(elapsed) * rounds * per_round:
        raise RuntimeError(f"{stored} statements stored, {len(elapsed) * rounds * per_round} sent")
    engine_rate, ralph_rate, async_rate = (
        rounds * per_round / elapsed[approach] for approach in ("engine", "ralph", "async")
    )
    notes = (
        f"{rounds * per_round:,} statements each way, batches of {BATCH}, {clients} concurrent "
        "clients, Ralph with one worker (RALPH_WORKERS default), raw table with the "
        "xapi_events_parsed materialized view attached. The engine's insert with Ralph's "
        f"settings (async_insert=1, wait_for_async_insert=1): {rate(async_rate)} "
        f"({async_rate / engine_rate:.2f} of the plain insert)."
    )
    if profile:
        with tempfile.TemporaryDirectory() as directory:
            output = Path(directory) / "ralph.prof"
            with profiled_ralph(stack, output) as (url, profiler):
                # A first batch, unmeasured, pays for the imports done on first use.
                seed += 1
                through_ralph(stack, url, statement_lines(BATCH, seed), 1)
                profiler.send_signal(signal.SIGUSR1)
                seed += 1
                wall = through_ralph(stack, url, statement_lines(per_round, seed), clients)
            notes += " " + profile_summary(output, per_round // BATCH, wall)
        seed += 1
        sequential = straight_to_engine(stack, statement_lines(per_round, seed), 1)
        notes += (
            f" The engine's own insert of a batch, one client at a time: "
            f"{sequential / (per_round // BATCH) * 1000:.0f} ms."
        )
    if workers:
        with ralph_with_workers(stack, workers) as url:
            seed += 1
            through_ralph(stack, url, statement_lines(BATCH * workers, seed), workers)
            seed += 1
            more = per_round / through_ralph(stack, url, statement_lines(per_round, seed), clients)
        notes += (
            f" Tried: Ralph with {workers} worker processes (RALPH_WORKERS={workers}), one "
            f"round: {rate(more)} ({more / engine_rate:.2f} of the engine's insert): on "
            "2 cores the workers and the engine compete for the same CPU."
        )
    if busy_timeout_ms:
        seed += 1
        shorter = per_round / with_busy_timeout(
            stack, busy_timeout_ms, statement_lines(per_round, seed), clients
        )
        notes += (
            f" Tried: the LRS user's async-insert buffer timeouts at {busy_timeout_ms} ms "
            f"(ClickHouse's defaults: 50 to 200 ms, adaptive), one round: {rate(shorter)} "
            f"({shorter / engine_rate:.2f} of the engine's insert)."
        )
    return Row(
        benchmark="Ingest through Ralph, statements/s",
        baseline=f"engine's own JSON insert {rate(engine_rate)}",
        ours=f"Ralph {rate(ralph_rate)}",
        ratio=ralph_rate / engine_rate,
        target="≥ 0.70",
        met=ralph_rate / engine_rate >= 0.70,
        notes=notes,
    )


def with_busy_timeout(stack: Stack, milliseconds: int, lines: list[str], clients: int) -> float:
    """Seconds Ralph takes with its ClickHouse user's async-insert buffer timeouts shortened."""
    user = stack.setting("ASPECTS_CLICKHOUSE_LRS_USER")
    timeouts = (
        f"async_insert_busy_timeout_min_ms = {milliseconds}, "
        f"async_insert_busy_timeout_max_ms = {milliseconds}"
    )
    stack.query(f"ALTER USER {user} SETTINGS {timeouts}", "TSV")
    try:
        return through_ralph(stack, stack.ralph_url, lines, clients)
    finally:
        stack.query(f"ALTER USER {user} SETTINGS NONE", "TSV")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smoke run: a few batches")
    parser.add_argument("--statements", type=int, help="statements per approach")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    parser.add_argument("--profile", action="store_true", help="profile Ralph in one more round")
    parser.add_argument("--workers", type=int, help="one more round with this many workers")
    parser.add_argument(
        "--busy-timeout", type=int, help="one more round with these async-insert timeouts (ms)"
    )
    args = parser.parse_args(argv)
    statements = args.statements or (600 if args.small else 30_000)
    rounds = 1 if args.small else ROUNDS
    with (
        tempfile.TemporaryDirectory() as directory,
        analytics_stack(Path(directory), ralph=True) as stack,
    ):
        row = measure(
            stack, statements, args.clients, rounds, args.profile, args.workers, args.busy_timeout
        )
    print_rows([row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
