"""The superset plugin rendered by real Tutor, alone."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.harness.tutor import BIN, REPOSITORY, TutorRoot, check_posix_script


@pytest.fixture(scope="module")
def alone(make_root) -> TutorRoot:
    return make_root(["superset"])


def test_renders_and_validates_alone(alone: TutorRoot, tmp_path: Path) -> None:
    services = alone.compose_config(jobs=True)["services"]
    assert {"superset", "superset-worker", "superset-worker-beat", "superset-job"} <= set(services)
    web = services["superset"]
    assert web["command"][0] == "gunicorn" and "--bind=0.0.0.0:8088" in web["command"]
    assert web["environment"]["SUPERSET_SECRET_KEY"] == alone.config()["SUPERSET_SECRET_KEY"]
    assert any(v.endswith(":/app/pythonpath:ro") for v in web["volumes"])
    manifests = alone.manifests()
    for name in ("superset", "superset-worker", "superset-worker-beat"):
        assert ("Deployment", name) in manifests
    assert ("Service", "superset") in manifests and ("Job", "superset-job") in manifests
    scripts = alone.init_scripts("superset")
    assert [service for service, _ in scripts] == ["superset", "lms"]
    for _, script in scripts:
        check_posix_script(script, tmp_path)


def test_image_installs_what_the_tests_run(alone: TutorRoot) -> None:
    dockerfile = alone.path / "env" / "plugins" / "superset" / "build" / "superset" / "Dockerfile"
    subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "warning", str(dockerfile)], check=True
    )
    pins = dict(re.findall(r"^\s+([A-Za-z0-9_.-]+)==([^\s\\]+)", dockerfile.read_text(), re.M))
    installed = subprocess.run(
        [
            str(REPOSITORY / ".venv-superset" / "bin" / "python"),
            "-m",
            "pip",
            "list",
            "--format=json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(installed)}
    assert {name.lower(): version for name, version in pins.items()} == {
        name.lower(): versions[name.lower()] for name in pins
    }


def test_knows_nothing_of_clickhouse_or_xapi(alone: TutorRoot) -> None:
    package = Path(__file__).resolve().parents[2] / "tutor-contrib-superset" / "tutorsuperset"
    texts = [p.read_text() for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"]
    texts += [text for path, text in alone.rendered_files().items() if "superset" in str(path)]
    texts += [script for _, script in alone.init_scripts("superset")]
    assert not [t for t in texts if re.search(r"clickhouse|xapi", t, re.IGNORECASE)]


def test_secrets_stay_out_of_the_configuration_and_the_job_script(alone: TutorRoot) -> None:
    config = alone.config()
    superset_config = alone.env_file(
        "plugins", "superset", "apps", "pythonpath", "superset_config.py"
    )
    compile(superset_config, "superset_config.py", "exec")  # the rendered file is Python
    secrets = ("SUPERSET_SECRET_KEY", "SUPERSET_DB_PASSWORD", "SUPERSET_OAUTH2_CLIENT_SECRET")
    for key in secrets:
        assert config[key] not in superset_config
    [(_, script), _] = alone.init_scripts("superset")
    for key in (*secrets, "SUPERSET_ADMIN_PASSWORD", "MYSQL_ROOT_PASSWORD"):
        assert config[key] not in script
    assert "AUTH_TYPE = AUTH_OAUTH" in superset_config
    assert '"code_challenge_method": "S256"' in superset_config


def test_caddy_serves_superset_on_its_host(alone: TutorRoot) -> None:
    caddyfile = alone.env_file("apps", "caddy", "Caddyfile")
    assert (
        'superset.local.openedx.io{$default_site_port} {\n    import proxy "superset:8088"'
        in caddyfile
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SUPERSET_PORT", "web", "SUPERSET_PORT must be a port number"),
        ("SUPERSET_DB_NAME", "super-set", "SUPERSET_DB_NAME must be letters"),
        ("SUPERSET_SECRET_KEY", "", "SUPERSET_SECRET_KEY must not be empty"),
        ("SUPERSET_DEFAULT_LOCALE", "xx", "SUPERSET_SUPPORTED_LANGUAGES must be a mapping that"),
        ("SUPERSET_ROW_LIMIT", "many", "SUPERSET_ROW_LIMIT must be a whole number"),
    ],
)
def test_bad_config_stops_with_a_message_naming_the_key(
    alone: TutorRoot, key: str, value: object, message: str
) -> None:
    error = alone.save_invalid(key, value)
    assert "Invalid Superset configuration" in error
    assert message in error
