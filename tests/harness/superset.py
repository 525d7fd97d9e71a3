"""
Apache Superset, run natively from its own virtualenv (.venv-superset, created by
`make install` from requirements/superset.txt) with a given superset_config.py.

- ``Superset``: one installation: config file, home directory, extra environment. Its
  ``command(...)`` runs the ``superset`` CLI (``db upgrade``, ``init``, ``fab create-admin``…).
- ``running_superset(superset, port)``: the web server under gunicorn, as Superset's own image
  runs it, ready once ``/health`` answers; yields a ``SupersetServer``.
- ``SupersetClient``: the REST API as a script or the browser uses it: login for a JWT, the
  session cookie and CSRF token that writes need.

Example::

    superset = Superset(tmp_path / "pythonpath" / "superset_config.py")
    superset.command("db", "upgrade")
    superset.create_admin("admin", "secret")
    superset.command("init")
    with running_superset(superset) as server:
        client = server.client()
        client.login("admin", "secret")
        databases = client.get("/api/v1/database/")
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock
from urllib.parse import urlencode

from tests.harness.processes import terminate

if TYPE_CHECKING:
    from tests.harness.tutor import TutorRoot

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPERSET_BIN = REPO_ROOT / ".venv-superset" / "bin"
COMMAND_TIMEOUT = 600.0  # `db upgrade` on an empty database takes ~15 s here
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
LOG_TAIL_LINES = 60
LISTENING = re.compile(r"Listening at: http://[^:]+:(\d+)")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SupersetCommandError(RuntimeError):
    """A `superset` command failed; the message ends with its output."""


class SupersetServerError(RuntimeError):
    """The web server did not start or stop as expected; the message ends with its log."""


class SupersetApiError(RuntimeError):
    """An API call answered an unexpected status."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:2000]}")
        self.status = status
        self.body = body


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _superset_executable(name: str) -> Path:
    path = SUPERSET_BIN / name
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: run `make install`")
    return path


