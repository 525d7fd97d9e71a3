"""
Oversized requests: Ralph stores a very large batch whole or refuses it whole, and Caddy, in
front of Ralph at its public host, refuses a body over RALPH_MAX_BODY_SIZE with 413 before
Ralph sees it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from tests.harness.processes import free_port, terminate
from tests.harness.tutor import TutorRoot
from tests.reliability.conftest import Stack, generated

# event-routing-backends' transform_tracking_logs sends 10,000 statements per request.
LARGEST_BATCH = 10_000


def stored(stack: Stack, ids: list[str]) -> int:
    """Rows of the raw table holding these ids, asked 1,000 ids at a time."""
    return sum(stack.count(ids[i : i + 1000], final=False) for i in range(0, len(ids), 1000))


def body_size(statements: list[dict]) -> int:
    return len(json.dumps(statements).encode())


def test_the_largest_batch_of_the_lms_is_stored_whole(stack: Stack) -> None:
    statements = generated(LARGEST_BATCH, 900)
    assert body_size(statements) > 10_000_000
    reply = stack.post(statements, timeout=300)
    assert reply.status_code == 200, reply.text[:500]
    assert len(reply.json()) == LARGEST_BATCH
    assert stored(stack, [s["id"] for s in statements]) == LARGEST_BATCH


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        # Refused by Ralph's model, before anything is written.
        ("no verb", 422),
        # Accepted by the model, refused by the ClickHouse backend while writing: 500, the
        # known misreport of test_invalid_batch.py; written in chunks of 500 statements, the
        # chunks before it would stay stored.
        ("timestamp not a date", 500),
    ],
)
def test_a_large_batch_with_one_bad_statement_near_its_end_is_refused_whole(
    stack: Stack, fault: str, status: int
) -> None:
    statements = generated(1_500, 910 + len(fault))
    bad = dict(statements[1_200])
    if fault == "no verb":
        del bad["verb"]
    else:
        bad["timestamp"] = "yesterday"
    reply = stack.post([*statements[:1_200], bad, *statements[1_201:]], timeout=300)
    assert reply.status_code == status, reply.text[:500]
    ids = [s["id"] for s in statements]
    assert stored(stack, ids) == 0
    # Sent again without the bad statement, the batch is stored whole.
    assert stack.post(statements, timeout=300).status_code == 200
    assert stored(stack, ids) == 1_500


def test_a_statement_with_a_huge_extension_is_stored_whole(stack: Stack) -> None:
    [statement] = generated(1, 920)
    statement["result"] = {"extensions": {"http://example.com/xapi/answer": "x" * 30_000_000}}
    reply = stack.post([statement], timeout=300)
    assert reply.status_code == 200, reply.text[:500]
    length = stack.admin().command(
        "SELECT length(JSONExtractString(event, 'result', 'extensions', {url:String})) "
        "FROM xapi.xapi_events_all WHERE event_id = {id:UUID}",
        parameters={"url": "http://example.com/xapi/answer", "id": statement["id"]},
    )
    assert length == 30_000_000


@pytest.mark.slow
def test_a_50_megabyte_batch_is_stored_whole(stack: Stack) -> None:
    statements = generated(42_000, 930)
    assert body_size(statements) > 49_000_000
    reply = stack.post(statements, timeout=600)
    assert reply.status_code == 200, reply.text[:500]
    assert stored(stack, [s["id"] for s in statements]) == 42_000


# Caddy listens on a free port here, not on 80/443, and keeps its state in the test's folder.
CADDY_TEST_PLUGIN = """\
name: caddytestport
version: 1.0.0
patches:
  caddyfile-global: |
    admin off
    http_port {$CADDY_HTTP_PORT}
