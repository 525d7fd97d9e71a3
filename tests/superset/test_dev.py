"""
Superset under `tutor dev`: no Caddy, the LMS at http://LMS_HOST:8000 and Superset at the port
that the dev compose file publishes, and an OAuth2 client of its own in the LMS. A root rendered
with Tutor's defaults (local.openedx.io), its init run with `tutor dev do init`, Superset run with
the environment that the compose files of `tutor dev` give it, the stand-in LMS with the
application that the LMS's init task registers under `tutor dev`, and headless Chromium, whose
connections to the published addresses reach the native services (as docker's published ports
and local.openedx.io's DNS do on a developer's machine).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright

from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, SignedIn, published_ports, sign_in
from tests.harness.lms import running_lms, superset_client_options
from tests.harness.mariadb import MariaDBServer
from tests.harness.processes import free_port
from tests.harness.redis import RedisServer
from tests.harness.superset import (
    SUPERSET_BIN,
    SupersetServer,
    dev_superset,
    lms_oauth2_applications,
    running_superset,
    superset_job_environment,
)
from tests.harness.tutor import TutorRoot
from tests.superset.conftest import PASSWORD, PEOPLE

LMS_DEV_URL = "http://local.openedx.io:8000"
SUPERSET_DEV_URL = "http://superset.local.openedx.io:8088"
REDIRECT_PATH = "/oauth-authorized/openedxsso"


def published(service: dict) -> list[tuple[int, int]]:
    """(port of the machine, port of the container) of each port a compose service publishes."""
    return [(int(port["published"]), int(port["target"])) for port in service.get("ports", [])]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> TutorRoot:
    return TutorRoot(tmp_path_factory.mktemp("dev") / "root").save(["superset"])


def test_dev_publishes_superset_with_its_development_addresses(root: TutorRoot) -> None:
    config = root.config()
    services = root.compose_config(jobs=True, dev=True)["services"]
    assert published(services["superset"]) == [(8088, 8088)]
    assert published(services["lms"]) == [(8000, 8000)]
    development = {
        "SUPERSET_LMS_PUBLIC_URL": LMS_DEV_URL,
        "SUPERSET_PUBLIC_URL": SUPERSET_DEV_URL,
        "SUPERSET_OAUTH2_CLIENT_ID": config["SUPERSET_OAUTH2_CLIENT_ID"] + "-dev",
    }
    for name in ("superset", "superset-worker", "superset-worker-beat"):
        environment = services[name]["environment"]
        assert {key: environment.get(key) for key in development} == development, name
        # superset.env still holds the secrets.
        assert environment["SUPERSET_SECRET_KEY"] == config["SUPERSET_SECRET_KEY"]
    # `tutor local` and Kubernetes keep the addresses and client that Caddy serves.
    local = root.compose_config(jobs=True)["services"]
    for name in ("superset", "superset-worker", "superset-worker-beat", "superset-job"):
        assert not set(development) & set(local[name]["environment"]), name
        assert "ports" not in local[name], name
    for doc in root.kustomize():
        if doc["kind"] == "Secret":
            assert not set(development) & set(doc.get("data", {})), doc["metadata"]["name"]
        for container in (
            doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        ):
            assert not {item["name"] for item in container.get("env", [])} & set(development)


def test_the_lms_registers_a_development_client_for_tutor_dev_only(root: TutorRoot) -> None:
    config = root.config()
    production = {
        "name": "superset-sso",
        "user": "superset",
        "client_id": config["SUPERSET_OAUTH2_CLIENT_ID"],
        "client_secret": config["SUPERSET_OAUTH2_CLIENT_SECRET"],
        "redirect_uris": [f"http://superset.local.openedx.io{REDIRECT_PATH}"],
        "grant_type": "authorization-code",
        "scopes": "user_id",
        "skip_authorization": True,
    }
    assert lms_oauth2_applications(root) == [production]
    development = {
        **production,
        "name": "superset-sso-dev",
        "client_id": config["SUPERSET_OAUTH2_CLIENT_ID"] + "-dev",
        "redirect_uris": [SUPERSET_DEV_URL + REDIRECT_PATH],
    }
    assert lms_oauth2_applications(root, dev=True) == [production, development]


def test_dev_port_and_client_id_are_settings(make_root) -> None:
    root = make_root(
        ["superset"],
        {"SUPERSET_DEV_PORT": 18088, "SUPERSET_OAUTH2_CLIENT_ID_DEV": "superset-sso-dev"},
    )
    services = root.compose_config(dev=True)["services"]
    assert published(services["superset"]) == [(18088, 8088)]
    environment = services["superset"]["environment"]
    assert environment["SUPERSET_PUBLIC_URL"] == "http://superset.local.openedx.io:18088"
    assert environment["SUPERSET_OAUTH2_CLIENT_ID"] == "superset-sso-dev"
    [_, development] = lms_oauth2_applications(root, dev=True)
    assert development["client_id"] == "superset-sso-dev"
    assert development["redirect_uris"] == [
        f"http://superset.local.openedx.io:18088{REDIRECT_PATH}"
    ]
    message = root.save_invalid(
        "SUPERSET_OAUTH2_CLIENT_ID_DEV", root.value("SUPERSET_OAUTH2_CLIENT_ID")
    )
    assert "SUPERSET_OAUTH2_CLIENT_ID_DEV must differ from SUPERSET_OAUTH2_CLIENT_ID" in message
    message = root.save_invalid("SUPERSET_DEV_PORT", 70000)
    assert "SUPERSET_DEV_PORT must be a port number between 1 and 65535" in message


# What Superset reads from its configuration, once loaded with a container's environment.
CONFIG_VALUES = """
import json, superset_config as c
[provider] = c.OAUTH_PROVIDERS
print(json.dumps({
    "authorize_url": provider["remote_app"]["authorize_url"],
    "access_token_url": provider["remote_app"]["access_token_url"],
    "client_id": provider["remote_app"]["client_id"],
    "logout": c.LOGOUT_REDIRECT_URL,
    "guest_token_audience": c.GUEST_TOKEN_JWT_AUDIENCE,
    "secure_cookie": [c.SESSION_COOKIE_SECURE, c.TALISMAN_CONFIG["session_cookie_secure"]],
}))
"""


def superset_config_values(root: TutorRoot, dev: bool) -> dict:
    pythonpath = root.path / "env" / "plugins" / "superset" / "apps" / "pythonpath"
    environment = root.compose_config(dev=dev)["services"]["superset"]["environment"]
    result = subprocess.run(
        [str(SUPERSET_BIN / "python"), "-c", CONFIG_VALUES],
        env={
            **{key: str(value) for key, value in environment.items()},
            "PYTHONPATH": str(pythonpath),
            "PATH": str(SUPERSET_BIN),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_superset_reads_its_dev_addresses_from_the_dev_environment_only(make_root) -> None:
    # A platform served over HTTPS by `tutor local`, developed with `tutor dev`.
    root = make_root(["superset"], {"ENABLE_HTTPS": True})
    client_id = root.value("SUPERSET_OAUTH2_CLIENT_ID")
    assert superset_config_values(root, dev=False) == {
        "authorize_url": "https://local.openedx.io/oauth2/authorize/",
        "access_token_url": "http://lms:8000/oauth2/access_token/",
        "client_id": client_id,
        "logout": "https://local.openedx.io/logout",
        "guest_token_audience": "https://superset.local.openedx.io",
        "secure_cookie": [True, True],
    }
    assert superset_config_values(root, dev=True) == {
        "authorize_url": f"{LMS_DEV_URL}/oauth2/authorize/",
        "access_token_url": "http://lms:8000/oauth2/access_token/",
        "client_id": f"{client_id}-dev",
        "logout": f"{LMS_DEV_URL}/logout",
        "guest_token_audience": SUPERSET_DEV_URL,
        # Plain HTTP: a secure cookie would never come back.
        "secure_cookie": [False, False],
    }


def test_the_lms_embeds_dashboards_from_supersets_dev_address(make_root) -> None:
    root = make_root(["clickhouse", "ralph", "superset", "aspects"])
    settings = {}
    for variant in ("production", "development"):
        rendered = root.env_file("apps", "openedx", "settings", "lms", f"{variant}.py")
        blocks = re.findall(
            r"^# Open edX Aspects:.*?^# End of the Open edX Aspects[^\n]*$",
            rendered,
            re.MULTILINE | re.DOTALL,
        )
        namespace: dict = {}
        for block in blocks:
            exec(block, namespace)  # noqa: S102 - rendered settings, loaded as Django would
        settings[variant] = namespace["SUPERSET_CONFIG"]
    assert settings["production"]["service_url"] == "http://superset.local.openedx.io"
    assert settings["development"] == {**settings["production"], "service_url": SUPERSET_DEV_URL}
    assert settings["development"]["internal_service_url"] == "http://superset:8088"
    ast.parse(root.env_file("apps", "openedx", "settings", "lms", "development.py"))


class DevStack:
    def __init__(self, root: TutorRoot, superset: SupersetServer, browser: Browser) -> None:
        self.root, self.superset, self.browser = root, superset, browser

    def sign_in(self, username: str) -> SignedIn:
        return sign_in(self.browser, SUPERSET_DEV_URL, LMS_DEV_URL, username, PASSWORD)

    @staticmethod
    def get(signed_in: SignedIn, path: str) -> tuple[int, dict]:
        """Superset's API in the signed-in browser, which alone maps the published addresses."""
        reply = signed_in.page.goto(SUPERSET_DEV_URL + path)
        assert reply is not None
        return reply.status, reply.json()

    def roles(self, signed_in: SignedIn) -> set[str]:
        status, reply = self.get(signed_in, "/api/v1/me/roles/")
        assert status == 200, reply
        return set(reply["result"]["roles"])


