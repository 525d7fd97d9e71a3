"""The ralph plugin rendered by real Tutor: alone, beside clickhouse, and extended by a plugin."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot, check_posix_script

PLUGINS_ROOT = Path(__file__).parent / "plugins"
PACKAGE = Path(__file__).resolve().parents[2] / "tutor-contrib-ralph" / "tutorralph"
CLICKHOUSE_SQL = re.compile(
    r"\b(CREATE|ALTER|DROP)\s+(DATABASE|TABLE|VIEW|USER|ROLE)\b|\bINSERT\s+INTO\b|\bGRANT\b",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def alone(make_root) -> TutorRoot:
    return make_root(["ralph"])


@pytest.fixture(scope="module")
def with_clickhouse(make_root) -> TutorRoot:
    return make_root(["clickhouse", "ralph"])


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> TutorRoot:
    root = TutorRoot(tmp_path_factory.mktemp("tutor-root"), plugins_root=PLUGINS_ROOT)
    return root.save(
        ["clickhouse", "ralph", "ralphconsumer"],
        {"RALPH_EXTRA_SETTINGS": {"RALPH_BACKENDS__LRS__CLICKHOUSE__DATABASE": "lrs"}},
    )


def settings(root: TutorRoot) -> dict[str, str]:
    lines = root.env_file("plugins", "ralph", "apps", "ralph.env").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def auth_users(root: TutorRoot) -> dict[str, dict]:
    users = json.loads(root.env_file("plugins", "ralph", "apps", "auth.json"))
    return {user["username"]: user for user in users}


def test_passwords_are_saved_with_their_bcrypt_hashes(alone: TutorRoot) -> None:
    from tutor.utils import verify_encrypted

    config = alone.config()
    for role in ("ADMIN", "LMS"):
        password, hashed = config[f"RALPH_{role}_PASSWORD"], config[f"RALPH_{role}_HASHED_PASSWORD"]
        assert re.fullmatch(r"[A-Za-z0-9]{24}", password)
        assert verify_encrypted(hashed, password)
    alone.save()
    assert alone.config() == config


def test_auth_file_holds_both_users_with_scopes_and_agents(alone: TutorRoot) -> None:
    config = alone.config()
    users = auth_users(alone)
    assert set(users) == {"ralph", "lms"}
    assert users["ralph"]["hash"] == config["RALPH_ADMIN_HASHED_PASSWORD"]
    assert users["ralph"]["scopes"] == ["all"]
    assert users["lms"]["hash"] == config["RALPH_LMS_HASHED_PASSWORD"]
    assert users["lms"]["scopes"] == ["statements/write", "statements/read/mine"]
    assert users["lms"]["agent"] == {
        "account": {"homePage": "http://local.openedx.io", "name": "lms"}
    }
    # Plain passwords are only where the init job reads them: its environment and Secret.
    for role in ("ADMIN", "LMS"):
        holders = {
            str(path.relative_to(alone.path / "env"))
            for path, text in alone.rendered_files().items()
            if config[f"RALPH_{role}_PASSWORD"] in text
        }
        assert holders == {"local/docker-compose.jobs.yml", "plugins/ralph/kustomization.yml"}


def test_alone_ralph_stores_statements_in_the_platform_mongodb(alone: TutorRoot) -> None:
    assert settings(alone) == {
        "RALPH_RUNSERVER_BACKEND": "mongo",
        "RALPH_AUTH_FILE": "/etc/ralph/auth.json",
        "RALPH_LRS_RESTRICT_BY_AUTHORITY": "true",
        "RALPH_LRS_RESTRICT_BY_SCOPES": "true",
        "RALPH_EXECUTION_ENVIRONMENT": "production",
        "RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE": "0.1",
        "RALPH_SENTRY_IGNORE_HEALTH_CHECKS": "True",
        "RALPH_BACKENDS__LRS__MONGO__CONNECTION_URI": "mongodb://mongodb:27017/?authSource=admin",
        "RALPH_BACKENDS__LRS__MONGO__DEFAULT_DATABASE": "ralph",
        "RALPH_BACKENDS__LRS__MONGO__DEFAULT_COLLECTION": "statements",
    }
    ralph = alone.compose_config()["services"]["ralph"]
    assert ralph["image"] == "docker.io/fundocker/ralph:5.1.0"
    assert ralph["restart"] == "unless-stopped"
    assert ralph["environment"]["RALPH_RUNSERVER_BACKEND"] == "mongo"  # read from env_file
    assert "mongodb" in ralph["depends_on"]
    assert any(
        v.endswith("/plugins/ralph/apps/auth.json:/etc/ralph/auth.json:ro")
        for v in ralph["volumes"]
    )
    assert "__heartbeat__" in " ".join(ralph["healthcheck"]["test"])


def test_kubernetes_reads_the_same_files_as_secrets(alone: TutorRoot) -> None:
    manifests = alone.manifests()
    secrets = {
        name.rsplit("-", 1)[0]: doc for (kind, name), doc in manifests.items() if kind == "Secret"
    }
    assert set(secrets) >= {"ralph-settings", "ralph-auth", "ralph-job"}
    pod = manifests[("Deployment", "ralph")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert (
        container["envFrom"][0]["secretRef"]["name"]
        == secrets["ralph-settings"]["metadata"]["name"]
    )
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["auth"]["secret"]["secretName"] == secrets["ralph-auth"]["metadata"]["name"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/__heartbeat__"
    assert pod["securityContext"]["runAsUser"] == 1000
    service = manifests[("Service", "ralph")]
    assert service["spec"]["ports"][0]["port"] == 8100
    job = manifests[("Job", "ralph-job")]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == []
    assert (
        job["containers"][0]["envFrom"][0]["secretRef"]["name"]
        == secrets["ralph-job"]["metadata"]["name"]
    )


def test_beside_clickhouse_without_aspects(with_clickhouse: TutorRoot, tmp_path: Path) -> None:
    services = with_clickhouse.compose_config(jobs=True)["services"]
    assert {"ralph", "ralph-job", "clickhouse", "clickhouse-job"} <= set(services)
    assert settings(with_clickhouse)["RALPH_RUNSERVER_BACKEND"] == "mongo"
    with_clickhouse.manifests()
    for _, script in with_clickhouse.init_scripts("ralph"):
        check_posix_script(script, tmp_path)


def test_init_job_script_is_posix_sh_without_secrets(alone: TutorRoot, tmp_path: Path) -> None:
    [(service, script)] = alone.init_scripts("ralph")
    assert service == "ralph"
    check_posix_script(script, tmp_path)
    config = alone.config()
    assert config["RALPH_ADMIN_PASSWORD"] not in script
    assert config["RALPH_LMS_PASSWORD"] not in script


def test_no_clickhouse_sql_anywhere_in_the_plugin(
    alone: TutorRoot, with_clickhouse: TutorRoot
) -> None:
    texts = [
        path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix != ".pyc"
    ]
    for root in (alone, with_clickhouse):
        texts += [text for path, text in root.rendered_files().items() if "ralph" in str(path)]
        texts += [script for _, script in root.init_scripts("ralph")]
    assert [m.group(0) for text in texts for m in CLICKHOUSE_SQL.finditer(text)] == []


def test_another_plugin_switches_the_backend_and_adds_a_user(extended: TutorRoot) -> None:
    ralph_settings = settings(extended)
    assert ralph_settings["RALPH_RUNSERVER_BACKEND"] == "clickhouse"
    assert ralph_settings["RALPH_BACKENDS__LRS__CLICKHOUSE__HOST"] == "clickhouse"
    assert ralph_settings["RALPH_BACKENDS__LRS__CLICKHOUSE__PORT"] == "8123"
    assert not any("MONGO" in name for name in ralph_settings)
    # The operator's RALPH_EXTRA_SETTINGS override the plugin's.
    assert ralph_settings["RALPH_BACKENDS__LRS__CLICKHOUSE__DATABASE"] == "lrs"
    reader = auth_users(extended)["reader"]
    assert reader["hash"] == extended.config()["RALPHCONSUMER_HASHED_PASSWORD"]
    assert reader["scopes"] == ["statements/read"]
    assert not extended.compose_config()["services"]["ralph"].get("depends_on")
    extended.save(settings={"RALPH_REPLICAS": 3})
    assert extended.manifests()[("Deployment", "ralph")]["spec"]["replicas"] == 3


def test_public_url_adds_a_caddy_site(make_root) -> None:
    root = make_root(["ralph"], {"RALPH_ENABLE_PUBLIC_URL": True})
    caddyfile = root.env_file("apps", "caddy", "Caddyfile")
    site = caddyfile[caddyfile.index("lrs.local.openedx.io{$default_site_port} {") :]
    assert '    import proxy "ralph:8100"\n}' in site
    # Bodies over RALPH_MAX_BODY_SIZE get 413 (tests/reliability/test_oversized.py runs it).
    assert "    request_body {\n        max_size 25000000\n    }" in site
    assert (
        "lrs.local.openedx.io"
        in root.compose_config()["services"]["caddy"]["networks"]["default"]["aliases"]
    )


def test_ralph_run_elsewhere_renders_no_service(make_root, tmp_path: Path) -> None:
    root = make_root(
        ["ralph"],
        {
            "RUN_RALPH": False,
            "RALPH_HOST": "lrs.example.com",
            "RALPH_RUN_HTTPS": True,
            "RALPH_PORT": 443,
        },
    )
    services = root.compose_config(jobs=True)["services"]
    assert "ralph" not in services and "ralph-job" in services
    assert not {
        name
        for kind, name in root.manifests()
        if kind in ("Deployment", "Service") and name == "ralph"
    }
    [(_, script)] = root.init_scripts("ralph")
    check_posix_script(script, tmp_path)
    assert 'url = "https://lrs.example.com:443"' in script


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RALPH_PORT", "http", "RALPH_PORT must be a port number"),
        ("RALPH_REPLICAS", 0, "RALPH_REPLICAS must be a whole number of at least 1"),
        ("RALPH_BACKEND", "fs", "RALPH_BACKEND cannot be fs"),
        ("RALPH_WORKERS", 0, "RALPH_WORKERS must be a whole number of at least 1"),
        ("RALPH_BACKEND", "postgres", "RALPH_BACKEND must be one of mongo, async_mongo"),
        ("RALPH_LMS_USERNAME", "lms:1", "RALPH_LMS_USERNAME must be a non-empty name without ':'"),
        ("RALPH_ADMIN_PASSWORD", "", "RALPH_ADMIN_PASSWORD must not be empty"),
        ("RALPH_LMS_HASHED_PASSWORD", "plain", "RALPH_LMS_HASHED_PASSWORD must be a bcrypt hash"),
        (
            "RALPH_EXTRA_SETTINGS",
            {"lower": "x"},
            "RALPH_EXTRA_SETTINGS: 'lower' is not an environment",
        ),
        ("RUN_RALPH", "no", "RUN_RALPH must be true or false"),
        ("RALPH_PORT", 65536, "RALPH_PORT must be a port number between 1 and 65535, not '65536'"),
        ("RALPH_WORKERS", "two", "RALPH_WORKERS must be a whole number of at least 1, not 'two'"),
        ("RALPH_RUN_HTTPS", "yes", "RALPH_RUN_HTTPS must be true or false, not 'yes'"),
        ("RALPH_ENABLE_PUBLIC_URL", "true", "RALPH_ENABLE_PUBLIC_URL must be true or false"),
        (
            "RALPH_SENTRY_IGNORE_HEALTH_CHECKS",
            "no",
            "RALPH_SENTRY_IGNORE_HEALTH_CHECKS must be true or false, not 'no'",
        ),
        (
            "RALPH_HOST",
            "http://ralph",
            "RALPH_HOST must be a host name, without scheme, port or path, not 'http://ralph'",
        ),
        ("RALPH_PUBLIC_HOST", "lrs.example.com/xapi", "RALPH_PUBLIC_HOST must be a host name"),
        ("DOCKER_IMAGE_RALPH", "", "DOCKER_IMAGE_RALPH must be an image name such as"),
        (
            "RALPH_SENTRY_DSN",
            "not-a-dsn",
            "RALPH_SENTRY_DSN must be empty or a DSN such as https://key@host/1, not 'not-a-dsn'",
        ),
        (
            "RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE",
            1.5,
            "RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE must be a number from 0 to 1, not 1.5",
        ),
        (
            "RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE",
            "high",
            "RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE must be a number from 0 to 1, not 'high'",
        ),
        ("RALPH_MONGODB_DATABASE", "my.db", "RALPH_MONGODB_DATABASE must be a MongoDB database"),
        ("RALPH_MONGODB_DATABASE", "", "RALPH_MONGODB_DATABASE must be a MongoDB database"),
        (
            "RALPH_MAX_BODY_SIZE",
            "25MB",
            "RALPH_MAX_BODY_SIZE must be a number of bytes, such as 25000000, not '25MB'",
        ),
        ("RALPH_MAX_BODY_SIZE", 0, "RALPH_MAX_BODY_SIZE must be a number of bytes"),
        ("RALPH_ADMIN_USERNAME", "", "RALPH_ADMIN_USERNAME must be a non-empty name without"),
        ("RALPH_LMS_PASSWORD", "", "RALPH_LMS_PASSWORD must not be empty"),
        ("RALPH_ADMIN_HASHED_PASSWORD", "x", "RALPH_ADMIN_HASHED_PASSWORD must be a bcrypt hash"),
        (
            "RALPH_EXTRA_SETTINGS",
            "RALPH_X=1",
            "RALPH_EXTRA_SETTINGS must be a mapping of settings, not 'RALPH_X=1'",
        ),
    ],
)
def test_bad_config_stops_with_a_message_naming_the_key(
    alone: TutorRoot, key: str, value: object, message: str
) -> None:
    error = alone.save_invalid(key, value)
    assert "Invalid Ralph configuration" in error
    assert message in error


def test_the_tests_run_the_images_ralph_release(alone: TutorRoot) -> None:
    from tests.harness.ralph import RALPH_BIN

    image = alone.compose_config()["services"]["ralph"]["image"]
    code = "import importlib.metadata as m; print(m.version('ralph-malph'))"
    installed = subprocess.run(
        [str(RALPH_BIN / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert image == f"docker.io/fundocker/ralph:{installed}"


@pytest.mark.parametrize("public", [True, False])
def test_launch_lists_ralphs_public_url_when_caddy_serves_it(make_root, public: bool) -> None:
    root = make_root(["ralph"], {"RALPH_ENABLE_PUBLIC_URL": public})
    ralph_url = "http://lrs." + root.value("LMS_HOST")
    assert (ralph_url in root.launch_urls("local")) is public
    assert ralph_url not in root.launch_urls("dev")
    assert (
        "lrs." + root.value("LMS_HOST") in root.env_file("apps", "caddy", "Caddyfile")
    ) is public
