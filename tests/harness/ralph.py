"""
Ralph, the learning record store, run natively from a Tutor root's rendered files.

Ralph runs from its own virtualenv (.venv-ralph, created by `make install`) with the settings
file and auth file that the ralph plugin rendered, read through docker compose. Paths in the
settings point inside the container: they are mapped to this machine through the volumes of
the rendered compose `ralph` service, so a wrong mount fails here as it would in a container.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.fixtures import REPO_ROOT
from tests.harness.processes import terminate
from tests.harness.tutor import TutorRoot

RALPH_BIN = REPO_ROOT / ".venv-ralph" / "bin"
START_TIMEOUT = 60.0


def native_settings(root: TutorRoot) -> dict[str, str]:
    """
    Ralph's environment as docker compose gives it to the `ralph` service (compose reads the
    rendered settings file), with container paths replaced by the host paths mounted there.
    """
    service = root.compose_config()["services"]["ralph"]
    mounts = dict(reversed(volume.split(":")[:2]) for volume in service["volumes"])
    settings = {name: str(value) for name, value in service["environment"].items()}
    for name, value in settings.items():
        for target, source in mounts.items():
            if value == target or value.startswith(target + "/"):
                settings[name] = source + value[len(target) :]
    return settings


class RalphProcess:
    """
    Ralph on 127.0.0.1:port from the root's rendered files, as a process that tests can stop,
    kill and start again. Its output goes to log_path, by default ralph.log in the root.
    """

    def __init__(
        self,
        root: TutorRoot,
        port: int,
        log_path: Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.root, self.port = root, port
        self.environment = environment or {}  # more variables, e.g. SSL_CERT_FILE
        self.log_path = log_path or root.path / "ralph.log"
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> RalphProcess:
        uvicorn = RALPH_BIN / "uvicorn"
        if not uvicorn.exists():
            raise RuntimeError(f"{uvicorn} does not exist: run `make install`")
        settings = native_settings(self.root)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(uvicorn), "ralph.api:app", "--host", "127.0.0.1", "--port", str(self.port)],
                env={
                    "PATH": os.environ["PATH"],
                    "HOME": str(self.root.path),
                    **settings,
                    **self.environment,
                },
                cwd=self.root.path,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until_up(self.url, self.process, self.log_path)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would end it: no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        terminate(self.process, timeout=30)


@contextmanager
def running_ralph(root: TutorRoot, port: int, log_path: Path | None = None) -> Iterator[str]:
    """
    Run Ralph on 127.0.0.1:port from the root's rendered files; yield its URL. Its output goes
    to log_path, by default ralph.log in the root.
    """
    ralph = RalphProcess(root, port, log_path)
    try:
        yield ralph.start().url
    finally:
        ralph.stop()


def wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Ralph exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/__lbheartbeat__", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"Ralph did not answer within {START_TIMEOUT:.0f}s:\n{log_path.read_text()}")
