"""
The analytics stack that the data benchmarks run on, as the tests run it: the embedded
ClickHouse server, a Tutor root with clickhouse, ralph and aspects enabled and pointed at it,
the rendered init job (databases, users, migrations, dbt models) run by `tutor local do
init-clickhouse`, and Ralph run natively from the rendered settings when asked for.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "tutor-contrib-aspects"))

from tests.harness.fixtures import ClickHouseServer, running_clickhouse  # noqa: E402
from tests.harness.mariadb import running_mariadb  # noqa: E402
from tests.harness.processes import free_port  # noqa: E402
from tests.harness.ralph import running_ralph  # noqa: E402
from tests.harness.redis import running_redis  # noqa: E402
from tests.harness.superset import superset_job_environment  # noqa: E402
from tests.harness.tutor import TutorRoot  # noqa: E402
from tutoraspects.job import xapi_generator  # noqa: E402

LMS_URL = "http://local.openedx.io"
LOAD_PART = 1_000_000
# An instance of twenty courses (four organisations of five): each chart reads one of them.
COURSE_SHAPE = {"orgs": 4, "courses_per_org": 5}
RAW_TABLE = "xapi.xapi_events_all"
PARSED_TABLE = "reporting.xapi_events_parsed"
# The reporting models that dashboards read (xapi_events_parsed is their common input).
REPORTING_MODELS = [
    "course_enrollments_daily",
    "course_active_learners",
    "navigation_daily",
    "video_engagement",
    "problem_performance",
    "problem_score_distribution",
    "learner_course_status",
    "at_risk_learners",
    "ingestion_hourly",
]


@dataclass
class Stack:
    server: ClickHouseServer
    root: TutorRoot
    job_dir: str
    directory: Path
    init_seconds: float = 0.0
    ralph_url: str = ""
    statements: int = 0  # loaded by load_statements
    load_parts: int = 0
    init_steps: dict[str, float] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    superset: bool = False  # the superset plugin enabled, Superset initialised

    def superset_job(self, *args: str) -> str:
        """`tutor local do ARGS` of the superset job, run natively; its output."""
        environment = superset_job_environment(self.root, self.directory / "superset-home")
        result = self.root.run("local", "do", *args, **environment)
        return result.stdout + result.stderr

    def setting(self, key: str) -> str:
        """A setting of the root, defaults included (config.yml holds only what was set)."""
        if key not in self.settings:
            self.settings[key] = self.root.value(key)
        return self.settings[key]

    def init(self) -> tuple[float, str]:
        """
        What the aspects init job runs, as `do` commands (the init of the aspects plugin also
        configures the LMS, which does not run here): schema migrations, then the dbt models
        changed since the last complete run. Its duration and output; the duration of each
        step in init_steps.
        """
        output = ""
        self.init_steps = {}
        for command in (["alembic", "upgrade", "head"], ["dbt", "changed"]):
            started = time.perf_counter()
            result = self.root.run("local", "do", *command, ASPECTS_JOB_DIR=self.job_dir)
            self.init_steps[" ".join(command)] = time.perf_counter() - started
            output += result.stdout + result.stderr
        return sum(self.init_steps.values()), output

    def dbt(self, *args: str) -> tuple[float, list[dict[str, Any]]]:
        """`tutor local do dbt ARGS`: its duration and dbt's run results."""
        started = time.perf_counter()
        self.root.run("local", "do", "dbt", *args, ASPECTS_JOB_DIR=self.job_dir)
        return time.perf_counter() - started, self.run_results()

    def run_results(self) -> list[dict[str, Any]]:
        path = Path(self.job_dir) / "dbt" / "target" / "run_results.json"
        return json.loads(path.read_text())["results"] if path.exists() else []

    def query(self, sql: str, output_format: str = "JSONCompact") -> Any:
        """One statement over HTTP as the admin; rows of JSONCompact output, else the text."""
        request = urllib.request.Request(
            f"{self.server.url}/?default_format={output_format}",
            data=sql.encode(),
            headers={
                "X-ClickHouse-User": self.server.user,
                "X-ClickHouse-Key": self.server.password,
            },
        )
        with urllib.request.urlopen(request, timeout=3600) as reply:
            text = reply.read().decode()
        return json.loads(text)["data"] if output_format == "JSONCompact" and text else text

    def value(self, sql: str) -> Any:
        return self.query(sql)[0][0]

    def load_statements(self, count: int) -> float:
        """
        Generated statements straight into the raw table (the reporting models' materialized
        view parses them on the way): written as JSON lines, then read by the engine itself,
        so that loading a million costs the engine's time and not a client's. In parts of at
        most LOAD_PART statements (a seed each: other learners, the same courses), so that the
        files stay small. Seconds taken.
        """
        started = time.perf_counter()
        path = self.directory / "statements.jsonl"
        for start in range(0, count, LOAD_PART):
            size = min(LOAD_PART, count - start)
            self.load_parts += 1
            config = xapi_generator.sized_config(
                size, seed=self.load_parts, lms_url=LMS_URL, **COURSE_SHAPE
            )
            with path.open("w", encoding="utf-8") as stream:
                self.statements += xapi_generator.write_jsonl(config, stream)
            self.query(
                f"INSERT INTO {RAW_TABLE} (event_id, emission_time, event) "
                "SELECT toUUID(JSONExtractString(line, 'id')), "
                "parseDateTime64BestEffort(JSONExtractString(line, 'timestamp'), 6, 'UTC'), line "
                f"FROM file('{path}', 'JSONAsString', 'line String')",
                output_format="TabSeparated",
            )
        path.unlink(missing_ok=True)
        return time.perf_counter() - started


@contextmanager
def analytics_stack(
    directory: Path, ralph: bool = False, superset: bool = False
) -> Iterator[Stack]:
    """
    The stack on an empty server in `directory`, initialised; Ralph running if `ralph`; if
    `superset`, the superset plugin too, its init job run against MariaDB and Redis (the
    English dashboards imported), for its `do` commands (Superset's web server is not started).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ralph_port = free_port()
    with ExitStack() as running:
        server = running.enter_context(running_clickhouse(directory / "clickhouse"))
        plugins = ["clickhouse", "ralph", "aspects"]
        settings = {**server.tutor_settings(), "RALPH_HOST": "127.0.0.1", "RALPH_PORT": ralph_port}
        if superset:
            mariadb = running.enter_context(running_mariadb(directory / "mariadb"))
            redis = running.enter_context(running_redis(directory / "redis"))
            plugins.append("superset")
            settings |= {
                **redis.tutor_settings(),
                "MYSQL_HOST": mariadb.host,
                "MYSQL_PORT": mariadb.port,
                "MYSQL_ROOT_USERNAME": mariadb.root_user,
                "MYSQL_ROOT_PASSWORD": mariadb.root_password,
                "SUPERSET_DASHBOARD_LOCALES": ["en"],
            }
        root = TutorRoot(directory / "root").save(plugins, settings)
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        stack = Stack(server, root, job_dir, directory, superset=superset)
        # Databases and users, as the admin (the clickhouse init job).
        root.run("local", "do", "init", "--limit", "clickhouse")
        stack.init_seconds, output = stack.init()
        if "Completed successfully" not in output:
            raise RuntimeError(f"init-clickhouse did not build the models:\n{output}")
        if ralph:
            stack.ralph_url = running.enter_context(running_ralph(root, ralph_port))
        if superset:
            output = stack.superset_job("init", "--limit", "superset")
            if "Asset bundle aspects:" not in output:
                raise RuntimeError(f"Superset's init imported no dashboard:\n{output[-3000:]}")
        yield stack
