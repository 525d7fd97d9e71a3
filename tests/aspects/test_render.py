"""The aspects plugin rendered by real Tutor with the service plugins it builds on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot, check_posix_script

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
    result = root.run("plugins", "disable", "ralph", check=False)
    assert result.returncode != 0
    assert "aspects needs the ralph plugin: run `tutor plugins enable ralph`" in result.stderr


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
    ],
)
def test_bad_config_stops_with_a_message_naming_the_key(
    root: TutorRoot, key: str, value: object, message: str
) -> None:
    error = root.save_invalid(key, value)
    assert "Invalid Aspects configuration" in error
    assert message in error