@dataclass(frozen=True)
class Superset:
    """
    A Superset installation on this machine, defined by its superset_config.py.

    home: SUPERSET_HOME and HOME of the processes (uploads, caches), so nothing is written to
    the user's ~/.superset; defaults to a `superset-home` directory next to the config.
    pythonpath: directories for PYTHONPATH, so the config can import sibling modules as in
    the image's /app/pythonpath; defaults to the config's own directory.
    env: extra environment variables (e.g. secrets the config reads with os.environ).
    """

    config_path: Path
    home: Path | None = None
    pythonpath: Sequence[Path] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def home_dir(self) -> Path:
        return self.home or self.config_path.parent / "superset-home"

    def environment(self) -> dict[str, str]:
        """The processes' whole environment (built, not inherited: no stray SUPERSET_*)."""
        pythonpath = self.pythonpath if self.pythonpath is not None else [self.config_path.parent]
        self.home_dir.mkdir(parents=True, exist_ok=True)
        environment = {
            "PATH": f"{SUPERSET_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.home_dir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "SUPERSET_CONFIG_PATH": str(Path(self.config_path).resolve()),
            "SUPERSET_HOME": str(self.home_dir),
            "PYTHONPATH": os.pathsep.join(str(Path(path).resolve()) for path in pythonpath),
        }
        if "TMPDIR" in os.environ:
            environment["TMPDIR"] = os.environ["TMPDIR"]
        return {**environment, **self.env}

    def command(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run `superset ARGS…`; return its output (stdout and stderr, interleaved)."""
        if not Path(self.config_path).is_file():
            raise SupersetCommandError(f"no Superset config at {self.config_path}")
        command = [str(_superset_executable("superset")), *args]
        try:
            result = subprocess.run(
                command,
                env=self.environment(),
                cwd=self.home_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as timed_out:
            output = timed_out.output or ""
            output = output.decode(errors="replace") if isinstance(output, bytes) else output
            raise SupersetCommandError(
                f"`superset {' '.join(args)}` did not finish within {timeout:.0f}s:\n"
                f"{_tail(output)}"
            ) from None
        if result.returncode != 0:
            raise SupersetCommandError(
                f"`superset {' '.join(args)}` exited with {result.returncode}:\n"
                f"{_tail(result.stdout)}"
            )
        return result.stdout

    def create_admin(
        self, username: str, password: str, email: str | None = None, timeout: float = 120
    ) -> str:
        """`superset fab create-admin`; a no-op (with a message) if the user exists."""
        return self.command(
            "fab",
            "create-admin",
            f"--username={username}",
            f"--password={password}",
            f"--email={email or f'{username}@example.com'}",
            "--firstname=Superset",
            "--lastname=Admin",
            timeout=timeout,
        )


class SupersetServer:
    """
    Superset's web server under gunicorn: one worker process with threads, which is enough
    for tests and keeps one process to stop. port 0 lets gunicorn pick a free port.
    """

    def __init__(
        self,
        superset: Superset,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        log_path: Path | None = None,
    ) -> None:
        self.superset = superset
        self.host = host
        self.port = port  # after start: the port gunicorn listens on
        self.threads = threads
        self.log_path = log_path or superset.home_dir / "webserver.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self) -> SupersetClient:
        return SupersetClient(self.url)

    def start(self) -> SupersetServer:
        command = [
            str(_superset_executable("gunicorn")),
            f"--bind={self.host}:{self.port}",
            "--workers=1",
            "--worker-class=gthread",
            f"--threads={self.threads}",
            "--timeout=120",
            "--graceful-timeout=10",
            # As Superset's image: long rison query strings and big cookies are legitimate
            "--limit-request-line=0",
            "--limit-request-field_size=0",
            "--access-logfile=-",
            "--error-logfile=-",
            "superset.app:create_app()",
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=self.superset.environment(),
                cwd=self.superset.home_dir,  # where gunicorn looks for a gunicorn.conf.py
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to reach its worker too
            )
        deadline = time.monotonic() + START_TIMEOUT
        self.port = self._wait_for_port(log_start, deadline)
        self._wait_for_health(deadline)
        return self

    def stop(self) -> None:
        """SIGTERM lets gunicorn stop its worker gracefully; kill the group only if it hangs."""
        process, self._process = self._process, None
        if not terminate(process, STOP_TIMEOUT, group=True):
            raise SupersetServerError(self._with_log("gunicorn ignored SIGTERM"))

    def __enter__(self) -> SupersetServer:
        return self if self.running else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_for_port(self, log_start: int, deadline: float) -> int:
        while time.monotonic() < deadline:
            self._check_alive()
            with self.log_path.open("rb") as log:
                log.seek(log_start)
                found = LISTENING.search(log.read().decode(errors="replace"))
            if found:
                return int(found.group(1))
            time.sleep(0.1)
        self._fail(f"gunicorn did not listen within {START_TIMEOUT:.0f}s")

    def _wait_for_health(self, deadline: float) -> None:
        last_error = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as reply:
                    body = reply.read().decode()
                    if reply.status == 200 and body == "OK":
                        return
                    last_error = f"{reply.status} {body[:200]}"
            except OSError as error:  # refused, or an HTTP error while the app loads
                last_error = str(error)
            time.sleep(0.2)
        self._fail(
            f"{self.url}/health did not answer OK within {START_TIMEOUT:.0f}s ({last_error})"
        )

    def _check_alive(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            self._fail(f"gunicorn exited with code {self._process.returncode} while starting")

    def _fail(self, reason: str) -> Any:
        if self._process is not None:
            if self._process.poll() is None:
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None
        raise SupersetServerError(self._with_log(reason))

    def _with_log(self, reason: str) -> str:
        return f"{reason} (config {self.superset.config_path}).\nServer log:\n{_tail(self.log())}"


@contextmanager
def running_superset(
    superset: Superset, port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None
) -> Iterator[SupersetServer]:
    """Superset's web server for the duration of the block; port 0 picks a free one."""
    with SupersetServer(superset, host=host, port=port, log_path=log_path) as server:
        yield server


@dataclass
class ApiReply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hand redirects back: the API's 302 to /login/ means a refused call, not a page to load."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class SupersetClient:
    """
    The REST API with a JWT from /api/v1/security/login. Writes also need a CSRF token, bound
    to the session cookie that /api/v1/security/csrf_token/ sets (without it Superset answers
    400 or redirects to /login/): the client fetches it once and sends it with the cookie,
    `X-CSRFToken` and `Referer`.
    """

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.access_token: str | None = None
        self._csrf_token: str | None = None
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _KeepRedirects()
        )

    def login(self, username: str, password: str, provider: str = "db") -> str:
        """
        Log in; return the access token. provider "db" while AUTH_TYPE is OAuth needs
        AUTH_API_LOGIN_ALLOW_MULTIPLE_PROVIDERS = True in the config.
        """
        self.access_token = self._csrf_token = None
        credentials = {"username": username, "password": password, "provider": provider}
        reply = self.post("/api/v1/security/login", {**credentials, "refresh": True})
        self.access_token = reply["access_token"]
        return self.access_token

    def csrf_token(self) -> str:
        if self._csrf_token is None:
            self._csrf_token = self.get("/api/v1/security/csrf_token/")["result"]
        return self._csrf_token

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> ApiReply:
        """Any call, whatever its status: for tests that assert refusals."""
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
            if method.upper() in WRITE_METHODS:
                headers["X-CSRFToken"] = self.csrf_token()
                headers["Referer"] = self.base_url + "/"
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method.upper())
        try:
            with self._opener.open(request, timeout=self.timeout) as reply:
                return ApiReply(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            with error:
                return ApiReply(error.code, dict(error.headers), error.read())

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        params: Mapping[str, str] | None = None,
        expected: Sequence[int] = (200, 201),
    ) -> Any:
        """A call that must answer one of the expected statuses; returns its JSON body."""
        reply = self.request(method, path, payload, params)
        if reply.status not in expected:
            location = reply.headers.get("Location")
            body = f"redirect to {location}" if location else reply.text
            raise SupersetApiError(method.upper(), path, reply.status, body)
        return reply.json() if reply.body else None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, payload: Any) -> Any:
        return self.call("POST", path, payload)

    def put(self, path: str, payload: Any) -> Any:
        return self.call("PUT", path, payload)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


