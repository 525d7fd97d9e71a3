"""The superset plugin rendered by real Tutor, alone."""

from __future__ import annotations

import ast
import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.harness.superset import SUPERSET_BIN
from tests.harness.tutor import BIN, REPOSITORY, TutorRoot, check_posix_script
from tests.superset.conftest import PLUGINS_ROOT


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


PLAIN_PYTHONPATH = REPOSITORY / "tutor-contrib-superset" / "tutorsuperset" / "pythonpath"


def test_kubernetes_pods_mount_every_module_of_the_pythonpath(alone: TutorRoot) -> None:
    rendered = alone.path / "env" / "plugins" / "superset" / "apps" / "pythonpath"
    modules = {path.name for path in rendered.iterdir() if path.is_file()}
    assert {"superset_config.py", "openedx_sso.py", "query_guard.py", "tutor_settings.json"} <= (
        modules
    )
    # The plain modules land as they are in the package, where the linter reads them.
    for plain in PLAIN_PYTHONPATH.glob("*.py"):
        assert (rendered / plain.name).read_text() == plain.read_text(), plain.name
    manifests = alone.manifests()
    [config_map] = [m for (_, n), m in manifests.items() if n.startswith("superset-pythonpath-")]
    assert set(config_map["data"]) == modules
    deployments = ("superset", "superset-worker", "superset-worker-beat")
    for kind, name in [*(("Deployment", name) for name in deployments), ("Job", "superset-job")]:
        [container] = manifests[(kind, name)]["spec"]["template"]["spec"]["containers"]
        mounted = {
            mount["subPath"]
            for mount in container["volumeMounts"]
            if mount["mountPath"] == "/app/pythonpath/" + mount.get("subPath", "")
        }
        assert mounted == modules, name


def image_pins(root: TutorRoot) -> dict[str, str]:
    """
    What the rendered Superset Dockerfile installs (hadolint-clean), name to version: the
    requirements file of its build context, then the requirements it names itself.
    """
    context = root.path / "env" / "plugins" / "superset" / "build" / "superset"
    dockerfile = (context / "Dockerfile").read_text()
    subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "warning", str(context / "Dockerfile")],
        check=True,
    )
    assert "uv pip install --no-cache -r /tmp/superset-requirements.txt" in dockerfile
    text = (context / "requirements.txt").read_text() + "\n" + dockerfile
    pins = re.findall(r"^\s*'?([A-Za-z0-9_.-]+)==([^\s\\']+)", text, re.M)
    return {name.lower(): version for name, version in pins}


def superset_venv_versions() -> dict[str, str]:
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
    return {p["name"].lower(): p["version"] for p in json.loads(installed)}


def test_image_installs_what_the_tests_run(alone: TutorRoot) -> None:
    versions = superset_venv_versions()
    pins = image_pins(alone)
    assert pins == {name: versions[name] for name in pins}


