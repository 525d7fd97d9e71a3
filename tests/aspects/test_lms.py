"""
The LMS and CMS side of Aspects: the Open edX image's packages, the settings that turn on xAPI
statements in batches towards Ralph, the init task that makes Ralph the router of
event-routing-backends, and the `do` commands that replay tracking logs and backfill course data.

The init task and the `do` commands run through `tutor local do` and the docker stand-in against
a stand-in edx-platform `manage.py` (tests/aspects/openedx_standin) with the real
event-routing-backends and platform-plugin-aspects from .venv-openedx, on SQLite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.harness.processes import free_port
from tests.harness.secrets import found_in, secret_values
from tests.harness.tutor import BIN, REPOSITORY, TutorRoot, check_posix_script

ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
STANDIN = Path(__file__).parent / "openedx_standin"
OPENEDX_BIN = REPOSITORY / ".venv-openedx" / "bin"
ASPECTS_BLOCK = re.compile(
    r"^# Open edX Aspects:.*?^# End of the Open edX Aspects[^\n]*$", re.MULTILINE | re.DOTALL
)
ROUTER_TASK = "event-routing-backends to send xAPI statements to Ralph"


@pytest.fixture(scope="module")
def root(make_root) -> TutorRoot:
    return make_root(ALL_PLUGINS)


def aspects_settings(root: TutorRoot, service: str) -> dict[str, t.Any]:
    """The settings our patches put in a service's rendered settings file, as Python reads them."""
    rendered = root.env_file("apps", "openedx", "settings", service, "production.py")
    compile(rendered, f"{service}/production.py", "exec")  # the whole file is valid Python
    settings: dict[str, t.Any] = {}
    for block in ASPECTS_BLOCK.findall(rendered):
        exec(block, {}, settings)  # noqa: S102 - rendered settings, loaded as Django would
    return settings


