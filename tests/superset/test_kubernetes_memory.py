"""
Superset's Kubernetes sizing, checked on the real Superset 6.1: after the rendered init job, the
web server, the Celery worker and the scheduler run natively with the very commands and
configuration that the superset plugin renders for their Deployments. The memory each holds
after a warm-up (the PSS of its processes: each shared page counted once, as the container's
memory is) must be below the memory its Deployment requests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness.mariadb import MariaDBServer
from tests.harness.processes import free_port
from tests.harness.redis import RedisServer
from tests.harness.superset import (
    SUPERSET_BIN,
    Superset,
    SupersetClient,
    rendered_superset,
    superset_job_environment,
)
from tests.harness.tutor import TutorRoot

pytestmark = pytest.mark.slow

DEPLOYMENTS = ("superset", "superset-worker", "superset-worker-beat")
START_TIMEOUT = 240.0
CONCURRENCY = 2  # the worker's pool processes, as rendered
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def memory_bytes(quantity: str) -> int:
    return int(quantity[:-2]) * UNITS[quantity[-2:]]


def process_tree(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            children = (task / "children").read_text().split()
            pending += [int(child) for child in children]
    return pids


def held_memory(pid: int) -> int:
    """PSS of a process and its descendants, in bytes: what they hold, shared pages split."""
    total = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
    return total


@contextmanager
def started(args: list[str], superset: Superset, log: Path) -> Iterator[subprocess.Popen]:
    """Run a Deployment's command (its executable from Superset's virtualenv)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(SUPERSET_BIN / args[0]), *args[1:]],
            env=superset.environment(),
            cwd=superset.home_dir,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(what: str, check, log: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not check():
        assert process.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {START_TIMEOUT:.0f}s"
        time.sleep(0.5)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
            return reply.read() == b"OK"
    except (OSError, urllib.error.URLError):
        return False


def test_each_deployment_holds_less_memory_than_it_requests(
    tmp_path: Path, mariadb_server: MariaDBServer, redis_server: RedisServer
) -> None:
    root = TutorRoot(tmp_path / "root").save(
        ["superset"],
        {
            "MYSQL_HOST": mariadb_server.host,
            "MYSQL_PORT": mariadb_server.port,
            "MYSQL_ROOT_USERNAME": mariadb_server.root_user,
            "MYSQL_ROOT_PASSWORD": mariadb_server.root_password,
            **redis_server.tutor_settings(),
            # The session's MariaDB and Redis are shared: a database, user and Redis
            # databases of its own.
            "SUPERSET_DB_NAME": "superset_k8s",
            "SUPERSET_DB_USERNAME": "superset_k8s",
            "SUPERSET_REDIS_CACHE_DB": 9,
            "SUPERSET_REDIS_CELERY_DB": 10,
        },
    )
    home = tmp_path / "home"
    root.run("local", "do", "init", "--limit", "superset", **superset_job_environment(root, home))
    superset = rendered_superset(root, home)
    manifests = root.manifests()
    containers = {
        name: manifests[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        for name in DEPLOYMENTS
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = [
        f"--bind=127.0.0.1:{port}" if arg.startswith("--bind=") else arg
        for arg in containers["superset"]["args"]
    ]
    worker_args = containers["superset-worker"]["args"]
    assert f"--concurrency={CONCURRENCY}" in worker_args
    # The schedule file where the test can write it (the container's /tmp).
    beat_args = [
        f"--schedule={tmp_path / 'celerybeat-schedule'}" if arg.startswith("--schedule=") else arg
        for arg in containers["superset-worker-beat"]["args"]
    ]
    logs = {name: tmp_path / f"{name}.log" for name in DEPLOYMENTS}
    config = root.config()
    with (
        started(web, superset, logs["superset"]) as server,
        started(worker_args, superset, logs["superset-worker"]) as worker,
        started(beat_args, superset, logs["superset-worker-beat"]) as beat,
    ):
        wait_for("the web server", lambda: healthy(url), logs["superset"], server)
        client = SupersetClient(url)
        client.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
        # Each gunicorn worker gets requests: the API, the pages a person opens.
        for _ in range(10):
            for path in ("/api/v1/dashboard/", "/api/v1/chart/", "/api/v1/database/"):
                client.get(path)
            with urllib.request.urlopen(f"{url}/login/", timeout=30) as reply:
                assert reply.status == 200
        # Celery logs warnings only: the worker is up once its pool processes are.
        wait_for(
            "the Celery worker",
            lambda: len(process_tree(worker.pid)) > CONCURRENCY,
            logs["superset-worker"],
            worker,
        )
        wait_for(
            "the scheduler",
            lambda: "maxinterval" in logs["superset-worker-beat"].read_text(errors="replace"),
            logs["superset-worker-beat"],
            beat,
        )
        time.sleep(5)  # the pool processes settle
        held = {
            name: held_memory(process.pid)
            for name, process in zip(DEPLOYMENTS, (server, worker, beat), strict=True)
        }
    requested = {
        name: memory_bytes(containers[name]["resources"]["requests"]["memory"])
        for name in DEPLOYMENTS
    }
    print({name: f"{held[name] / 2**20:.0f} MiB" for name in DEPLOYMENTS})
    for name in DEPLOYMENTS:
        assert held[name] < requested[name], (name, held[name], requested[name])