@pytest.fixture(scope="module")
def dev_stack(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb_server: MariaDBServer,
    redis_server: RedisServer,
    playwright_driver: Playwright,
) -> Iterator[DevStack]:
    directory = tmp_path_factory.mktemp("dev-sso")
    lms_port = free_port()
    # Tutor's development defaults (local.openedx.io, no HTTPS); the platform's MySQL and Redis
    # are the native ones, and Superset's server reaches the LMS at its internal URL, here the
    # stand-in's port.
    root = TutorRoot(directory / "root").save(
        ["superset"],
        {
            "MYSQL_HOST": mariadb_server.host,
            "MYSQL_PORT": mariadb_server.port,
            "MYSQL_ROOT_USERNAME": mariadb_server.root_user,
            "MYSQL_ROOT_PASSWORD": mariadb_server.root_password,
            **redis_server.tutor_settings(),
            "SUPERSET_REDIS_CACHE_DB": 11,
            "SUPERSET_REDIS_CELERY_DB": 12,
            "SUPERSET_DB_NAME": "superset_dev",
            "SUPERSET_DB_USERNAME": "superset_dev",
            "SUPERSET_LMS_INTERNAL_URL": f"http://127.0.0.1:{lms_port}",
        },
    )
    config = root.loaded_config()
    assert (config["LMS_HOST"], config["ENABLE_HTTPS"]) == ("local.openedx.io", False)
    home = directory / "home"
    root.run("dev", "do", "init", "--limit", "superset", **superset_job_environment(root, home))
    [client] = [
        app for app in lms_oauth2_applications(root, dev=True) if app["name"].endswith("-dev")
    ]
    services = root.compose_config(dev=True)["services"]
    [(superset_published, _)] = published(services["superset"])
    [(lms_published, _)] = published(services["lms"])
    options = {
        **superset_client_options(config),
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    with (
        running_lms(
            directory / "lms",
            PEOPLE,
            client["redirect_uris"],
            port=lms_port,
            allowed_hosts=["127.0.0.1", "local.openedx.io"],
            **options,
        ),
        running_superset(dev_superset(root, home)) as server,
    ):
        ports = published_ports(
            {
                f"local.openedx.io:{lms_published}": lms_port,
                f"superset.local.openedx.io:{superset_published}": server.port,
            }
        )
        browser = playwright_driver.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, ports]
        )
        yield DevStack(root, server, browser)
        browser.close()


