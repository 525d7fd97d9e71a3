"""
Single sign-on through the LMS, end to end: real Superset with the plugin's rendered
configuration and security manager, and the stand-in LMS (django-oauth-toolkit, edx-platform's
endpoints, JWTs signed with the platform's key). Each person signs in with the LMS's login form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.harness.lms import LmsServer, running_lms
from tests.harness.mariadb import MariaDBServer
from tests.harness.ralph import free_port
from tests.harness.superset import Superset, running_superset
from tests.harness.tutor import TutorRoot

PASSWORD = "a-password-for-tests"
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


class Stack:
    def __init__(self, superset_url: str, lms: LmsServer) -> None:
        self.superset_url, self.lms = superset_url, lms

    def sign_in(self, username: str) -> tuple[requests.Session, requests.Response]:
        """Open Superset's LMS login, fill in the LMS form, and follow the redirects back."""
        session = requests.Session()
        page = session.get(f"{self.superset_url}/login/openedxsso", timeout=30)
        assert page.url.startswith(f"{self.lms.url}/login"), page.url
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        next_url = re.search(r'name="next" value="([^"]+)"', page.text).group(1)
        form = {"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD}
        reply = session.post(
            page.url, data={**form, "next": next_url.replace("&amp;", "&")}, timeout=60
        )
        return session, reply


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
    ):
        yield Stack(server.url, lms)


def roles_of(stack: Stack, session: requests.Session) -> set[str]:
    reply = session.get(f"{stack.superset_url}/api/v1/me/roles/", timeout=30)
    assert reply.status_code == 200, reply.text
    return set(reply.json()["result"]["roles"])


def test_global_staff_signs_in_as_admin(stack: Stack) -> None:
    session, reply = stack.sign_in("sam_staff")
    assert reply.status_code == 200, reply.text[:500]
    me = session.get(f"{stack.superset_url}/api/v1/me/", timeout=30).json()["result"]
    assert (me["username"], me["email"], me["first_name"]) == (
        "sam_staff",
        "sam@example.com",
        "Sam",
    )
    assert roles_of(stack, session) == {"Admin"}


def test_course_instructor_signs_in_as_course_staff(stack: Stack) -> None:
    session, reply = stack.sign_in("ida_instructor")
    assert reply.status_code == 200, reply.text[:500]
    assert roles_of(stack, session) == {"Course Staff"}


def test_learner_is_refused_with_a_page_not_a_loop(stack: Stack) -> None:
    session, reply = stack.sign_in("leo_learner")
    assert reply.status_code == 403
    assert "Superset is for course teams" in reply.text
    assert session.get(f"{stack.superset_url}/api/v1/me/", timeout=30).status_code == 401
