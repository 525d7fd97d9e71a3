"""The aspects plugin rendered by real Tutor with the service plugins it builds on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot, check_posix_script
from tests.superset.test_render import image_pins, superset_venv_versions
from tutoraspects.superset import clickhouse_driver

ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]


@pytest.fixture(scope="module")
def root(make_root) -> TutorRoot:
    return make_root(ALL_PLUGINS)


def test_renders_and_validates_with_the_service_plugins(root: TutorRoot, tmp_path: Path) -> None:
    services = root.compose_config(jobs=True)["services"]
    assert {"clickhouse", "clickhouse-job", "ralph", "ralph-job"} <= set(services)
    manifests = root.manifests()
    assert {("Deployment", "clickhouse"), ("Deployment", "ralph")} <= set(manifests)
    for plugin in ("clickhouse", "ralph"):
        for _, script in root.init_scripts(plugin):
            check_posix_script(script, tmp_path)


def test_the_superset_image_gets_the_clickhouse_driver(root: TutorRoot, make_root) -> None:
    # Superset's images ship no database driver; its clickhousedb:// connections need this
    # one, at the release of the aspects job image and of the Superset tests.
    pins = image_pins(root)
    assert pins == {**image_pins(make_root(["superset"])), "clickhouse-connect": "1.12.0"}
    assert f"clickhouse-connect=={pins['clickhouse-connect']}" == clickhouse_driver()
    assert superset_venv_versions()["clickhouse-connect"] == pins["clickhouse-connect"]


def test_ralph_writes_to_clickhouse_as_its_own_user(root: TutorRoot) -> None:
    config = root.config()
    ralph = root.compose_config()["services"]["ralph"]["environment"]
    prefix = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
    assert ralph["RALPH_RUNSERVER_BACKEND"] == "clickhouse"
    assert {
        name[len(prefix) :]: value for name, value in ralph.items() if name.startswith(prefix)
    } == {
        "HOST": "clickhouse",
        "PORT": "8123",
        "DATABASE": "xapi",
        "EVENT_TABLE_NAME": "xapi_events_all",
        "USERNAME": "ch_lrs",
        "PASSWORD": config["ASPECTS_CLICKHOUSE_LRS_PASSWORD"],
        # A request is one INSERT (tests/reliability/test_oversized.py).
        "WRITE_CHUNK_SIZE": "1000000",
    }
    assert not any("MONGO" in name for name in ralph)
    settings_file = root.env_file("plugins", "ralph", "apps", "ralph.env")
    assert config["CLICKHOUSE_ADMIN_PASSWORD"] not in settings_file


def test_cluster_mode_creates_every_object_on_the_cluster(make_root) -> None:
    root = make_root(ALL_PLUGINS, {"CLICKHOUSE_CLUSTER_NAME": "aspects_cluster"})
    [(_, script)] = root.init_scripts("clickhouse")
    statements = [
        line for line in script.splitlines() if line.startswith(("CREATE", "ALTER", "GRANT"))
    ]
    assert statements
    assert all("ON CLUSTER 'aspects_cluster'" in statement for statement in statements)
    assert "GRANT ON CLUSTER 'aspects_cluster' CLUSTER ON *.* TO ch_migrations" in statements


def test_single_server_needs_no_cluster_grant(root: TutorRoot) -> None:
    [(_, script)] = root.init_scripts("clickhouse")
    assert "CLUSTER ON *.*" not in script and "cluster grant" not in script


def test_needs_its_service_plugins(make_root) -> None:
    root = make_root(["clickhouse", "ralph", "aspects"])
    before = (root.path / "config.yml").read_bytes()
    result = root.run("plugins", "disable", "ralph", check=False)
    assert result.returncode != 0
    assert "aspects needs the ralph plugin: run `tutor plugins enable ralph`" in result.stderr
    # Refused: ralph stays enabled in config.yml, which is left as it was.
    assert (root.path / "config.yml").read_bytes() == before


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ASPECTS_XAPI_DATABASE", "x-api", "ASPECTS_XAPI_DATABASE must be letters"),
        ("ASPECTS_CLICKHOUSE_REPORT_USER", "ch report", "ASPECTS_CLICKHOUSE_REPORT_USER must be"),
        (
            "ASPECTS_REPORT_MAX_EXECUTION_TIME",
            0,
            "ASPECTS_REPORT_MAX_EXECUTION_TIME must be a whole",
        ),
        (
            "ASPECTS_CLICKHOUSE_LRS_PASSWORD",
            "",
            "ASPECTS_CLICKHOUSE_LRS_PASSWORD must not be empty",
        ),
        ("ASPECTS_RAW_XAPI_TABLE", "xapi.events", "ASPECTS_RAW_XAPI_TABLE must be letters"),
        ("ASPECTS_EVENT_SINK_DATABASE", "event sink", "ASPECTS_EVENT_SINK_DATABASE must be"),
        (
            "DBT_PROFILE_TARGET_DATABASE",
            "xapi",
            "ASPECTS_XAPI_DATABASE, ASPECTS_EVENT_SINK_DATABASE, DBT_PROFILE_TARGET_DATABASE "
            "must be three different databases, not ['xapi', 'event_sink', 'xapi']",
        ),
        (
            "ASPECTS_CLICKHOUSE_LRS_USER",
            "ch_report",
            "ASPECTS_CLICKHOUSE_LRS_USER and ASPECTS_CLICKHOUSE_REPORT_USER must be different "
            "ClickHouse users, not both 'ch_report'",
        ),
        (
            "ASPECTS_CLICKHOUSE_CMS_USER",
            "ch_admin",
            "CLICKHOUSE_ADMIN_USER and ASPECTS_CLICKHOUSE_CMS_USER must be different",
        ),
        ("ASPECTS_CLICKHOUSE_MIGRATIONS_USER", "ch-migrations", "ASPECTS_CLICKHOUSE_MIGRATIONS"),
        (
            "ASPECTS_REPORT_MAX_MEMORY_USAGE",
            "4GB",
            "ASPECTS_REPORT_MAX_MEMORY_USAGE must be a whole number of at least 1, not '4GB'",
        ),
        ("ASPECTS_REPORT_MAX_RESULT_ROWS", -1, "ASPECTS_REPORT_MAX_RESULT_ROWS must be a whole"),
        ("EVENT_ROUTING_BACKEND_BATCH_SIZE", 0, "EVENT_ROUTING_BACKEND_BATCH_SIZE must be a"),
        ("EVENT_ROUTING_BACKEND_BATCH_INTERVAL", "5s", "EVENT_ROUTING_BACKEND_BATCH_INTERVAL must"),
        (
            "ASPECTS_EVENT_SINK_CLICKHOUSE_TIMEOUT_SECS",
            True,
            "ASPECTS_EVENT_SINK_CLICKHOUSE_TIMEOUT_SECS must be a whole number of at least 1, "
            "not True",
        ),
        (
            "EVENT_ROUTING_BACKEND_BATCHING_ENABLED",
            "yes",
            "EVENT_ROUTING_BACKEND_BATCHING_ENABLED must be true or false, not 'yes'",
        ),
        ("ASPECTS_ENABLE_PII", "no", "ASPECTS_ENABLE_PII must be true or false, not 'no'"),
        (
            "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT",
            "edx-event-routing-backends=='10.1.0'",
            "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT must be a pip requirement without quotes",
        ),
        ("ASPECTS_PLATFORM_PLUGIN_REQUIREMENT", "", "ASPECTS_PLATFORM_PLUGIN_REQUIREMENT must be"),
        (
            "SUPERSET_DASHBOARD_LOCALES",
            "en,es",
            "SUPERSET_DASHBOARD_LOCALES must be a list of language codes such as en, es, pt_BR, "
            "not 'en,es'",
        ),
        (
            "SUPERSET_DASHBOARD_LOCALES",
            ["en", "de;rm -rf"],
            "SUPERSET_DASHBOARD_LOCALES must be a list of language codes such as en, es, pt_BR, "
            "not ['en', 'de;rm -rf'] ('de;rm -rf' is not one)",
        ),
        ("SUPERSET_DASHBOARD_LOCALES", [], "SUPERSET_DASHBOARD_LOCALES must be a list"),
        (
            "SUPERSET_DASHBOARD_LOCALES",
            ["en", "pt_BR", "pt-br"],
            "SUPERSET_DASHBOARD_LOCALES lists a language twice: pt-br, pt_BR",
        ),
        (
            "EVENT_SINK_MODELS_ENABLED",
            ["courses"],
            "EVENT_SINK_MODELS_ENABLED must be a list of auth_user",
        ),
        (
            "ASPECTS_DBT_RUN_INTERVAL_MINUTES",
            90,
            "ASPECTS_DBT_RUN_INTERVAL_MINUTES must be a whole number from 0 to 59, not 90",
        ),
        (
            "ASPECTS_AT_RISK_INACTIVE_DAYS",
            -1,
            "ASPECTS_AT_RISK_INACTIVE_DAYS must be a whole number from 0 to 3650, not -1",
        ),
        (
            "ASPECTS_AT_RISK_GRADE_BELOW_PERCENT",
            "50%",
            "ASPECTS_AT_RISK_GRADE_BELOW_PERCENT must be a whole number from 0 to 100, not '50%'",
        ),
        (
            "ASPECTS_AT_RISK_PROGRESS_BELOW_PERCENT",
            101,
            "ASPECTS_AT_RISK_PROGRESS_BELOW_PERCENT must be a whole number from 0 to 100, not 101",
        ),
        ("EXTRA_DBT_PACKAGES", "dbt-utils", "EXTRA_DBT_PACKAGES must be a list of pip"),
        (
            "DOCKER_IMAGE_ASPECTS",
            "openedx/aspects jobs",
            "DOCKER_IMAGE_ASPECTS must be an image name such as registry/name:tag, "
            "not 'openedx/aspects jobs'",
        ),
        (
            "DBT_REPOSITORY",
            "github.com/org/project",
            "DBT_REPOSITORY must be empty or a git URL such as https://host/org/project.git, "
            "not 'github.com/org/project'",
        ),
        ("DBT_BRANCH", "my branch", "DBT_BRANCH must be a git branch or tag, not 'my branch'"),
        (
            "DBT_REPOSITORY_PATH",
            "../elsewhere",
            "DBT_REPOSITORY_PATH must be a folder inside DBT_REPOSITORY (relative, no ..)",
        ),
        (
            "ASPECTS_CLICKHOUSE_REPORT_PASSWORD",
            "",
            "ASPECTS_CLICKHOUSE_REPORT_PASSWORD must not be empty",
        ),
    ],
)
def test_bad_config_stops_with_a_message_naming_the_key(
    root: TutorRoot, key: str, value: object, message: str
) -> None:
    error = root.save_invalid(key, value)
    assert "Invalid Aspects configuration" in error
    assert message in error