def rendered_superset(root: TutorRoot, home: Path) -> Superset:
    """Superset as the superset plugin renders it in a Tutor root, with superset.env's secrets."""
    apps = root.path / "env" / "plugins" / "superset" / "apps"
    lines = (apps / "superset.env").read_text().splitlines()
    secrets = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return Superset(apps / "pythonpath" / "superset_config.py", home=home, env=secrets)


def superset_job_environment(root: TutorRoot, home: Path) -> dict[str, str]:
    """
    What `tutor local do …` needs to run the superset job natively: the rendered pythonpath
    and asset bundles where the image has them, and a Superset home. The LMS's task
    (registering the OAuth2 application) is skipped: there is no LMS to run it in.
    """
    plugin = root.path / "env" / "plugins" / "superset"
    return {
        "PYTHONPATH": str(plugin / "apps" / "pythonpath"),
        "SUPERSET_HOME": str(home),
        "SUPERSET_ASSETS_DIR": str(plugin / "build" / "superset" / "assets"),
        "TUTOR_DOCKER_SHIM_SKIP": "lms-job",
    }


def dev_superset(root: TutorRoot, home: Path) -> Superset:
    """
    Superset as `tutor dev` runs it: the rendered configuration, with the environment that the
    compose files of `tutor dev` give the `superset` service (superset.env, then the dev
    compose file's own values).
    """
    apps = root.path / "env" / "plugins" / "superset" / "apps"
    environment = root.compose_config(dev=True)["services"]["superset"]["environment"]
    env = {key: str(value) for key, value in environment.items()}
    return Superset(apps / "pythonpath" / "superset_config.py", home=home, env=env)


def lms_oauth2_applications(root: TutorRoot, dev: bool = False) -> list[dict[str, Any]]:
    """
    The OAuth2 applications that the superset plugin's LMS init task registers, by running the
    Python of its rendered script as the lms-job service of `tutor local` (or `tutor dev`) would:
    with that service's Django settings module and the client secret of the LMS settings file
    rendered for it. Each application: name, user, client_id, client_secret, redirect_uris,
    grant_type, scopes, skip_authorization.
    """
    [lms_script] = [script for service, script in root.init_scripts("superset") if service == "lms"]
    code = lms_script.split("<<'PYTHON'\n", 1)[1].split("\nPYTHON\n", 1)[0]
    job = root.compose_config(jobs=True, dev=dev)["services"]["lms-job"]
    settings_module = job["environment"]["DJANGO_SETTINGS_MODULE"]
    rendered = root.env_file(
        "apps", "openedx", "settings", "lms", settings_module.rsplit(".", 1)[1] + ".py"
    )
    [secret] = re.findall(r"^SUPERSET_OAUTH2_CLIENT_SECRET = (.+)$", rendered, re.MULTILINE)
    calls: list[tuple[str, ...]] = []
    conf = types.ModuleType("django.conf")
    conf.settings = types.SimpleNamespace(  # type: ignore[attr-defined]
        SETTINGS_MODULE=settings_module, SUPERSET_OAUTH2_CLIENT_SECRET=ast.literal_eval(secret)
    )
    management = types.ModuleType("django.core.management")
    management.call_command = lambda *args: calls.append(args)  # type: ignore[attr-defined]
    django = {
        "django": types.ModuleType("django"),
        "django.conf": conf,
        "django.core": types.ModuleType("django.core"),
        "django.core.management": management,
    }
    with mock.patch.dict(sys.modules, django), contextlib.redirect_stdout(io.StringIO()):
        exec(code, {})  # noqa: S102 - the rendered task, with Django's pieces standing in
    applications = []
    for command, *args in calls:
        assert command == "create_dot_application", command
        options: dict[str, Any] = {"skip_authorization": "--skip-authorization" in args}
        positional = []
        rest = [arg for arg in args if arg not in ("--skip-authorization", "--update")]
        while rest:
            arg = rest.pop(0)
            if arg.startswith("--"):
                options[arg[2:].replace("-", "_")] = rest.pop(0)
            else:
                positional.append(arg)
        options["name"], options["user"] = positional
        options["redirect_uris"] = options["redirect_uris"].split()
        applications.append(options)
    return applications