def test_knows_nothing_of_clickhouse_or_xapi(alone: TutorRoot) -> None:
    package = Path(__file__).resolve().parents[2] / "tutor-contrib-superset" / "tutorsuperset"
    texts = [p.read_text() for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"]
    texts += [text for path, text in alone.rendered_files().items() if "superset" in str(path)]
    texts += [script for _, script in alone.init_scripts("superset")]
    assert not [t for t in texts if re.search(r"clickhouse|xapi", t, re.IGNORECASE)]


def test_secrets_stay_out_of_the_configuration_and_the_job_script(alone: TutorRoot) -> None:
    config = alone.config()
    pythonpath = alone.path / "env" / "plugins" / "superset" / "apps" / "pythonpath"
    files = {path.name: path.read_text() for path in pythonpath.iterdir() if path.is_file()}
    for name, text in files.items():  # the rendered files are Python and JSON
        json.loads(text) if name.endswith(".json") else compile(text, name, "exec")
    secrets = ("SUPERSET_SECRET_KEY", "SUPERSET_DB_PASSWORD", "SUPERSET_OAUTH2_CLIENT_SECRET")
    for key in secrets:
        assert not [name for name, text in files.items() if config[key] in text], key
    [(_, script), (_, lms_script)] = alone.init_scripts("superset")
    for key in (*secrets, "SUPERSET_ADMIN_PASSWORD", "MYSQL_ROOT_PASSWORD"):
        assert config[key] not in script + lms_script
    # The LMS task reads the OAuth2 client secret from the LMS settings.
    python = lms_script.split("<<'PYTHON'\n")[1].split("\nPYTHON\n")[0]
    compile(python, "lms.sh", "exec")
    assert "settings.SUPERSET_OAUTH2_CLIENT_SECRET" in python
    for variant in ("production", "development"):
        rendered = alone.env_file("apps", "openedx", "settings", "lms", f"{variant}.py")
        [value] = re.findall(r"^SUPERSET_OAUTH2_CLIENT_SECRET = (.+)$", rendered, re.MULTILINE)
        assert ast.literal_eval(value) == config["SUPERSET_OAUTH2_CLIENT_SECRET"]
    assert "AUTH_TYPE = AUTH_OAUTH" in files["openedx_config.py"]
    assert '"code_challenge_method": "S256"' in files["openedx_config.py"]


# What Superset reads of its session cookie from its configuration, loaded with superset.env.
COOKIE_VALUES = """
import json, superset_config as c
print(json.dumps([
    c.SESSION_COOKIE_SECURE, c.SESSION_COOKIE_HTTPONLY, c.TALISMAN_CONFIG["session_cookie_secure"]
]))
"""


@pytest.mark.parametrize("https", [True, False])
def test_the_session_cookie_is_secure_under_https(make_root, https: bool) -> None:
    # It carries the person's LMS access token.
    root = make_root(["superset"], {"ENABLE_HTTPS": https})
    apps = root.path / "env" / "plugins" / "superset" / "apps"
    lines = (apps / "superset.env").read_text().splitlines()
    secrets = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    result = subprocess.run(
        [str(SUPERSET_BIN / "python"), "-c", COOKIE_VALUES],
        env={**secrets, "PYTHONPATH": str(apps / "pythonpath"), "PATH": str(SUPERSET_BIN)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == [https, True, https]


def test_launch_prints_supersets_url(alone: TutorRoot) -> None:
    superset_url = "http://" + alone.value("SUPERSET_HOST")
    assert superset_url in alone.launch_urls("local")
    # Under `tutor dev`, Caddy does not serve it: the port that the dev compose file publishes.
    assert superset_url not in alone.launch_urls("dev")
    assert f"{superset_url}:{alone.value('SUPERSET_DEV_PORT')}" in alone.launch_urls("dev")


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
        ("SUPERSET_DB_PORT", 0, "SUPERSET_DB_PORT must be a port number between 1 and 65535"),
        ("RUN_SUPERSET", "yes", "RUN_SUPERSET must be true or false, not 'yes'"),
        (
            "SUPERSET_HOST",
            "https://superset.example.com",
            "SUPERSET_HOST must be a host name, without scheme or path, "
            "not 'https://superset.example.com'",
        ),
        ("SUPERSET_DB_HOST", "mysql:3306", "SUPERSET_DB_HOST must be a host name"),
        (
            "SUPERSET_INTERNAL_URL",
            "superset:8088",
            "SUPERSET_INTERNAL_URL must be a URL such as http://host:port, not 'superset:8088'",
        ),
        ("SUPERSET_LMS_INTERNAL_URL", 'http://lms:8000"', "SUPERSET_LMS_INTERNAL_URL must be a"),
        (
            "SUPERSET_OAUTH2_AUTHORIZE_PATH",
            "oauth2/authorize/",
            "SUPERSET_OAUTH2_AUTHORIZE_PATH must be a path that starts with /, "
            "not 'oauth2/authorize/'",
        ),
        (
            "SUPERSET_OAUTH2_ACCESS_TOKEN_PATH",
            "https://lms/oauth2/access_token/",
            "SUPERSET_OAUTH2_ACCESS_TOKEN_PATH must be a path that starts with /",
        ),
        ("SUPERSET_ADMIN_EMAIL", "admin", "SUPERSET_ADMIN_EMAIL must be an email address"),
        (
            "SUPERSET_COURSE_STAFF_ROLE",
            "Admin",
            "SUPERSET_COURSE_STAFF_ROLE must not be Superset's own role 'Admin'",
        ),
        ("SUPERSET_GUEST_ROLE", 'Guest "embedded"', "SUPERSET_GUEST_ROLE must be a role name"),
        ("SUPERSET_GUEST_ROLE", "", "SUPERSET_GUEST_ROLE must be a role name of 1 to 64"),
        (
            "SUPERSET_GUEST_ROLE",
            "Course Staff",
            "SUPERSET_COURSE_STAFF_ROLE and SUPERSET_GUEST_ROLE must be different roles",
        ),
        ("SUPERSET_REDIS_CACHE_DB", 16, "SUPERSET_REDIS_CACHE_DB must be a Redis database from"),
        ("SUPERSET_REDIS_CELERY_DB", -1, "SUPERSET_REDIS_CELERY_DB must be a whole number"),
        (
            "SUPERSET_USER_COURSES_CACHE_TIMEOUT",
            "5m",
            "SUPERSET_USER_COURSES_CACHE_TIMEOUT must be a whole number, not '5m'",
        ),
        (
            "SUPERSET_SUPPORTED_LANGUAGES",
            {"en": "English"},
            "SUPERSET_SUPPORTED_LANGUAGES: 'en' must map to a flag and a name, not 'English'",
        ),
        ("DOCKER_IMAGE_SUPERSET", "superset image", "DOCKER_IMAGE_SUPERSET must be an image"),
        ("SUPERSET_SENTRY_DSN", "sentry", "SUPERSET_SENTRY_DSN must be empty or a DSN such as"),
        (
            "SUPERSET_EXTRA_REQUIREMENTS",
            "pandas",
            "SUPERSET_EXTRA_REQUIREMENTS must be a list of pip requirements without quotes, "
            "not 'pandas'",
        ),
        ("SUPERSET_EXTRA_REQUIREMENTS", ["it's"], "SUPERSET_EXTRA_REQUIREMENTS must be a list"),
        ("SUPERSET_OAUTH2_CLIENT_SECRET", "", "SUPERSET_OAUTH2_CLIENT_SECRET must not be empty"),
        ("SUPERSET_ADMIN_PASSWORD", "", "SUPERSET_ADMIN_PASSWORD must not be empty"),
        ("SUPERSET_DB_USERNAME", "super set", "SUPERSET_DB_USERNAME must be letters, digits"),
        ("SUPERSET_LMS_USERNAME", "lms-user", "SUPERSET_LMS_USERNAME must be letters, digits"),
    ],
)
def test_bad_config_stops_with_a_message_naming_the_key(
    alone: TutorRoot, key: str, value: object, message: str
) -> None:
    error = alone.save_invalid(key, value)
    assert "Invalid Superset configuration" in error
    assert message in error


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> TutorRoot:
    """The superset plugin with a stand-in plugin that uses every extension point."""
    path = tmp_path_factory.mktemp("extended")
    root = TutorRoot(path / "root", plugins_root=PLUGINS_ROOT)
    return root.save(["superset", "supersetconsumer"], {"SUPERSETCONSUMER_DB_PASSWORD": "p$w"})


def test_contributions_reach_the_job_image_and_kubernetes(extended: TutorRoot) -> None:
    uri = "clickhousedb://courses_reader:p$w@clickhouse:8123/courses_demo"
    job = extended.compose_config(jobs=True)["services"]["superset-job"]
    # `docker-compose config` prints "$" escaped, as "$$".
    databases = job["environment"]["SUPERSET_DATABASES"].replace("$$", "$")
    assert json.loads(databases) == {"courses_demo": uri}
    assert any(v.endswith("/assets:/app/assets:ro") for v in job["volumes"])
    # The bundle is rendered into the image's build context, which the Dockerfile copies.
    build = extended.path / "env" / "plugins" / "superset" / "build" / "superset"
    assert (build / "assets" / "courses_demo" / "metadata.yaml").is_file()
    assert "COPY --chown=superset assets /app/assets" in (build / "Dockerfile").read_text()
    manifests = extended.manifests()
    # Generated objects' names end with a hash of their content.
    [secret] = [m for (kind, name), m in manifests.items() if name.startswith("superset-job-")]
    databases = base64.b64decode(secret["data"]["SUPERSET_DATABASES"]).decode()
    assert json.loads(databases) == {"courses_demo": uri}
    mounts = manifests[("Job", "superset-job")]["spec"]["template"]["spec"]["containers"][0]
    assert "/app/pythonpath/superset_sync.py" in [m["mountPath"] for m in mounts["volumeMounts"]]
    [config_map] = [
        m for (_, name), m in manifests.items() if name.startswith("superset-pythonpath-")
    ]
    assert "superset_sync.py" in config_map["data"]
    # Superset's own Jinja in the row-level security clause is left for Superset.
    sync = extended.env_file("plugins", "superset", "apps", "pythonpath", "superset_sync.py")
    assert r"{{ can_view_courses(\\\"course_key\\\") }}" in sync


def test_two_asset_bundles_of_one_name_are_refused(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for index in (1, 2):
        (tmp_path / f"from{index}" / "bundle").mkdir(parents=True)
        (plugins / f"bundles{index}.py").write_text(
            "from tutorsuperset.hooks import ASSETS\n"
            f"ASSETS.add_item({str(tmp_path / f'from{index}' / 'bundle')!r})\n"
        )
    root = TutorRoot(tmp_path / "root", plugins_root=plugins).save(["superset"])
    result = root.run("plugins", "enable", "bundles1", "bundles2", check=False)
    assert result.returncode != 0
    assert "two asset bundles contributed by plugins are both named 'bundle'" in result.stderr
