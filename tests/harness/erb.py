"""
event-routing-backends, the LMS's xAPI transformer, run natively on tracking-log events.

`transform_tracking_logs` is ERB's own management command, run in the stand-in edx-platform
(tests/aspects/openedx_standin) from .venv-openedx, which holds ERB at the release the Open edX
image installs. It reads the tracking log, transforms each event with ERB's real transformers
and sends the statements to an LRS through ERB's real router, as an LMS replaying its logs
does. `capturing_lrs` is an LRS that keeps what it receives, for tests that need the statements
rather than Ralph; a real Ralph's URL works the same.

People and courses are what edx-platform would look up while transforming: each person's user
id, username and anonymous xAPI id, and each course's display name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.harness.fixtures import REPO_ROOT

OPENEDX_PYTHON = REPO_ROOT / ".venv-openedx" / "bin" / "python"
STANDIN = REPO_ROOT / "tests" / "aspects" / "openedx_standin"


@dataclass(frozen=True)
class Person:
    """A user of the LMS, as edx-platform's user and external-id tables hold them."""

    id: int
    username: str
    xapi_id: str

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


class EventRoutingBackends:
    """ERB in a stand-in LMS folder (`directory`), sending to `lrs_url` with Basic auth."""

    def __init__(
        self, directory: Path, lrs_url: str, lms_url: str, auth: tuple[str, str] = ("lms", "-")
    ) -> None:
        self.directory = directory
        self.lms_url = lms_url
        shutil.copytree(STANDIN, directory, dirs_exist_ok=True)
        settings = directory / "settings" / "lms"
        settings.mkdir(parents=True, exist_ok=True)
        # The LMS setting ERB reads besides its own (the Aspects block of Tutor's settings file
        # turns xAPI on; its other values only matter to the router, configured below).
        (settings / "production.py").write_text(
            "# Open edX Aspects: xAPI statements from tracking events\n"
            "XAPI_EVENTS_ENABLED = True\n"
            "# End of the Open edX Aspects settings\n",
            encoding="utf-8",
        )
        self.declare(people=(), courses={})
        self.manage("migrate", "--verbosity", "0")
        username, password = auth
        self.manage(
            "shell",
            "--command",
            "from event_routing_backends.models import RouterConfiguration\n"
            "RouterConfiguration.objects.create(backend_name=RouterConfiguration.XAPI_BACKEND,"
            f" enabled=True, route_url={lrs_url!r}, auth_scheme='Basic',"
            f" username={username!r}, password={password!r})\n",
        )

    def environ(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "OPENEDX_STANDIN_DATABASE": str(self.directory / "openedx.sqlite3"),
            "OPENEDX_STANDIN_SETTINGS_DIR": str(self.directory / "settings"),
            "OPENEDX_STANDIN_LMS_ROOT_URL": self.lms_url,
            "OPENEDX_STANDIN_PEOPLE": str(self.directory / "people.json"),
            "OPENEDX_STANDIN_COURSES": str(self.directory / "courses.json"),
        }

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [str(OPENEDX_PYTHON), str(self.directory / "manage.py"), "lms", *args],
            env=self.environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    def declare(self, people: Iterable[Person], courses: dict[str, str]) -> None:
        """The LMS's users and courses (key: display name), as edx-platform would find them."""
        (self.directory / "people.json").write_text(
            json.dumps(
                [
                    {"id": p.id, "username": p.username, "email": p.email, "xapi_id": p.xapi_id}
                    for p in people
                ]
            ),
            encoding="utf-8",
        )
        (self.directory / "courses.json").write_text(
            json.dumps({key: {"display_name": name} for key, name in courses.items()}),
            encoding="utf-8",
        )

    def transform(
        self, events: Iterable[dict], people: Iterable[Person], courses: dict[str, str]
    ) -> str:
        """
        Writes the events as a tracking log (one JSON document per line, as the LMS writes
        it), then replays it through ERB into the LRS. Returns the command's output.
        """
        self.declare(people, courses)
        logs = self.directory / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        with (logs / "tracking.log").open("w", encoding="utf-8") as log:
            for event in events:
                log.write(json.dumps(event) + "\n")
        source = {"key": str(self.directory), "container": "logs", "prefix": "tracking.log"}
        return self.manage(
            "transform_tracking_logs",
            "--source_provider",
            "LOCAL",
            "--source_config",
            json.dumps(source),
            "--destination_provider",
            "LRS",
            "--transformer_type",
            "xapi",
            "--sleep_between_batches_secs",
            "0",
        )


@dataclass(frozen=True)
class CapturingLrs:
    """An LRS's URL, and every statement POSTed to it, in order."""

    url: str
    statements: list[dict]


@contextmanager
def capturing_lrs() -> Iterator[CapturingLrs]:
    """An LRS on 127.0.0.1 that accepts every statement and keeps it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            statements = body if isinstance(body, list) else [body]
            received.extend(statements)
            reply = json.dumps([s.get("id") for s in statements]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield CapturingLrs(f"http://127.0.0.1:{server.server_port}/xAPI/statements", received)
    finally:
        server.shutdown()
        server.server_close()
