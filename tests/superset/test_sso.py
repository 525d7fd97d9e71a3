"""
Single sign-on through the LMS, end to end: real Superset with the plugin's rendered
configuration and security manager, and the stand-in LMS (django-oauth-toolkit, edx-platform's
endpoints, JWTs signed with the platform's key). Each person signs in with the LMS's login form.
"""

from __future__ import annotations

import shutil
import typing as t
from collections.abc import Iterator

import pytest
from playwright.sync_api import APIRequestContext, Browser, sync_playwright

from tests.harness.lms import LmsServer, running_lms
from tests.harness.mariadb import MariaDBServer
from tests.harness.processes import free_port
from tests.harness.superset import Superset, running_superset
from tests.harness.tutor import TutorRoot

PASSWORD = "a-password-for-tests"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's, installed by make install
PEOPLE = {
    "courses": [
        {"id": "course-v1:OpenedX+DemoX+2026", "name": "Demo course"},
        {"id": "course-v1:OpenedX+Other+2026", "name": "Other course"},
    ],
    "users": [
        {
            "username": "sam_staff",
            "password": PASSWORD,
            "email": "sam@example.com",
            "name": "Sam Staff",
            "is_staff": True,
            "is_superuser": False,
        },
        {
            "username": "ida_instructor",
            "password": PASSWORD,
            "email": "ida@example.com",
            "name": "Ida Instructor",
            "is_staff": False,
            "is_superuser": False,
            "courses": {"instructor": ["course-v1:OpenedX+DemoX+2026"]},
        },
        {
            "username": "leo_learner",
            "password": PASSWORD,
            "email": "leo@example.com",
            "name": "Leo Learner",
            "is_staff": False,
            "is_superuser": False,
        },
    ],
}


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class SignedIn(t.NamedTuple):
    status: int  # of the page the browser ended on
    text: str
    api: APIRequestContext  # the browser's cookies, for Superset's API


class Stack:
    def __init__(self, superset_url: str, lms: LmsServer, browser: Browser) -> None:
        self.superset_url, self.lms, self.browser = superset_url, lms, browser

    def sign_in(self, username: str) -> SignedIn:
        """In a fresh headless Chromium: Superset's LMS login, the LMS form, back to Superset."""
        context = self.browser.new_context()
        page = context.new_page()
        page.goto(f"{self.superset_url}/login/openedxsso")
        assert page.url.startswith(f"{self.lms.url}/login"), page.url
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', PASSWORD)
        with page.expect_navigation(url=f"{self.superset_url}/**") as navigation:
            page.click('button[type="submit"], input[type="submit"]')
        page.wait_for_load_state()
        response = navigation.value
        return SignedIn(response.status, page.content(), context.request)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, mariadb_server: MariaDBServer
) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("sso")
    superset_port, lms_port = free_port(), free_port()
    lms_url = f"http://127.0.0.1:{lms_port}"
    root = TutorRoot(directory / "root").save(
        ["superset"],
        {
            "MYSQL_HOST": mariadb_server.host,
            "MYSQL_PORT": mariadb_server.port,
            "MYSQL_ROOT_USERNAME": mariadb_server.root_user,
            "MYSQL_ROOT_PASSWORD": mariadb_server.root_password,
            "SUPERSET_DB_NAME": "superset_sso",
            "LMS_HOST": f"127.0.0.1:{lms_port}",
            "SUPERSET_LMS_INTERNAL_URL": lms_url,
            "JWT_COMMON_ISSUER": f"{lms_url}/oauth2",
        },
    )
    config = root.config()
    pythonpath = root.path / "env" / "plugins" / "superset" / "apps" / "pythonpath"
    home = directory / "home"
    root.run(
        "local",
        "do",
        "init",
        "--limit",
        "superset",
        PYTHONPATH=str(pythonpath),
        SUPERSET_HOME=str(home),
        TUTOR_DOCKER_SHIM_SKIP="lms-job",
    )
    lines = root.env_file("plugins", "superset", "apps", "superset.env").splitlines()
    secrets = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    superset = Superset(pythonpath / "superset_config.py", home=home, env=secrets)
    with (
        running_lms(
            directory / "lms",
            PEOPLE,
            [f"http://127.0.0.1:{superset_port}/oauth-authorized/openedxsso"],
            port=lms_port,
            client_id=config["SUPERSET_OAUTH2_CLIENT_ID"],
            client_secret=config["SUPERSET_OAUTH2_CLIENT_SECRET"],
            private_key_pem=config["JWT_RSA_PRIVATE_KEY"],
            issuer=f"{lms_url}/oauth2",
            # As edx-platform: RS512, and a shared-secret JWT unless asked for an asymmetric one.
            force_asymmetric_jwt=False,
            jwt_algorithm="RS512",
        ) as lms,
        running_superset(superset, port=superset_port) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield Stack(server.url, lms, browser)
        browser.close()


def roles_of(stack: Stack, signed_in: SignedIn) -> set[str]:
    reply = signed_in.api.get(f"{stack.superset_url}/api/v1/me/roles/")
    assert reply.status == 200, reply.text()
    return set(reply.json()["result"]["roles"])


def test_global_staff_signs_in_as_admin(stack: Stack) -> None:
    signed_in = stack.sign_in("sam_staff")
    assert signed_in.status == 200, signed_in.text[:500]
    me = signed_in.api.get(f"{stack.superset_url}/api/v1/me/").json()["result"]
    assert (me["username"], me["email"], me["first_name"]) == (
        "sam_staff",
        "sam@example.com",
        "Sam",
    )
    assert roles_of(stack, signed_in) == {"Admin"}


def test_course_instructor_signs_in_as_course_staff(stack: Stack) -> None:
    signed_in = stack.sign_in("ida_instructor")
    assert signed_in.status == 200, signed_in.text[:500]
    assert roles_of(stack, signed_in) == {"Course Staff"}


def test_learner_is_refused_with_a_page_not_a_loop(stack: Stack) -> None:
    signed_in = stack.sign_in("leo_learner")
    assert signed_in.status == 403
    assert "Superset is for course teams" in signed_in.text
    assert signed_in.api.get(f"{stack.superset_url}/api/v1/me/").status == 401
