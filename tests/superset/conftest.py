"""
One stack for the tests of what people see once signed in (test_sso.py, test_rls.py): a Tutor
root with the superset plugin and a stand-in plugin that builds on it
(plugins/supersetconsumer.py: a database, an asset bundle, a row-level security filter), its
init job run for real against MariaDB, then real Superset with the rendered configuration,
Redis for its cache, the stand-in LMS, and headless Chromium.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, SignedIn, sign_in
from tests.harness.fixtures import ClickHouseServer
from tests.harness.lms import LmsServer, running_lms, superset_client_options
from tests.harness.mariadb import MariaDBServer
from tests.harness.processes import free_port
from tests.harness.redis import running_redis
from tests.harness.superset import (
    SupersetServer,
    rendered_superset,
    running_superset,
    superset_job_environment,
)
from tests.harness.tutor import TutorRoot

PLUGINS_ROOT = Path(__file__).parent / "plugins"
PASSWORD = "a-password-for-tests"
DEMO_COURSE, OTHER_COURSE, THIRD_COURSE = (
    "course-v1:OpenedX+DemoX+2026",
    "course-v1:OpenedX+Other+2026",
    "course-v1:OpenedX+Third+2026",
)
PEOPLE = {
    "courses": [
        {"id": DEMO_COURSE, "name": "Demo course"},
        {"id": OTHER_COURSE, "name": "Other course"},
        {"id": THIRD_COURSE, "name": "Third course"},
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
            "courses": {"instructor": [DEMO_COURSE]},
        },
        {
            "username": "oscar_staff",
            "password": PASSWORD,
            "email": "oscar@example.com",
            "name": "Oscar Other",
            "is_staff": False,
            "is_superuser": False,
            "courses": {"staff": [OTHER_COURSE]},
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
# LMS users whose tokens the LMS signs with another key, lets expire, addresses to another
# audience, says another issuer gave, or leaves unsigned (test_sso.py). Global staff: Superset
# admins, if Superset took their tokens.
FLAWED_TOKENS = {
    "fred_forged": "foreign-key",
    "eve_expired": "expired",
    "abe_audience": "audience",
    "ike_issuer": "issuer",
    "una_unsigned": "unsigned",
}
# An LMS instructor whose name test_sso.py gives to a Superset account with a password.
LOCAL_ACCOUNT = "lou_local"
# An LMS instructor whose Superset account test_sso.py makes as earlier releases made them.
EARLIER_ACCOUNT = "lena_legacy"


def lms_people(config: dict) -> dict:
    """
    PEOPLE, and the LMS users of test_sso.py: those with flawed tokens, and those named like a
    Superset account with a password (its admin, its LMS user in capitals, LOCAL_ACCOUNT).
    """
    staff = {"password": PASSWORD, "is_staff": True, "is_superuser": True}
    instructor = {"password": PASSWORD, "courses": {"instructor": [DEMO_COURSE]}}
    extra = [
        {**staff, "username": username, "email": f"{username}@example.com", "name": username}
        for username in FLAWED_TOKENS
    ]
    extra.append(
        {
            **staff,
            "username": config["SUPERSET_ADMIN_USERNAME"],
            "email": "intruder@example.com",
            "name": "Ivan Intruder",
        }
    )
    for username in (config["SUPERSET_LMS_USERNAME"].upper(), LOCAL_ACCOUNT, EARLIER_ACCOUNT):
        extra.append(
            {**instructor, "username": username, "email": f"{username}@example.com".lower()}
        )
    return {**PEOPLE, "users": PEOPLE["users"] + extra}


# The stand-in plugin's data: learners per course, in the embedded ClickHouse.
ENROLLMENTS = {
    DEMO_COURSE: ["ana", "ben", "cy"],
    OTHER_COURSE: ["dee", "eli"],
    THIRD_COURSE: ["fay"],
}
READER_PASSWORD = "courses-reader-password"
# Seconds a course list is cached: short, so that a test can see it expire.
COURSES_CACHE_TIMEOUT = 8
# Superset renews an LMS token 30 s before it expires: this one counts as valid for 10 s.
JWT_EXPIRE_SECONDS = 40
STACKS_MADE = itertools.count()


class Stack:
    def __init__(
        self,
        root: TutorRoot,
        superset: SupersetServer,
        lms: LmsServer,
        browser: Browser,
        mariadb: MariaDBServer,
    ) -> None:
        self.root, self.superset, self.superset_url = root, superset, superset.url
        self.home = superset.superset.home_dir
        self.lms = lms
        self.browser, self.mariadb = browser, mariadb
        self.metadata = root.config()["SUPERSET_DB_NAME"]  # its database in MariaDB

    def sign_in(self, username: str) -> SignedIn:
        return sign_in(self.browser, self.superset_url, self.lms.url, username, PASSWORD)


def create_enrollments(clickhouse: ClickHouseServer) -> None:
    client = clickhouse.client()
    client.command("CREATE DATABASE IF NOT EXISTS courses_demo")
    client.command(
        "CREATE OR REPLACE TABLE courses_demo.enrollments (course_key String, learner String) "
        "ENGINE = MergeTree ORDER BY course_key"
    )
    rows = [[course, learner] for course, names in ENROLLMENTS.items() for learner in names]
    client.insert("courses_demo.enrollments", rows, column_names=["course_key", "learner"])
    client.command(f"CREATE USER IF NOT EXISTS courses_reader IDENTIFIED BY '{READER_PASSWORD}'")


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright for the package's browsers: its sync API runs one driver at a time."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb_server: MariaDBServer,
    clickhouse_server: ClickHouseServer,
    playwright_driver: Playwright,
) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("sso")
    # A test process that leaves this package and comes back (pytest-xdist) makes the stack
    # again: a Superset of its own each time, whose secret key fits its metadata.
    metadata = f"superset_sso{next(STACKS_MADE)}"
    with running_redis(directory / "redis") as redis:
        superset_port, lms_port = free_port(), free_port()
        lms_url = f"http://127.0.0.1:{lms_port}"
        create_enrollments(clickhouse_server)
        root = TutorRoot(directory / "root", plugins_root=PLUGINS_ROOT).save(
            ["superset", "supersetconsumer"],
            {
                "MYSQL_HOST": mariadb_server.host,
                "MYSQL_PORT": mariadb_server.port,
                "MYSQL_ROOT_USERNAME": mariadb_server.root_user,
                "MYSQL_ROOT_PASSWORD": mariadb_server.root_password,
                **redis.tutor_settings(),
                # MariaDB is shared by the session's Superset instances: each has its own database
                # and user (an init sets its user's password, which would lock the others out).
                "SUPERSET_DB_NAME": metadata,
                "SUPERSET_DB_USERNAME": metadata,
                "SUPERSET_USER_COURSES_CACHE_TIMEOUT": COURSES_CACHE_TIMEOUT,
                "SUPERSETCONSUMER_DB_HOST": clickhouse_server.host,
                "SUPERSETCONSUMER_DB_PORT": clickhouse_server.port,
                "SUPERSETCONSUMER_DB_PASSWORD": READER_PASSWORD,
                "LMS_HOST": f"127.0.0.1:{lms_port}",
                "SUPERSET_LMS_INTERNAL_URL": lms_url,
                "JWT_COMMON_ISSUER": f"{lms_url}/oauth2",
            },
        )
        config = root.config()
        home = directory / "home"
        root.run(
            "local", "do", "init", "--limit", "superset", **superset_job_environment(root, home)
        )
        superset = rendered_superset(root, home)
        with (
            running_lms(
                directory / "lms",
                lms_people(config),
                [f"http://127.0.0.1:{superset_port}/oauth-authorized/openedxsso"],
                port=lms_port,
                **superset_client_options(config),
                # Short-lived, so that a test sees Superset renew a token with its refresh token.
                jwt_expire_seconds=JWT_EXPIRE_SECONDS,
                jwt_flaws=FLAWED_TOKENS,
            ) as lms,
            running_superset(superset, port=superset_port) as server,
        ):
            browser = playwright_driver.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            yield Stack(root, server, lms, browser, mariadb_server)
            browser.close()
