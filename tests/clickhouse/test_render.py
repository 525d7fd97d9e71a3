"""The clickhouse plugin rendered by real Tutor, alone and beside the other plugins."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot, check_posix_script

ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
OBJECT_DDL = re.compile(r"\bCREATE\s+(DATABASE|TABLE|VIEW|USER|ROLE)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def alone(make_root) -> TutorRoot:
    return make_root(["clickhouse"])


@pytest.fixture(scope="module")
def external(make_root) -> TutorRoot:
    return make_root(
        ["clickhouse"],
        {
            "RUN_CLICKHOUSE": False,
            "CLICKHOUSE_SECURE_CONNECTION": True,
            "CLICKHOUSE_HOST": "abc123.eu-west-1.aws.clickhouse.cloud",
            "CLICKHOUSE_ADMIN_USER": "default",
        },
    )


def test_admin_password_is_a_saved_unique_secret(alone: TutorRoot) -> None:
    password = alone.config()["CLICKHOUSE_ADMIN_PASSWORD"]
    assert re.fullmatch(r"[A-Za-z0-9]{24}", password)
    alone.save()
    assert alone.config()["CLICKHOUSE_ADMIN_PASSWORD"] == password


def test_server_keeps_only_a_digest_of_the_admin_password(alone: TutorRoot) -> None:
    password = alone.config()["CLICKHOUSE_ADMIN_PASSWORD"]
    users = alone.env_file("plugins", "clickhouse", "apps", "config", "users.xml")
    digest = hashlib.sha256(password.encode()).hexdigest()
    assert f"<password_sha256_hex>{digest}</password_sha256_hex>" in users
    assert "<access_management>1</access_management>" in users
    assert '<default remove="remove"/>' in users
    # The plain password is only where the init job reads it: its environment and its Secret.
    holders = {
        str(path.relative_to(alone.path / "env"))
        for path, text in alone.rendered_files().items()
        if password in text
    }
    assert holders == {"local/docker-compose.jobs.yml", "plugins/clickhouse/k8s/admin-secret.yml"}


def test_init_job_gets_the_password_from_its_environment_not_its_script(alone: TutorRoot) -> None:
    password = alone.config()["CLICKHOUSE_ADMIN_PASSWORD"]
    [(_, script)] = alone.init_scripts("clickhouse")
    assert password not in script
    job = alone.compose_config(jobs=True)["services"]["clickhouse-job"]
    assert job["environment"]["CLICKHOUSE_ADMIN_PASSWORD"] == password
    manifests = alone.manifests()
    secret = manifests[("Secret", "clickhouse-admin")]
    assert secret["stringData"]["password"] == password
    [env] = manifests[("Job", "clickhouse-job")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "clickhouse-admin", "key": "password"}


def test_compose_runs_the_server_with_its_volume_config_and_healthcheck(alone: TutorRoot) -> None:
    services = alone.compose_config()["services"]
    server = services["clickhouse"]
    assert server["image"] == "docker.io/clickhouse/clickhouse-server:26.8"
    assert server["user"] == "101:101"
    assert server["restart"] == "unless-stopped"
    assert "/ping" in " ".join(server["healthcheck"]["test"])
    targets = {volume.split(":")[1] for volume in server["volumes"]}
    assert {
        "/var/lib/clickhouse",
        "/etc/clickhouse-server/config.d/tutor.xml",
        "/etc/clickhouse-server/users.d/tutor.xml",
    } <= targets
    assert any(v.endswith(":/mounts/clickhouse:z") for v in services["permissions"]["volumes"])
    assert "setowner 101 /mounts/clickhouse" in alone.env_file(
        "apps", "permissions", "setowners.sh"
    )


def test_compose_job_waits_for_the_server(alone: TutorRoot) -> None:
    job = alone.compose_config(jobs=True)["services"]["clickhouse-job"]
    assert job["image"] == "docker.io/clickhouse/clickhouse-server:26.8"
    assert "clickhouse" in job["depends_on"]


def test_kubernetes_manifests(alone: TutorRoot) -> None:
    manifests = alone.manifests()
    deployment = manifests[("Deployment", "clickhouse")]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "clickhouse"
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "clickhouse"
    assert pod["spec"]["securityContext"]["runAsUser"] == 101
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "4Gi"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8123,
        "native": 9000,
    }
    service = manifests[("Service", "clickhouse")]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "http": 8123,
        "native": 9000,
    }
    claim = manifests[("PersistentVolumeClaim", "clickhouse")]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    config_map = next(
        doc
        for (kind, name), doc in manifests.items()
        if kind == "ConfigMap" and name.startswith("clickhouse-config")
    )
    assert set(config_map["data"]) == {"config.xml", "users.xml"}
    job = manifests[("Job", "clickhouse-job")]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == []
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "job"


def test_init_job_script_is_posix_sh(alone: TutorRoot, tmp_path: Path) -> None:
    scripts = alone.init_scripts("clickhouse")
    assert [service for service, _ in scripts] == ["clickhouse"]
    check_posix_script(scripts[0][1], tmp_path)
    assert "http://clickhouse:8123/" in scripts[0][1]


def test_plugin_creates_no_database_table_or_user(alone: TutorRoot) -> None:
    texts = list(alone.rendered_files().values())
    texts += [script for _, script in alone.init_scripts("clickhouse")]
    assert [m.group(0) for text in texts for m in OBJECT_DDL.finditer(text)] == []


def test_external_server_renders_no_container_or_kubernetes_object(external: TutorRoot) -> None:
    services = external.compose_config(jobs=True)["services"]
    assert "clickhouse" not in services
    assert not services["clickhouse-job"].get("depends_on")
    assert not any("clickhouse" in v for v in services["permissions"].get("volumes", []))
    names = {(kind, name) for kind, name in external.manifests()}
    assert {name for _, name in names if "clickhouse" in name} == {
        "clickhouse-job",
        "clickhouse-admin",
    }


def test_external_server_job_uses_https_on_the_https_port(
    external: TutorRoot, tmp_path: Path
) -> None:
    [(service, script)] = external.init_scripts("clickhouse")
    check_posix_script(script, tmp_path)
    assert "clickhouse_url=https://abc123.eu-west-1.aws.clickhouse.cloud:8443/" in script
    assert "clickhouse_user=default" in script


def test_all_plugins_together_render_and_validate(make_root, tmp_path: Path) -> None:
    root = make_root(ALL_PLUGINS)
    assert "clickhouse" in root.compose_config(jobs=True)["services"]
    assert ("Deployment", "clickhouse") in root.manifests()
    for _, script in root.init_scripts("clickhouse"):
        check_posix_script(script, tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("CLICKHOUSE_HTTP_PORT", "eighty", "CLICKHOUSE_HTTP_PORT must be a port number"),
        ("CLICKHOUSE_HTTPS_PORT", 70000, "CLICKHOUSE_HTTPS_PORT must be a port number"),
        ("CLICKHOUSE_ADMIN_PASSWORD", "", "CLICKHOUSE_ADMIN_PASSWORD must not be empty"),
        ("CLICKHOUSE_ADMIN_USER", "ch admin", "CLICKHOUSE_ADMIN_USER must be letters"),
        ("CLICKHOUSE_ADMIN_USER", "default", "CLICKHOUSE_ADMIN_USER must not be 'default'"),
        ("CLICKHOUSE_HOST", "", "CLICKHOUSE_HOST must name the ClickHouse server"),
        ("CLICKHOUSE_CLUSTER_NAME", "a-b", "CLICKHOUSE_CLUSTER_NAME must be empty or letters"),
        ("RUN_CLICKHOUSE", "yes", "RUN_CLICKHOUSE must be true or false"),
        (
            "CLICKHOUSE_SECURE_CONNECTION",
            True,
            "CLICKHOUSE_SECURE_CONNECTION is for an external server",
        ),
        ("CLICKHOUSE_HTTP_PORT", 0, "CLICKHOUSE_HTTP_PORT must be a port number between 1 and"),
        ("CLICKHOUSE_ADMIN_USER", "", "CLICKHOUSE_ADMIN_USER must be letters, digits and"),
        ("CLICKHOUSE_CLUSTER_NAME", "my cluster", "CLICKHOUSE_CLUSTER_NAME must be empty or"),
        ("CLICKHOUSE_SECURE_CONNECTION", "on", "CLICKHOUSE_SECURE_CONNECTION must be true or"),
        (
            "CLICKHOUSE_HOST",
            "http://clickhouse:8123",
            "CLICKHOUSE_HOST must be a host name, without scheme, port or path, "
            "not 'http://clickhouse:8123'",
        ),
        ("CLICKHOUSE_HOST", "click house", "CLICKHOUSE_HOST must be a host name"),
        (
            "DOCKER_IMAGE_CLICKHOUSE",
            "clickhouse server:26.8",
            "DOCKER_IMAGE_CLICKHOUSE must be an image name such as registry/name:tag, "
            "not 'clickhouse server:26.8'",
        ),
        (
            "CLICKHOUSE_DOCKER_MEMORY_LIMIT",
            "4 gigabytes",
            'CLICKHOUSE_DOCKER_MEMORY_LIMIT must be empty or a size such as "4g", '
            "not '4 gigabytes'",
        ),
        (
            "CLICKHOUSE_EXTRA_XML_CONFIG",
            "<max_connections>100</max_connection>",
            "CLICKHOUSE_EXTRA_XML_CONFIG must be XML elements; the server would not start: "
            "mismatched tag",
        ),
        (
            "CLICKHOUSE_EXTRA_USERS_XML_CONFIG",
            "<profiles>",
            "CLICKHOUSE_EXTRA_USERS_XML_CONFIG must be XML elements",
        ),
    ],
)
def test_bad_config_stops_with_a_message_naming_the_key(
    alone: TutorRoot, key: str, value: object, message: str
) -> None:
    error = alone.save_invalid(key, value)
    assert "Invalid ClickHouse configuration" in error
    assert message in error
