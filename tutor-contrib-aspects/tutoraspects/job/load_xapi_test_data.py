"""
Load generated xAPI test statements (xapi_generator.py): through Ralph, in batches, as the LMS
sends them, or with --direct straight into ClickHouse's raw xAPI table. The same seed always
gives the same statements, so loading again stores nothing new. When ASPECTS_EVENT_SINK_DATABASE
is set, the structure of the courses (names, blocks, outline) goes into its course_overviews and
course_blocks tables too, as the CMS sends it when a course is published; loading again adds a
copy of the same dump, which the reports count once.

Runs in the aspects job image, next to xapi_generator.py. Settings come from the environment:
RALPH_URL, RALPH_LMS_USERNAME, RALPH_LMS_PASSWORD, LMS_URL; with --direct or a course structure
to write, ASPECTS_CLICKHOUSE_* and ASPECTS_XAPI_DATABASE / ASPECTS_RAW_XAPI_TABLE.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import xapi_generator

ATTEMPTS = 5  # per batch, for connection errors and 5xx answers


def batches(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def post_to_ralph(batch: list[str], url: str, authorization: str) -> None:
    """POST one batch; Ralph answers 200 (stored) or 204 (all already stored)."""
    request = urllib.request.Request(
        url,
        data=("[" + ",".join(batch) + "]").encode(),
        headers={"Content-Type": "application/json", "Authorization": authorization},
    )
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=60):
                return
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt == ATTEMPTS:
                detail = error.read().decode(errors="replace")[:500]
                sys.exit(f"Ralph refused a batch with {error.code}: {detail}")
        except OSError as error:
            if attempt == ATTEMPTS:
                sys.exit(f"Cannot reach Ralph at {url}: {error}")
        time.sleep(2**attempt)


def ralph_sender(environ: dict[str, str]):
    url = environ["RALPH_URL"].rstrip("/") + "/xAPI/statements"
    credentials = f"{environ['RALPH_LMS_USERNAME']}:{environ['RALPH_LMS_PASSWORD']}"
    authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    print(f"Sending statements to Ralph at {url}", flush=True)
    return lambda batch: post_to_ralph(batch, url, authorization)


def clickhouse_client(environ: dict[str, str]):
    import clickhouse_connect  # only ClickHouse inserts need it

    return clickhouse_connect.get_client(
        host=environ["ASPECTS_CLICKHOUSE_HOST"],
        port=int(environ["ASPECTS_CLICKHOUSE_PORT"]),
        secure=environ.get("ASPECTS_CLICKHOUSE_SECURE", "").lower() == "true",
        username=environ["ASPECTS_CLICKHOUSE_USER"],
        password=environ["ASPECTS_CLICKHOUSE_PASSWORD"],
    )


def load_course_structure(environ: dict[str, str], config: xapi_generator.Config) -> None:
    """The courses' overviews and blocks, in the event sink tables the CMS writes them to."""
    database = environ["ASPECTS_EVENT_SINK_DATABASE"]
    overviews, blocks = xapi_generator.course_structure(config)
    client = clickhouse_client(environ)
    tables = (
        ("course_overviews", overviews, xapi_generator.COURSE_OVERVIEW_COLUMNS),
        ("course_blocks", blocks, xapi_generator.COURSE_BLOCK_COLUMNS),
    )
    for table, _, columns in tables:
        # A schema older than the sink's columns (before revision 0003) cannot take them.
        described = client.query(f"DESCRIBE TABLE {database}.{table}").result_rows
        if missing := sorted(set(columns) - {row[0] for row in described}):
            print(
                f"Course structure not written: {database}.{table} lacks the columns "
                f"{', '.join(missing)} (run the migrations: tutor local do init-clickhouse).",
                flush=True,
            )
            return
    for table, rows, columns in tables:
        client.insert(f"{database}.{table}", rows, column_names=list(columns))
    print(
        f"Course structure of {len(overviews)} courses ({len(blocks):,} blocks) written to "
        f"{database}.course_overviews and {database}.course_blocks",
        flush=True,
    )


def clickhouse_sender(environ: dict[str, str]):
    client = clickhouse_client(environ)
    table = f"{environ['ASPECTS_XAPI_DATABASE']}.{environ['ASPECTS_RAW_XAPI_TABLE']}"
    print(f"Inserting statements into ClickHouse table {table}", flush=True)

    def insert(batch: list[str]) -> None:
        rows = []
        for line in batch:
            statement = json.loads(line)
            rows.append([statement["id"], statement["timestamp"], line])
        client.insert(
            table,
            rows,
            column_names=["event_id", "emission_time", "event"],
            settings={"date_time_input_format": "best_effort"},
        )

    return insert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=10_000, help="how many (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same statements")
    parser.add_argument("--batch-size", type=int, default=100, help="statements per request")
    parser.add_argument("--direct", action="store_true", help="insert into ClickHouse directly")
    args = parser.parse_args(argv)
    if args.statements < 1 or args.batch_size < 1:
        parser.error("--statements and --batch-size must be at least 1")

    environ = dict(os.environ)
    send = clickhouse_sender(environ) if args.direct else ralph_sender(environ)
    config = xapi_generator.sized_config(
        args.statements, seed=args.seed, lms_url=environ.get("LMS_URL", "http://localhost")
    )
    if environ.get("ASPECTS_EVENT_SINK_DATABASE"):
        load_course_structure(environ, config)
    sent, started, reported = 0, time.monotonic(), 0
    for batch in batches(xapi_generator.iter_statement_json(config), args.batch_size):
        send(batch)
        sent += len(batch)
        # About twenty progress lines, whatever the size.
        if sent - reported >= args.statements / 20 or sent == args.statements:
            rate = sent / max(time.monotonic() - started, 1e-9)
            print(f"    {sent:,}/{args.statements:,} statements ({rate:,.0f}/s)", flush=True)
            reported = sent
    print(f"Loaded {sent:,} test statements.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
