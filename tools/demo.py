"""
`make demo`: the Open edX Aspects analytics stack, run natively on this machine (no Docker),
for a first look at the dashboards.

    python tools/demo.py [--statements N]

Everything lives in $DEMO_ROOT (default: .demo/ in the repository):

- tutor/: a Tutor root with the four plugins enabled, every service on 127.0.0.1, on ports
  chosen once (on the first start) and saved in its config.yml;
- clickhouse/, mariadb/, superset-home/: the data of the embedded ClickHouse server, MariaDB
  (Superset's metadata database) and Superset; Redis (Superset's cache) keeps nothing;
- logs/: one log per service, and jobs.log with the output of every Tutor command.

The services are the test harness' (tests/harness/). Then the plugins' rendered init jobs run
for real through `tutor local do` (the harness' docker stand-in runs them on this machine):
ClickHouse databases, users, schema and models, the Ralph check, then Superset's database,
admin, roles, ClickHouse connection and dashboards. Test statements go through Ralph, as the
LMS sends them, on the first start only; dbt builds the reporting models, and runs again every
ASPECTS_DBT_RUN_INTERVAL_MINUTES, like the aspects-dbt service. The demo then prints the URLs
and the Superset login and runs until Ctrl-C (or SIGTERM), which stops every service.

Superset signs people in through the LMS; there is none here, so a demo-only plugin
(tools/demo_plugins/demologin.py) gives Superset its own login form for the admin user.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.harness.fixtures import ClickHouseServerError, running_clickhouse  # noqa: E402
from tests.harness.mariadb import MariaDBError, MariaDBServer  # noqa: E402
from tests.harness.processes import free_port  # noqa: E402
from tests.harness.ralph import running_ralph  # noqa: E402
from tests.harness.redis import RedisError, running_redis  # noqa: E402
from tests.harness.superset import (  # noqa: E402
    Superset,
    SupersetServerError,
    rendered_superset,
    running_superset,
    superset_job_environment,
)
from tests.harness.tutor import TutorError, TutorRoot  # noqa: E402

PLUGINS = ["clickhouse", "ralph", "superset", "aspects", "demologin"]
DEMO_PLUGINS = REPOSITORY / "tools" / "demo_plugins"
HOST = "127.0.0.1"
# Chosen free on the first start, then read back from config.yml.
PORT_SETTINGS = ["CLICKHOUSE_HTTP_PORT", "RALPH_PORT", "MYSQL_PORT", "REDIS_PORT", "SUPERSET_PORT"]
HOST_SETTINGS = ["CLICKHOUSE_HOST", "RALPH_HOST", "MYSQL_HOST", "REDIS_HOST"]
LOADED_MARKER = "test-data-loaded"
READY = "The Aspects demo is ready."
DEFAULT_STATEMENTS = 10_000


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop every service."""


def stop_on_signal(signum: int, _frame: Any) -> None:
    # Once stopping, a second Ctrl-C must not cut the clean stop of the remaining services.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def say(message: str) -> None:
    print(message, flush=True)


