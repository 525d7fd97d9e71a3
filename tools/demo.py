"""
`make demo`: the Open edX Aspects analytics stack, run natively on this machine (no Docker),
for a first look at the dashboards.

    python tools/demo.py [--statements N]

Everything lives in $DEMO_ROOT (default: .demo/ in the repository):

- tutor/: a Tutor root with the four plugins enabled, every service on 127.0.0.1, on ports
  chosen once (on the first start) and saved in its config.yml (the LMS's in LMS_HOST);
- clickhouse/, mariadb/, superset-home/, lms/: the data of the embedded ClickHouse server,
  MariaDB (Superset's metadata database), Superset and the demo LMS; Redis (Superset's cache)
  keeps nothing;
- demo-accounts.json: the passwords of the demo LMS's accounts, made on the first start;
- logs/: one log per service, and jobs.log with the output of every Tutor command.

The services are the test harness' (tests/harness/). Then the plugins' rendered init jobs run
for real through `tutor local do` (the harness' docker stand-in runs them on this machine):
ClickHouse databases, users, schema and models, the Ralph check, then Superset's database,
admin, roles, ClickHouse connection and dashboards. Test statements go through Ralph, as the
LMS sends them, on the first start only; dbt builds the reporting models, and runs again every
ASPECTS_DBT_RUN_INTERVAL_MINUTES, like the aspects-dbt service.

Superset signs people in through the LMS, as in production: here the stand-in LMS of the tests
(tests/harness/lms), with the courses of the test data and three accounts: global staff
(Superset's Admin), the instructor of one course and a learner (refused). The demo then prints
the URLs and the accounts and runs until Ctrl-C (or SIGTERM), which stops every service.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.harness.fixtures import (  # noqa: E402
    ClickHouseServer,
    ClickHouseServerError,
    running_clickhouse,
)
from tests.harness.lms import LmsError, running_lms, superset_client_options  # noqa: E402
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

PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
HOST = "127.0.0.1"
# Chosen free on the first start, then read back from config.yml.
PORT_SETTINGS = ["CLICKHOUSE_HTTP_PORT", "RALPH_PORT", "MYSQL_PORT", "REDIS_PORT", "SUPERSET_PORT"]
HOST_SETTINGS = ["CLICKHOUSE_HOST", "RALPH_HOST", "MYSQL_HOST", "REDIS_HOST"]
LOADED_MARKER = "test-data-loaded"
ACCOUNTS_FILE = "demo-accounts.json"
READY = "The Aspects demo is ready."
DEFAULT_STATEMENTS = 10_000
STAFF, INSTRUCTOR, LEARNER = "global_staff", "instructor", "learner"
# The courses of the test data, as the LMS would know them: every course someone enrolled in
# (its key from the course's IRI, {lms_url}/course/{key}), busiest first.
COURSES_SQL = """
SELECT
    replaceRegexpOne(JSONExtractString(event, 'object', 'id'), '^.*/course/', '') AS course_key,
    any(JSONExtractString(event, 'object', 'definition', 'name', 'en')) AS name,
    uniqExact(JSONExtractString(event, 'actor', 'account', 'name')) AS learners
FROM {table}
WHERE JSONExtractString(event, 'verb', 'id') = 'http://adlnet.gov/expapi/verbs/registered'
GROUP BY course_key
ORDER BY learners DESC, course_key
"""


class Stop(Exception):
    """Ctrl-C or SIGTERM: stop every service."""


def stop_on_signal(signum: int, _frame: Any) -> None:
    # Once stopping, a second Ctrl-C must not cut the clean stop of the remaining services.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def say(message: str) -> None:
    print(message, flush=True)


def courses_in_test_data(
    clickhouse: ClickHouseServer, config: dict[str, Any]
) -> list[tuple[str, str]]:
    """The key and name of every course of the loaded test data, busiest first."""
    table = f"{config['ASPECTS_XAPI_DATABASE']}.{config['ASPECTS_RAW_XAPI_TABLE']}"
    rows = clickhouse.client().query(COURSES_SQL.format(table=table)).result_rows
    if not rows:
        raise RuntimeError(f"no course in the test data ({table} has no enrollment)")
    return [(key, name) for key, name, _ in rows]


def demo_people(courses: list[tuple[str, str]], passwords: dict[str, str]) -> dict[str, Any]:
    """The demo LMS's courses and accounts (see tests/harness/lms/people.py)."""
    (instructor_course, _), *_ = courses

    def account(username: str, name: str, **fields: Any) -> dict[str, Any]:
        return {
            "username": username,
            "password": passwords[username],
            "email": f"{username}@example.com",
            "name": name,
            "is_staff": False,
            "is_superuser": False,
            **fields,
        }

    return {
        "courses": [{"id": key, "name": name} for key, name in courses],
        "users": [
            account(STAFF, "Grace Staff", is_staff=True),
            account(INSTRUCTOR, "Ines Instructor", courses={"instructor": [instructor_course]}),
            account(LEARNER, "Leo Learner"),
        ],
    }