def test_an_instructor_signs_in_under_dev(dev_stack: DevStack) -> None:
    ida = dev_stack.sign_in("ida_instructor")
    assert ida.status == 200, ida.text[:500]
    assert ida.page.url.startswith(SUPERSET_DEV_URL + "/"), ida.page.url
    status, me = dev_stack.get(ida, "/api/v1/me/")
    assert (status, me["result"]["username"]) == (200, "ida_instructor")
    assert dev_stack.roles(ida) == {"Course Staff"}
    # Signing out of Superset signs out of the LMS, at its development address.
    ida.page.goto(f"{SUPERSET_DEV_URL}/logout/")
    assert ida.page.url.startswith(LMS_DEV_URL + "/"), ida.page.url
    assert dev_stack.get(ida, "/api/v1/me/")[0] == 401


def test_global_staff_signs_in_as_admin_under_dev(dev_stack: DevStack) -> None:
    sam = dev_stack.sign_in("sam_staff")
    assert sam.status == 200, sam.text[:500]
    assert dev_stack.roles(sam) == {"Admin"}


def test_a_learner_is_refused_under_dev(dev_stack: DevStack) -> None:
    leo = dev_stack.sign_in("leo_learner")
    assert leo.status == 403
    assert dev_stack.get(leo, "/api/v1/me/")[0] == 401