class Demo:
    def __init__(self, directory: Path, statements: int) -> None:
        self.directory = directory
        self.statements = statements
        self.logs = directory / "logs"
        self.root = TutorRoot(directory / "tutor", plugins_root=DEMO_PLUGINS)
        self.job_dir = str(self.root.path / "env" / "plugins" / "aspects" / "build" / "aspects")

    def configure(self) -> dict[str, Any]:
        """Save the Tutor root: ports from its config.yml, or free ones on the first start."""
        saved = self.root.config() if (self.root.path / "config.yml").exists() else {}
        ports: dict[str, int] = {}
        for key in PORT_SETTINGS:
            if key in saved:
                ports[key] = int(saved[key])
                continue
            port = free_port(HOST)
            while port in ports.values():
                port = free_port(HOST)
            ports[key] = port
        settings: dict[str, Any] = {key: HOST for key in HOST_SETTINGS}
        self.root.path.mkdir(parents=True, exist_ok=True)
        self.root.save(PLUGINS, {**settings, **ports})
        return self.root.config()

    def job(self, title: str, *args: str, **env: str) -> str:
        """A Tutor command, its output appended to logs/jobs.log."""
        say(f"{title}: tutor {' '.join(args)}")
        started = time.monotonic()
        result = self.root.run(*args, check=False, **env)
        output = result.stdout + result.stderr
        with (self.logs / "jobs.log").open("a", encoding="utf-8") as log:
            log.write(f"$ tutor {' '.join(args)}\n{output}\n")
        if result.returncode != 0:
            tail = "\n".join(output.splitlines()[-30:])
            raise TutorError(f"tutor {' '.join(args)} exited with {result.returncode}:\n{tail}")
        say(f"    done in {time.monotonic() - started:.0f}s")
        return output

    def aspects_job(self, title: str, *args: str) -> str:
        return self.job(title, "local", "do", *args, ASPECTS_JOB_DIR=self.job_dir)

    def superset(self) -> Superset:
        return rendered_superset(self.root, self.directory / "superset-home")

    def init_superset(self) -> None:
        self.job(
            "Superset: metadata database, admin, roles, ClickHouse connection, dashboards",
            *("local", "do", "init", "--limit", "superset"),
            **superset_job_environment(self.root, self.directory / "superset-home"),
        )

    def load_test_data(self) -> None:
        marker = self.directory / LOADED_MARKER
        if marker.exists():
            loaded = marker.read_text().strip()
            say(f"Test data already loaded ({loaded} statements): skipped loading it again.")
            return
        self.aspects_job(
            f"Loading {self.statements} test statements through Ralph",
            *("load-xapi-test-data", "--statements", str(self.statements)),
        )
        marker.write_text(f"{self.statements}\n")

    @contextmanager
    def running(self) -> Iterator[dict[str, str]]:
        """Every service started and initialised; yields what to print."""
        self.logs.mkdir(parents=True, exist_ok=True)
        say(f"Configuring the Tutor root {self.root.path}")
        config = self.configure()
        with ExitStack() as stack:
            try:
                yield self.start(stack, config)
            finally:
                say("Stopping every service")

    def start(self, stack: ExitStack, config: dict[str, Any]) -> dict[str, str]:
        """Start and initialise every service, each stopped by `stack`; what to print."""
        value = self.root.value
        say("Starting ClickHouse, MariaDB and Redis")
        clickhouse = stack.enter_context(
            running_clickhouse(
                self.directory / "clickhouse",
                user=value("CLICKHOUSE_ADMIN_USER"),
                password=config["CLICKHOUSE_ADMIN_PASSWORD"],
                host=HOST,
                port=config["CLICKHOUSE_HTTP_PORT"],
                log_path=self.logs / "clickhouse.log",
            )
        )
        mariadb = MariaDBServer(
            self.directory / "mariadb",
            HOST,
            config["MYSQL_PORT"],
            log_path=self.logs / "mariadb.log",
        )
        mariadb.root_user = value("MYSQL_ROOT_USERNAME")
        mariadb.root_password = config["MYSQL_ROOT_PASSWORD"]
        stack.enter_context(mariadb)
        stack.enter_context(
            running_redis(
                self.directory / "redis",
                port=config["REDIS_PORT"],
                log_path=self.logs / "redis.log",
            )
        )
        self.aspects_job("ClickHouse: databases, users, schema and models", "init-clickhouse")
        say("Starting Ralph")
        ralph_url = stack.enter_context(
            running_ralph(self.root, config["RALPH_PORT"], log_path=self.logs / "ralph.log")
        )
        self.job("Ralph: its users log in", "local", "do", "init", "--limit", "ralph")
        self.load_test_data()
        self.aspects_job("Building the reporting models", "dbt", "run")
        self.init_superset()
        say("Starting Superset")
        superset = stack.enter_context(
            running_superset(
                self.superset(),
                port=config["SUPERSET_PORT"],
                host=HOST,
                log_path=self.logs / "superset.log",
            )
        )
        return {
            "Superset": f"{superset.url}  (log in as {value('SUPERSET_ADMIN_USERNAME')}, "
            f"password {value('SUPERSET_ADMIN_PASSWORD')})",
            "Ralph": f"{ralph_url}  (xAPI statements: {ralph_url}/xAPI/statements, "
            f"as {value('RALPH_LMS_USERNAME')}, password {config['RALPH_LMS_PASSWORD']})",
            "ClickHouse": f"{clickhouse.url}  (user {clickhouse.user}, "
            f"password {clickhouse.password})",
        }

    def run_dbt_every(self, minutes: int) -> None:
        """Wait for Ctrl-C; meanwhile bring new statements into the models, as aspects-dbt does."""
        while True:
            time.sleep(minutes * 60 if minutes > 0 else 3600)
            if minutes > 0:
                self.aspects_job("Scheduled run of the reporting models", "dbt", "run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--statements",
        type=int,
        default=int(os.environ.get("DEMO_STATEMENTS", DEFAULT_STATEMENTS)),
        help="test statements to load on the first start (default: $DEMO_STATEMENTS or "
        f"{DEFAULT_STATEMENTS})",
    )
    args = parser.parse_args(argv)
    directory = Path(os.environ.get("DEMO_ROOT") or REPOSITORY / ".demo").resolve()
    signal.signal(signal.SIGINT, stop_on_signal)
    signal.signal(signal.SIGTERM, stop_on_signal)
    demo = Demo(directory, args.statements)
    errors = (TutorError, ClickHouseServerError, MariaDBError, RedisError, SupersetServerError)
    try:
        with demo.running() as urls:
            width = max(map(len, urls))
            say(READY)
            for name, url in urls.items():
                say(f"  {name + ':':<{width + 1}} {url}")
            say(f"Data and logs: {directory} (logs/). Press Ctrl-C to stop.")
            demo.run_dbt_every(int(demo.root.value("ASPECTS_DBT_RUN_INTERVAL_MINUTES")))
    except Stop:
        say("Stopped.")
        return 0
    except (*errors, RuntimeError) as error:
        say(f"The demo failed: {error}\nLogs: {demo.logs}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