"""
PUBLIC_HOST = "lrs.local.openedx.io"
# Small, so that the test's bodies stay small: 1,000 statements fit, 2,000 do not.
MAX_BODY_SIZE = 2_000_000


class Caddy:
    def __init__(self, url: str, stack: Stack) -> None:
        self.url, self.stack = url, stack

    def post(self, body: bytes | Iterator[bytes]) -> requests.Response:
        return requests.post(
            f"{self.url}/xAPI/statements",
            data=body,
            headers={"Host": PUBLIC_HOST, "Content-Type": "application/json"},
            auth=self.stack.lms,
            timeout=120,
        )


@pytest.fixture(scope="module")
def caddy_root(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> TutorRoot:
    """A Tutor root whose Caddy serves the stack's Ralph at RALPH_PUBLIC_HOST."""
    path = tmp_path_factory.mktemp("caddy")
    (path / "plugins").mkdir()
    (path / "plugins" / "caddytestport.yml").write_text(CADDY_TEST_PLUGIN)
    return TutorRoot(path / "root", plugins_root=path / "plugins").save(
        ["ralph", "caddytestport"],
        {
            "RALPH_ENABLE_PUBLIC_URL": True,
            "RALPH_HOST": "127.0.0.1",
            "RALPH_PORT": stack.ralph.port,
            "RALPH_MAX_BODY_SIZE": MAX_BODY_SIZE,
        },
    )


def caddy_environment(root: TutorRoot, port: int) -> dict[str, str]:
    home = root.path / "caddy-home"
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "CADDY_HTTP_PORT": str(port),
        # What Tutor's compose file gives the caddy service when it serves plain HTTP.
        "default_site_port": f":{port}",
    }


def test_the_rendered_caddyfile_is_valid_for_caddy(caddy_root: TutorRoot) -> None:
    assert shutil.which("caddy"), "caddy is not installed: run `make install`"
    caddyfile = caddy_root.path / "env" / "apps" / "caddy" / "Caddyfile"
    environment = caddy_environment(caddy_root, free_port())
    command = ["caddy", "validate", "--adapter", "caddyfile", "--config", str(caddyfile)]
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    command[1] = "adapt"
    adapted = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    config = json.dumps(json.loads(adapted.stdout))
    assert f'"max_size": {MAX_BODY_SIZE}' in config
    assert f"> {MAX_BODY_SIZE}" in config and '"status_code": 413' in config


@pytest.fixture(scope="module")
def caddy(caddy_root: TutorRoot, stack: Stack) -> Iterator[Caddy]:
    port = free_port()
    caddyfile = caddy_root.path / "env" / "apps" / "caddy" / "Caddyfile"
    log = caddy_root.path / "caddy.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            ["caddy", "run", "--adapter", "caddyfile", "--config", str(caddyfile)],
            env=caddy_environment(caddy_root, port),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{url}/__heartbeat__", headers={"Host": PUBLIC_HOST}, timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.1)
        yield Caddy(url, stack)
    finally:
        terminate(process, timeout=10)


def ralph_requests(stack: Stack) -> int:
    """How many statement requests Ralph has logged."""
    return stack.ralph.log_path.read_text(errors="replace").count("/xAPI/statements")


def test_caddy_refuses_an_oversized_body_before_it_reaches_ralph(
    caddy: Caddy, stack: Stack
) -> None:
    statements = generated(2_000, 940)
    body = json.dumps(statements).encode()
    assert len(body) > MAX_BODY_SIZE
    seen = ralph_requests(stack)
    reply = caddy.post(body)
    assert reply.status_code == 413, reply.text[:500]
    assert ralph_requests(stack) == seen  # Ralph never saw it
    assert stored(stack, [s["id"] for s in statements]) == 0

    # Without a Content-Length (chunked), Caddy stops reading at the limit: 413 as well.
    reply = caddy.post(body[i : i + 65_536] for i in range(0, len(body), 65_536))
    assert reply.status_code == 413, reply.text[:500]
    assert ralph_requests(stack) == seen
    assert stored(stack, [s["id"] for s in statements]) == 0


def test_caddy_lets_a_body_under_the_limit_through_whole(caddy: Caddy, stack: Stack) -> None:
    statements = generated(1_000, 950)
    body = json.dumps(statements).encode()
    assert len(body) < MAX_BODY_SIZE
    seen = ralph_requests(stack)
    reply = caddy.post(body)
    assert reply.status_code == 200, reply.text[:500]
    assert ralph_requests(stack) == seen + 1  # what the refusals above are measured with
    assert stored(stack, [s["id"] for s in statements]) == 1_000
