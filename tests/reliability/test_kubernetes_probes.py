"""
Ralph's Kubernetes probes and memory, checked on the real Ralph: the probe paths and port as
the ralph plugin renders them for Kubernetes, asked of Ralph running natively from the same
root, while its ClickHouse backend answers and while it is down; and the peak memory of Ralph
under a load of concurrent batches against the memory it requests.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.reliability.conftest import Stack, generated

BATCHES = 40
BATCH = 50
CLIENTS = 4
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def rendered_container(stack: Stack) -> dict:
    deployment = stack.root.manifests()[("Deployment", "ralph")]
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_readiness_follows_the_backend_and_liveness_ralph_alone(stack: Stack) -> None:
    container = rendered_container(stack)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    probes = {name: container[name]["httpGet"] for name in container if name.endswith("Probe")}
    assert set(probes) == {"startupProbe", "readinessProbe", "livenessProbe"}
    # The port each probe names is the one Ralph listens on (RALPH_PORT, here a free port).
    assert {ports[probe["port"]] for probe in probes.values()} == {stack.ralph.port}
    urls = {name: f"{stack.ralph.url}{probe['path']}" for name, probe in probes.items()}

    assert {name: status(url) for name, url in urls.items()} == dict.fromkeys(urls, 200)
    stack.server.kill()
    try:
        # Not ready (no statement can be stored), but alive: a restart would not help.
        down = {name: status(url) for name, url in urls.items()}
        assert down == {"startupProbe": 200, "readinessProbe": 500, "livenessProbe": 200}
    finally:
        stack.server.start()
    deadline = time.monotonic() + 30
    while status(urls["readinessProbe"]) != 200:
        assert time.monotonic() < deadline, "Ralph was not ready again 30 s after ClickHouse"
        time.sleep(0.5)


def peak_memory(pid: int) -> int:
    """The most memory the process has held resident since it started (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status_file:
        line = next(line for line in status_file if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_ralph_under_load_stays_within_the_memory_it_requests(stack: Stack) -> None:
    resources = rendered_container(stack)["resources"]
    request, limit = (
        int(value[:-2]) * UNITS[value[-2:]]
        for value in (resources["requests"]["memory"], resources["limits"]["memory"])
    )
    statements = generated(BATCHES * BATCH, seed=4242)
    batches = [statements[i : i + BATCH] for i in range(0, len(statements), BATCH)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda batch: stack.post(batch).status_code, batches))
    assert answers == [200] * BATCHES
    peak = peak_memory(stack.ralph.process.pid)
    print(f"Ralph's peak memory after {len(statements)} statements: {peak / 2**20:.0f} MiB")
    assert peak < request <= limit / 2