class OpenedxStandIn:
    """A stand-in edx-platform folder where Tutor's lms-job and cms-job run, with its database."""

    def __init__(self, root: TutorRoot, directory: Path) -> None:
        self.root = root
        self.directory = directory
        self.log = directory / "manage.log"
        shutil.copytree(STANDIN, directory, dirs_exist_ok=True)
        self.manage("migrate", "--verbosity", "0")

    def environ(self) -> dict[str, str]:
        env = self.root.environ(
            # The aspects job (ClickHouse schema) has its own tests.
            TUTOR_DOCKER_SHIM_SKIP="aspects-job",
            OPENEDX_STANDIN_DATABASE=str(self.directory / "openedx.sqlite3"),
            OPENEDX_STANDIN_SETTINGS_DIR=str(
                self.root.path / "env" / "apps" / "openedx" / "settings"
            ),
            OPENEDX_STANDIN_LOG=str(self.log),
        )
        env["TUTOR_DOCKER_SHIM_IMAGE_PATHS"] = json.dumps(
            {"lms-job": [str(OPENEDX_BIN)], "cms-job": [str(OPENEDX_BIN)]}
        )
        return env

    def tutor(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Tutor command run from the stand-in folder, as the jobs' working directory."""
        result = subprocess.run(
            [str(BIN / "tutor"), *args],
            cwd=self.directory,
            env=self.environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def manage(self, *args: str, **environ: str) -> str:
        # The test's own calls are not the jobs': they are not logged.
        env = dict(self.environ(), SERVICE_VARIANT="lms", OPENEDX_STANDIN_LOG="", **environ)
        return subprocess.run(
            [str(OPENEDX_BIN / "python"), str(self.directory / "manage.py"), "lms", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def routers(self) -> list[dict[str, t.Any]]:
        """Every RouterConfiguration entry, oldest first, fields decrypted; and which is current."""
        code = (
            "import json\n"
            "from event_routing_backends.models import RouterConfiguration as R\n"
            "current = set(R.objects.current_set().values_list('id', flat=True))\n"
            "rows = [dict(id=r.id, route_url=r.route_url, backend_name=r.backend_name,\n"
            "    enabled=r.enabled, auth_scheme=r.auth_scheme, username=r.username,\n"
            "    password=r.password, current=r.id in current)\n"
            "    for r in R.objects.order_by('id')]\n"
            "print('ROUTERS ' + json.dumps(rows))\n"
        )
        output = self.manage("shell", "--command", code)
        return json.loads(output.split("ROUTERS ", 1)[1])

    def calls(self) -> list[dict[str, t.Any]]:
        """The manage.py calls made by jobs, in order."""
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines]


def rendered_tasks(root: TutorRoot, *args: str) -> list[tuple[str, str]]:
    """
    The tasks of `tutor local do ARGS` (of `do init`, Tutor's own included, without ARGS),
    rendered as Tutor renders them before running them.
    """
    code = (
        "import json, sys\n"
        "import tutor.commands.jobs\n"
        "from tutor import config, env, hooks\n"
        "hooks.Actions.CORE_READY.do()\n"
        "hooks.Actions.PROJECT_ROOT_READY.do(sys.argv[1])\n"
        "conf = config.load(sys.argv[1])\n"
        "if sys.argv[2:]:\n"
        "    commands = {c.name: c for c in hooks.Filters.CLI_DO_COMMANDS.iterate()}\n"
        "    command = commands[sys.argv[2]]\n"
        "    params = command.make_context(sys.argv[2], sys.argv[3:]).params\n"
        "    # The command's own callback, without the runner that Tutor wraps around it.\n"
        "    tasks = getattr(command.callback, '__wrapped__', command.callback)(**params)\n"
        "else:\n"
        "    tasks = hooks.Filters.CLI_DO_INIT_TASKS.iterate()\n"
        "print(json.dumps([(s, env.render_str(conf, t)) for s, t in tasks]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(root.path), *args],
        env=root.environ(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(task) for task in json.loads(result.stdout)]


# Rendering


def test_the_openedx_image_installs_the_releases_these_tests_run(root: TutorRoot) -> None:
    dockerfile = root.env_file("build", "openedx", "Dockerfile")
    config = root.loaded_config()
    pins = [
        config["ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT"],
        config["ASPECTS_PLATFORM_PLUGIN_REQUIREMENT"],
    ]
    assert pins == ["edx-event-routing-backends==10.1.0", "platform-plugin-aspects==2.1.0"]
    assert f"$PIP_COMMAND install '{pins[0]}' '{pins[1]}'" in dockerfile
    # The stand-in's virtualenv holds the same releases (its Python aside: docs/testing.md).
    report = subprocess.run(
        [
            str(OPENEDX_BIN / "python"),
            "-c",
            "import sys, importlib.metadata as m; print(sys.version.split()[0], "
            "*(f'{n}=={m.version(n)}' for n in sys.argv[1:]))",
            *(pin.split("==")[0] for pin in pins),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(f"The LMS-side tests run on Python {report[0]}: {', '.join(report[1:])}")
    assert report[1:] == pins


def test_lms_and_cms_send_xapi_statements_to_ralph_in_batches(root: TutorRoot) -> None:
    config = root.config()
    lms, cms = aspects_settings(root, "lms"), aspects_settings(root, "cms")
    for settings in (lms, cms):
        assert settings["XAPI_EVENTS_ENABLED"] is True
        assert settings["EVENT_ROUTING_BACKEND_BATCHING_ENABLED"] is True
        assert settings["EVENT_ROUTING_BACKEND_BATCH_SIZE"] == 100
        assert settings["EVENT_ROUTING_BACKEND_BATCH_INTERVAL"] == 5
        # Course structure goes to the event sink database as the CMS user.
        assert settings["EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"] == {
            "url": "http://clickhouse:8123",
            "username": "ch_cms",
            "password": config["ASPECTS_CLICKHOUSE_CMS_PASSWORD"],
            "database": "event_sink",
            "timeout_secs": 5,
        }
        assert settings["EVENT_SINK_CLICKHOUSE_COURSE_OVERVIEWS_ENABLED"] is True
    # Only the LMS init task needs the Ralph LMS user.
    assert lms["ASPECTS_XAPI_LRS"] == {
        "route_url": "http://ralph:8100/xAPI/",
        "username": "lms",
        "password": config["RALPH_LMS_PASSWORD"],
    }
    assert "ASPECTS_XAPI_LRS" not in cms


@pytest.mark.parametrize("pii", [True, False])
def test_pii_turns_on_the_sinks_of_personal_data(make_root, pii: bool) -> None:
    models = ["course_overviews", "user_profile"]  # one of them named by the operator too
    root = make_root(
        ["clickhouse", "ralph", "aspects"],
        {"ASPECTS_ENABLE_PII": pii, "EVENT_SINK_MODELS_ENABLED": models},
    )
    for service in ("lms", "cms"):
        settings = aspects_settings(root, service)
        # The setting platform-plugin-aspects reads: EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED.
        enabled = sorted(
            name.removeprefix("EVENT_SINK_CLICKHOUSE_").removesuffix("_ENABLED").lower()
            for name, value in settings.items()
            if name.startswith("EVENT_SINK_CLICKHOUSE_") and name.endswith("_ENABLED") and value
        )
        pii_models = ["external_id"] if pii else []
        assert enabled == sorted([*models, *pii_models]), service


def test_the_router_url_follows_the_ralph_settings(make_root) -> None:
    root = make_root(
        ["clickhouse", "ralph", "aspects"],
        {
            "RUN_RALPH": False,
            "RALPH_HOST": "lrs.example.org",
            "RALPH_PORT": 443,
            "RALPH_RUN_HTTPS": True,
            "EVENT_ROUTING_BACKEND_BATCHING_ENABLED": False,
            "EVENT_ROUTING_BACKEND_BATCH_SIZE": 500,
            "EVENT_ROUTING_BACKEND_BATCH_INTERVAL": 30,
            "EVENT_SINK_MODELS_ENABLED": ["course_overviews", "course_enrollment"],
        },
    )
    lms = aspects_settings(root, "lms")
    url = lms["ASPECTS_XAPI_LRS"]["route_url"]
    assert url == "https://lrs.example.org:443/xAPI/"
    assert lms["EVENT_ROUTING_BACKEND_BATCHING_ENABLED"] is False
    assert lms["EVENT_ROUTING_BACKEND_BATCH_SIZE"] == 500
    assert lms["EVENT_ROUTING_BACKEND_BATCH_INTERVAL"] == 30
    assert lms["EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED"] is True
    # event-routing-backends' xAPI client (tincan) posts statements below the route URL's path,
    # where Ralph serves them: /xAPI/statements. Checked against a local server on that path.
    code = (
        "import sys, threading, urllib.parse\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "from tincan.remote_lrs import RemoteLRS\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        path = urllib.parse.urlsplit(self.path).path\n"
        "        print(self.command, path, self.headers['Authorization'][:6])\n"
        "        self.send_response(200)\n"
        "        self.end_headers()\n"
        "        self.wfile.write(b'[]')\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "server = HTTPServer(('127.0.0.1', 0), Handler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "path = urllib.parse.urlsplit(sys.argv[1]).path\n"
        "endpoint = f'http://127.0.0.1:{server.server_port}{path}'\n"
        "RemoteLRS(endpoint=endpoint, username='u', password='p').save_statements([])\n"
    )
    posted = subprocess.run(
        [str(OPENEDX_BIN / "python"), "-c", code, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert posted == "POST /xAPI/statements Basic"


def test_the_router_task_runs_in_the_lms_after_its_migrations_superset_and_ralph(
    root: TutorRoot, tmp_path: Path
) -> None:
    tasks = rendered_tasks(root)
    position = {
        "lms migrations": next(
            i for i, (s, script) in enumerate(tasks) if s == "lms" and "lms migrate" in script
        ),
        "ralph": next(i for i, (s, _) in enumerate(tasks) if s == "ralph"),
        "superset in the lms": max(
            i for i, (s, script) in enumerate(tasks) if s == "lms" and "superset" in script.lower()
        ),
        "router": next(i for i, (_, script) in enumerate(tasks) if ROUTER_TASK in script),
    }
    assert tasks[position["router"]][0] == "lms"
    assert position["router"] == len(tasks) - 1
    assert position["router"] > max(
        position["lms migrations"], position["ralph"], position["superset in the lms"]
    )
    script = tasks[position["router"]][1]
    check_posix_script(script, tmp_path)
    config = root.config()
    assert config["RALPH_LMS_PASSWORD"] not in script


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("EVENT_ROUTING_BACKEND_BATCH_SIZE", 0, "EVENT_ROUTING_BACKEND_BATCH_SIZE must be a whole"),
        (
            "EVENT_ROUTING_BACKEND_BATCHING_ENABLED",
            "yes",
            "EVENT_ROUTING_BACKEND_BATCHING_ENABLED must be true or false",
        ),
        ("EVENT_SINK_MODELS_ENABLED", ["courses"], "EVENT_SINK_MODELS_ENABLED must be a list of"),
        (
            "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT",
            "erb' && curl evil",
            "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT must be a pip requirement",
        ),
    ],
)
def test_bad_lms_settings_stop_with_a_message_naming_the_key(
    root: TutorRoot, key: str, value: object, message: str
) -> None:
    error = root.save_invalid(key, value)
    assert "Invalid Aspects configuration" in error
    assert message in error


# The init task and the do commands, run by Tutor in the stand-in


@pytest.fixture(scope="module")
def pipeline_root(make_root) -> TutorRoot:
    """A root of its own: the init test changes the Ralph LMS password."""
    return make_root(ALL_PLUGINS)


@pytest.fixture(scope="module")
def standin(pipeline_root: TutorRoot, tmp_path_factory: pytest.TempPathFactory) -> OpenedxStandIn:
    return OpenedxStandIn(pipeline_root, tmp_path_factory.mktemp("edx-platform"))


def test_the_init_task_makes_ralph_the_xapi_router_once(
    pipeline_root: TutorRoot, standin: OpenedxStandIn
) -> None:
    password = pipeline_root.config()["RALPH_LMS_PASSWORD"]
    expected = {
        "route_url": "http://ralph:8100/xAPI/",
        "backend_name": "xAPI",
        "enabled": True,
        "auth_scheme": "Basic",
        "username": "lms",
        "password": password,
        "current": True,
    }
    first = standin.tutor("local", "do", "init", "--limit", "aspects")
    assert "Created the xAPI router to http://ralph:8100/xAPI/, as the Ralph user lms" in (
        first.stdout
    )
    again = standin.tutor("local", "do", "init", "--limit", "aspects")
    assert "The xAPI router to http://ralph:8100/xAPI/ is up to date" in again.stdout
    [router] = standin.routers()
    assert {key: value for key, value in router.items() if key != "id"} == expected
    secrets = secret_values(pipeline_root.config())
    for result in (first, again):
        assert found_in(result.stdout + result.stderr, secrets) == []

    # A new password: a new current entry (the old one stays as history), then nothing more.
    pipeline_root.run(
        "config",
        "save",
        "--set",
        "RALPH_LMS_PASSWORD=a-new-lms-password",
        "--unset",
        "RALPH_LMS_HASHED_PASSWORD",
    )
    changed = standin.tutor("local", "do", "init", "--limit", "aspects")
    assert "Updated the xAPI router to http://ralph:8100/xAPI/" in changed.stdout
    standin.tutor("local", "do", "init", "--limit", "aspects")
    old, new = standin.routers()
    assert old["password"] == password and not old["current"]
    assert new == {**expected, "id": new["id"], "password": "a-new-lms-password"}
    assert "a-new-lms-password" not in changed.stdout + changed.stderr
    assert [call["args"][:2] for call in standin.calls()] == [["shell", "--command"]] * 4


def parsed_options(output: str, command: str) -> dict[str, t.Any]:
    """The options the real management command parsed, as the stand-in prints them."""
    line = next(line for line in output.splitlines() if line.startswith(f"{command} options: "))
    return json.loads(line.split(": ", 1)[1])


def test_transform_tracking_logs_replays_the_lms_logs_into_ralph(
    pipeline_root: TutorRoot, standin: OpenedxStandIn, tmp_path: Path
) -> None:
    [(service, script)] = rendered_tasks(pipeline_root, "transform-tracking-logs")
    assert service == "lms"
    check_posix_script(script, tmp_path)
    assert (
        "./manage.py lms transform_tracking_logs --source_provider LOCAL --source_config "
        """'{"key": "/openedx/data", "container": "logs", "prefix": "tracking.log"}' """
        "--destination_provider LRS --transformer_type xapi --batch_size 10000 "
        "--sleep_between_batches_secs 10.0"
    ) in script.splitlines()

    # ERB's real command runs: it reads the logs, and refuses a URL with no router to it.
    logs = tmp_path / "old lms" / "tracking"
    logs.mkdir(parents=True)
    (logs / "tracking.log-2025-01-01").write_text(
        '{"name": "page_close", "event": "{}"}\n', encoding="utf-8"
    )
    standin.tutor("local", "do", "init", "--limit", "aspects")
    [router] = [r for r in standin.routers() if r["current"]]
    source = {
        "key": str(tmp_path / "old lms"),
        "container": "tracking",
        "prefix": "tracking.log-2025",
    }
    result = standin.tutor(
        "local",
        "do",
        "transform-tracking-logs",
        "--source_config",
        json.dumps(source),
        "--batch-size",
        "500",
        "--sleep-between-batches-secs",
        "0.5",
        "--dry-run",
        "--lrs-url",
        router["route_url"],
    )
    assert (
        "Transforming the tracking logs tracking/tracking.log-2025* (LOCAL) into xapi statements, "
        "sent to nowhere (dry run)" in result.stdout
    )
    assert "Tracking logs transformed" in result.stdout
    # An event ERB does not transform, skipped by its real parser.
    assert "Queued 0 log lines, could not parse 0 log lines, skipped 1 log lines" in result.stdout
    options = parsed_options(result.stdout, "transform_tracking_logs")
    assert {key: options[key] for key in options if key not in ("verbosity", "traceback")} | {
        "source_config": json.loads(options["source_config"])
    } == {
        "source_provider": "LOCAL",
        "source_config": source,
        "destination_provider": "LRS",
        "destination_config": None,
        "transformer_type": "xapi",
        "batch_size": 500,
        "sleep_between_batches_secs": 0.5,
        "dry_run": True,
        "lrs_urls": [router["route_url"]],
        "force_color": False,
        "no_color": False,
        "pythonpath": None,
        "settings": None,
        "skip_checks": False,
    }

    refused = standin.tutor(
        "local", "do", "transform-tracking-logs", "--source-config", "[1]", check=False
    )
    assert refused.returncode != 0 and "must be a JSON object" in refused.stderr


def test_dump_data_to_clickhouse_backfills_course_structure(
    pipeline_root: TutorRoot, standin: OpenedxStandIn, tmp_path: Path
) -> None:
    [(service, script)] = rendered_tasks(pipeline_root, "dump-data-to-clickhouse")
    assert service == "lms"
    check_posix_script(script, tmp_path)
    assert (
        "./manage.py lms dump_data_to_clickhouse --object course_overviews --batch_size 10000 "
        "--sleep_time 1" in script.splitlines()
    )

    result = standin.tutor(
        "local",
        "do",
        "dump-data-to-clickhouse",
        "--service",
        "cms",
        "--force",
        "--ids",
        "course-v1:Org+Course+Run",
        "--ids",
        "course-v1:Org+Other+Run",
    )
    assert "Sending every course_overviews to ClickHouse from the cms" in result.stdout
    call = standin.calls()[-1]
    assert call == {
        "service": "cms",
        "args": [
            "dump_data_to_clickhouse",
            "--object",
            "course_overviews",
            "--batch_size",
            "10000",
            "--sleep_time",
            "1",
            "--force",
            "--ids",
            "course-v1:Org+Course+Run",
            "course-v1:Org+Other+Run",
        ],
    }
    options = parsed_options(result.stdout, "dump_data_to_clickhouse")
    assert options["object"] == "course_overviews" and options["force"] is True
    assert options["ids"] == ["course-v1:Org+Course+Run", "course-v1:Org+Other+Run"]

    refused = standin.tutor(
        "local", "do", "dump-data-to-clickhouse", "--limit", "5", "--force", check=False
    )
    assert refused.returncode != 0
    assert "--limit cannot be used with --ids or --force" in refused.stderr


def test_the_instructor_dashboard_embeds_the_course_dashboards(root: TutorRoot) -> None:
    from tutoraspects import superset
    from tutoraspects.embedding import embedding_uuid

    config = root.config()
    lms = aspects_settings(root, "lms")
    assert lms["SUPERSET_CONFIG"] == {
        "internal_service_url": "http://superset:8088",
        "service_url": "http://" + root.value("SUPERSET_HOST"),
        "username": config["SUPERSET_LMS_USERNAME"],
        "password": config["SUPERSET_LMS_PASSWORD"],
    }
    assert [(d["slug"], d["uuid"]) for d in lms["ASPECTS_INSTRUCTOR_DASHBOARDS"]] == [
        (slug, superset.asset_uuid("dashboard", slug)) for slug in superset.INSTRUCTOR_DASHBOARDS
    ]
    assert lms["SUPERSET_DASHBOARD_LOCALES"] == ["en", "es", "fr"]
    assert lms["ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS"] is False
    # The uuids platform-plugin-aspects embeds each copy by (its own function) are embeddings.
    base = lms["ASPECTS_INSTRUCTOR_DASHBOARDS"][0]["uuid"]
    code = (
        "import sys; from django.conf import settings; settings.configure();"
        "from platform_plugin_aspects.utils import get_localized_uuid;"
        "print(' '.join(get_localized_uuid(sys.argv[1], l) for l in sys.argv[2:]))"
    )
    locales = lms["SUPERSET_DASHBOARD_LOCALES"]
    localized = subprocess.run(
        [str(OPENEDX_BIN / "python"), "-c", code, base, *locales],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    slug = superset.INSTRUCTOR_DASHBOARDS[0]
    assert localized == [embedding_uuid(slug, locale) for locale in locales]
    sync = root.env_file("plugins", "superset", "apps", "pythonpath", "superset_sync.py")
    assert all(uuid in sync for uuid in localized)
    # The LMS user's password reaches Superset's job through its environment only.
    scripts = "\n".join(script for _, script in root.init_scripts("superset"))
    assert config["SUPERSET_LMS_PASSWORD"] not in scripts + sync
    superset_env = root.env_file("plugins", "superset", "apps", "superset.env")
    assert f"SUPERSET_GUEST_TOKEN_JWT_SECRET={config['SUPERSET_GUEST_TOKEN_JWT_SECRET']}" in (
        superset_env
    )


# The instructor dashboards of edx-platform, as far as the Reports tab goes: the legacy page's
# render filter and the MFE's tabs filter, run through the real openedx-filters pipelines with the
# steps the settings name, as edx-platform's instructor views run them for course staff.
INSTRUCTOR_DASHBOARDS = """
import json
from types import SimpleNamespace
from crum import CurrentRequestUserMiddleware, impersonate
from django.contrib.auth import get_user_model
from opaque_keys.edx.keys import CourseKey
from openedx_filters.learning.filters import (
    InstructorDashboardRenderStarted, InstructorDashboardTabsRequested)

course_key = CourseKey.from_string("course-v1:PhysicsX+PHY101+2026")
instructor = get_user_model().objects.get(username="ines")
legacy = {"course": SimpleNamespace(id=course_key), "sections": [{"section_key": "course_info"}]}
with impersonate(instructor):
    legacy, _ = InstructorDashboardRenderStarted.run_filter(legacy, "instructor_dashboard_2.html")
tabs = InstructorDashboardTabsRequested.run_filter(
    [{"tab_id": "course_info", "title": "Course Info"}], instructor, course_key)[0]
print("DASHBOARDS " + json.dumps({
    "sections": [
        {key: str(value) for key, value in section.items() if key != "fragment"}
        | ({"html": section["fragment"].content} if "fragment" in section else {})
        for section in legacy["sections"]
    ],
    "tabs": tabs,
}))
"""


def instructor_dashboards(standin: OpenedxStandIn, filters: dict, language: str) -> dict:
    """The instructor dashboard sections and MFE tabs an instructor of PHY101 gets."""
    people = standin.directory / "people.json"
    people.write_text(
        json.dumps([{"id": 5, "username": "ines", "email": "ines@example.com",
                     "xapi_id": "i", "language": language}]),
        encoding="utf-8",
    )  # fmt: skip
    output = standin.manage(
        "shell",
        "--command",
        INSTRUCTOR_DASHBOARDS,
        OPENEDX_STANDIN_PEOPLE=str(people),
        OPENEDX_STANDIN_FILTERS=json.dumps(filters),
    )
    return json.loads(output.split("DASHBOARDS ", 1)[1])


def test_instructors_get_the_reports_tab_in_both_instructor_dashboards(
    pipeline_root: TutorRoot, standin: OpenedxStandIn, make_root
) -> None:
    from tutoraspects.embedding import embedding_uuid

    # A step another plugin put in the MFE's pipeline stays, before the Aspects step.
    others = {
        "org.openedx.learning.instructor.dashboard.tabs.requested.v1": {
            "fail_silently": False,
            "pipeline": ["other_plugin.AddCertificatesTab"],
        }
    }
    seen = instructor_dashboards(standin, others, language="fr-ca")
    assert [tab["tab_id"] for tab in seen["tabs"]] == ["course_info", "certificates", "aspects"]
    assert seen["tabs"][2] == {
        "tab_id": "aspects",
        "title": "Reports",
        "url": "/instructor-dashboard/course-v1:PhysicsX+PHY101+2026/aspects/",
        "sort_order": 120,
    }
    course_info, reports = seen["sections"]
    assert course_info == {"section_key": "course_info"}
    assert reports["section_key"] == "aspects"
    assert reports["section_display_name"] == "Reports"
    assert reports["superset_url"] == "http://" + pipeline_root.value("SUPERSET_HOST") + "/"
    assert reports["superset_guest_token_url"] == (
        "http://lms.stand-in/aspects/superset_guest_token/course-v1:PhysicsX+PHY101+2026"
    )
    # Canadian French is not one of the dashboards' locales (platform-plugin-aspects matches
    # them exactly): the English copies are embedded.
    settings = aspects_settings(pipeline_root, "lms")
    slugs = [d["slug"] for d in settings["ASPECTS_INSTRUCTOR_DASHBOARDS"]]
    assert all(
        f"superset-embedded-container-{embedding_uuid(s, 'en')}" in reports["html"] for s in slugs
    )

    spanish = instructor_dashboards(standin, {}, language="es")
    [_, reports] = spanish["sections"]
    assert all(
        f"superset-embedded-container-{embedding_uuid(s, 'es')}" in reports["html"] for s in slugs
    )
    assert [tab["tab_id"] for tab in spanish["tabs"]] == ["course_info", "aspects"]
    # Without Superset there are no dashboards, and no tab.
    without_superset = make_root(["clickhouse", "ralph", "aspects"])
    assert "OPEN_EDX_FILTERS_CONFIG" not in aspects_settings(without_superset, "lms")


# What the LMS's OAuth2 clients may reach over plain HTTP, once its settings are loaded: an
# OAuth2 session of requests-oauthlib (as platform-plugin-aspects' SupersetClient makes them)
# with a token, asking two local HTTP servers, one of them at Superset's internal URL.
PLAIN_HTTP_CHECK = """
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from oauthlib.oauth2 import InsecureTransportError
from requests_oauthlib import OAuth2Session

class Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass

superset_port = int(sys.argv[-1])
for port in (superset_port, 0):
    server = ThreadingHTTPServer(("127.0.0.1", port), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
session = OAuth2Session(token={"access_token": "a-token", "token_type": "Bearer"})
answers = {"OAUTHLIB_INSECURE_TRANSPORT": os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")}
for name, url in {
    "superset": f"http://127.0.0.1:{superset_port}/api/v1/security/csrf_token/",
    "superset by another name": f"http://localhost:{superset_port}/",
    "another server": f"http://127.0.0.1:{server.server_port}/",
}.items():
    try:
        answers[name] = session.get(url, timeout=10).status_code
    except InsecureTransportError as error:
        answers[name] = type(error).__name__
print(json.dumps(answers))
"""


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_plain_http_is_allowed_to_supersets_internal_url_only(
    make_root, tmp_path: Path, scheme: str
) -> None:
    port = free_port()
    root = make_root(ALL_PLUGINS, {"SUPERSET_INTERNAL_URL": f"{scheme}://127.0.0.1:{port}"})
    shutil.copytree(STANDIN, tmp_path, dirs_exist_ok=True)
    (tmp_path / "check.py").write_text(PLAIN_HTTP_CHECK)
    command = f"import sys; sys.argv.append('{port}'); exec(open('check.py').read())"
    result = subprocess.run(
        [str(OPENEDX_BIN / "python"), "manage.py", "lms", "shell", "--command", command],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "OPENEDX_STANDIN_DATABASE": str(tmp_path / "openedx.sqlite3"),
            "OPENEDX_STANDIN_SETTINGS_DIR": str(root.path / "env/apps/openedx/settings"),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    # Not for the whole process: no other server, nor Superset's under another name.
    refused = "InsecureTransportError"
    assert answers == {
        "OAUTHLIB_INSECURE_TRANSPORT": None,
        "superset": 200 if scheme == "http" else refused,
        "superset by another name": refused,
        "another server": refused,
    }