class Demo:
    def __init__(self, directory: Path, statements: int) -> None:
        self.directory = directory
        self.statements = statements
        self.logs = directory / "logs"
        self.root = TutorRoot(directory / "tutor")
        self.job_dir = str(self.root.path / "env" / "plugins" / "aspects" / "build" / "aspects")

    def configure(self) -> dict[str, Any]:
        """
        Save the Tutor root (ports from its config.yml, or free ones on the first start);
        every setting, as Tutor renders templates with it.
        """
        saved = self.root.config() if (self.root.path / "config.yml").exists() else {}
        saved_ports = {key: int(saved[key]) for key in PORT_SETTINGS if key in saved}
        # The LMS has no port setting: its port is the one in LMS_HOST.
        lms_host, _, lms_port = str(saved.get("LMS_HOST", "")).partition(":")
        if lms_host == HOST and lms_port.isdigit():
            saved_ports["LMS"] = int(lms_port)
        ports = dict(saved_ports)
        for key in [*PORT_SETTINGS, "LMS"]:
            while key not in ports:
                port = free_port(HOST)
                if port not in ports.values():
                    ports[key] = port
        lms_url = f"http://{HOST}:{ports.pop('LMS')}"
        settings: dict[str, Any] = {key: HOST for key in HOST_SETTINGS}
        # Superset's single sign-on through the demo LMS: the settings the SSO tests use.
        settings |= {
            "LMS_HOST": lms_url.removeprefix("http://"),
            "SUPERSET_HOST": f"{HOST}:{ports['SUPERSET_PORT']}",
            "SUPERSET_LMS_INTERNAL_URL": lms_url,
            "JWT_COMMON_ISSUER": f"{lms_url}/oauth2",
        }
        self.root.path.mkdir(parents=True, exist_ok=True)
        self.root.save(PLUGINS, {**settings, **ports})
        return self.root.loaded_config()

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

    def passwords(self) -> dict[str, str]:
        """The demo accounts' passwords: made on the first start, then read back."""
        path = self.directory / ACCOUNTS_FILE
        if path.exists():
            return json.loads(path.read_text())
        passwords = {
            username: secrets.token_urlsafe(9) for username in (STAFF, INSTRUCTOR, LEARNER)
        }
        path.write_text(json.dumps(passwords, indent=2) + "\n")
        path.chmod(0o600)
        return passwords

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
    def running(self) -> Iterator[tuple[dict[str, str], list[str]]]:
        """Every service started and initialised; yields what to print."""
        self.logs.mkdir(parents=True, exist_ok=True)
        say(f"Configuring the Tutor root {self.root.path}")
        config = self.configure()
        self.dbt_interval_minutes = int(config["ASPECTS_DBT_RUN_INTERVAL_MINUTES"])
        with ExitStack() as stack:
            try:
                yield self.start(stack, config)
            finally:
                say("Stopping every service")

    def start(self, stack: ExitStack, config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        """
        Start and initialise every service, each stopped by `stack`; the URLs and the demo
        accounts to print.
        """
        say("Starting ClickHouse, MariaDB and Redis")
        clickhouse = stack.enter_context(
            running_clickhouse(
                self.directory / "clickhouse",
                user=config["CLICKHOUSE_ADMIN_USER"],
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
        mariadb.root_user = config["MYSQL_ROOT_USERNAME"]
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
        courses = courses_in_test_data(clickhouse, config)
        passwords = self.passwords()
        say(f"Starting the demo LMS ({len(courses)} courses of the test data, three accounts)")
        lms = stack.enter_context(
            running_lms(
                self.directory / "lms",
                demo_people(courses, passwords),
                [f"http://{config['SUPERSET_HOST']}/oauth-authorized/openedxsso"],
                host=HOST,
                port=int(config["LMS_HOST"].rsplit(":", 1)[1]),
                log_path=self.logs / "lms.log",
                **superset_client_options(config),
            )
        )
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
        sign_in_url = f"{superset.url}/login/openedxsso"  # what its "Sign in" button opens
        urls = {
            "Superset": f"{superset.url}  (sign in through the LMS: {sign_in_url})",
            "LMS": f"{lms.url}  (the demo LMS: its login page, OAuth2 and course API)",
            "Ralph": f"{ralph_url}  (xAPI statements: {ralph_url}/xAPI/statements, "
            f"as {config['RALPH_LMS_USERNAME']}, password {config['RALPH_LMS_PASSWORD']})",
            "ClickHouse": f"{clickhouse.url}  (user {clickhouse.user}, "
            f"password {clickhouse.password})",
        }
        (key, name), *_ = courses
        accounts = [
            f"{STAFF}, password {passwords[STAFF]}: global staff, Superset's Admin: every "
            f"course's rows ({len(courses)} courses)",
            f"{INSTRUCTOR}, password {passwords[INSTRUCTOR]}: instructor of {key} ({name}) "
            f"only, {config['SUPERSET_COURSE_STAFF_ROLE']} in Superset: the dashboards, with "
            "that course's rows only",
            f"{LEARNER}, password {passwords[LEARNER]}: a learner, with no course role: "
            "refused (403 page)",
        ]
        return urls, accounts

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
    errors += (LmsError,)
    try:
        with demo.running() as (urls, accounts):
            width = max(map(len, urls))
            say(READY)
            for name, url in urls.items():
                say(f"  {name + ':':<{width + 1}} {url}")
            say("Demo accounts, to sign in to Superset through the LMS:")
            for account in accounts:
                say(f"  {account}")
            say(f"Data and logs: {directory} (logs/). Press Ctrl-C to stop.")
            demo.run_dbt_every(demo.dbt_interval_minutes)
    except Stop:
        say("Stopped.")
        return 0
    except (*errors, RuntimeError) as error:
        say(f"The demo failed: {error}\nLogs: {demo.logs}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
