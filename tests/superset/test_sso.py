"""
Single sign-on through the LMS, end to end: real Superset with the plugin's rendered
configuration and security manager, and the stand-in LMS (django-oauth-toolkit, edx-platform's
endpoints, JWTs signed with the platform's key). Each person signs in with the LMS's login form
in headless Chromium (the stack: conftest.py).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.harness.superset import SUPERSET_BIN
from tests.superset.conftest import (
    EARLIER_ACCOUNT,
    FLAWED_TOKENS,
    LOCAL_ACCOUNT,
    SignedIn,
    Stack,
)
from tests.superset.test_rls import superset_query

# Superset's log line for each flaw of a token (PyJWT's messages).
TOKEN_REFUSALS = {
    "foreign-key": "Signature verification failed",
    "expired": "Signature has expired",
    "audience": "Audience doesn't match",
    "issuer": "Invalid issuer",
    "unsigned": "The specified alg value is not allowed",
}
NO_LOCAL_PASSWORD = "openedx-sso:no-local-password"


def roles_of(stack: Stack, signed_in: SignedIn) -> set[str]:
    reply = signed_in.api.get(f"{stack.superset_url}/api/v1/me/roles/")
    assert reply.status == 200, reply.text()
    return set(reply.json()["result"]["roles"])


def account(stack: Stack, username: str) -> dict[str, str | None] | None:
    """A Superset account as its metadata database holds it, roles included; None if none."""
    columns = "username, email, first_name, last_name, password, active, login_count, last_login"
    rows = superset_query(
        stack,
        f"SELECT {columns}, (SELECT GROUP_CONCAT(r.name ORDER BY r.name) FROM ab_user_role ur "
        f"JOIN ab_role r ON r.id = ur.role_id WHERE ur.user_id = u.id) FROM ab_user u "
        f"WHERE username = '{username}'",
    )
    return dict(zip([*columns.split(", "), "roles"], rows[0], strict=True)) if rows else None


def assert_refused(stack: Stack, signed_in: SignedIn, reason: str) -> None:
    """A 403 page that says why, and nobody signed in to Superset in that browser."""
    assert signed_in.status == 403, signed_in.text[:500]
    assert reason in signed_in.text
    assert signed_in.api.get(f"{stack.superset_url}/api/v1/me/").status == 401


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


@pytest.mark.parametrize(
    ("account_key", "lms_name"),
    [("SUPERSET_ADMIN_USERNAME", str), ("SUPERSET_LMS_USERNAME", str.upper)],
    ids=["admin", "lms-user-in-capitals"],
)
def test_an_lms_user_named_like_a_superset_account_is_refused(
    stack: Stack, account_key: str, lms_name
) -> None:
    config = stack.root.config()
    name = config[account_key]
    password = config[account_key.replace("USERNAME", "PASSWORD")]
    before = account(stack, name)
    assert before is not None and before["password"] != NO_LOCAL_PASSWORD

    # The LMS's global staff (admin's namesake) or an instructor (the LMS user's).
    signed_in = stack.sign_in(lms_name(name))
    assert_refused(stack, signed_in, "account of Superset's own")

    # Untouched: the LMS user's roles, email and name never reached it, nor did a sign-in.
    assert account(stack, name) == before
    if account_key == "SUPERSET_ADMIN_USERNAME":
        assert (before["roles"], before["email"], before["first_name"]) == (
            "Admin",
            stack.root.value("SUPERSET_ADMIN_EMAIL"),
            "Superset",
        )
    else:
        assert (before["roles"], before["first_name"]) == ("Open edX LMS", "Open edX")
    assert stack.superset.client().login(name, password)
    message = f"Refused the LMS user {lms_name(name)}: Superset's account {name} has a password"
    assert message in stack.superset.log()


def test_an_lms_user_named_like_an_account_given_a_password_is_refused(stack: Stack) -> None:
    config = stack.root.config()
    admin = stack.superset.client()
    admin.login(config["SUPERSET_ADMIN_USERNAME"], config["SUPERSET_ADMIN_PASSWORD"])
    [(role,)] = superset_query(stack, "SELECT id FROM ab_role WHERE name = 'Course Staff'")
    password = "Lou's local password 1!"
    admin.call(
        "POST",
        "/api/v1/security/users/",
        {
            "username": LOCAL_ACCOUNT,
            "first_name": "Lou",
            "last_name": "Local",
            "email": "lou.local@example.com",
            "password": password,
            "active": True,
            "roles": [int(role)],
        },
        expected=(201,),
    )
    before = account(stack, LOCAL_ACCOUNT)

    signed_in = stack.sign_in(LOCAL_ACCOUNT)  # an instructor in the LMS
    assert_refused(stack, signed_in, "account of Superset's own")
    assert account(stack, LOCAL_ACCOUNT) == before
    assert stack.superset.client().login(LOCAL_ACCOUNT, password)


def test_an_account_made_through_the_lms_has_no_password_and_signs_in_again(
    stack: Stack,
) -> None:
    for _ in range(2):
        signed_in = stack.sign_in("oscar_staff")
        assert signed_in.status == 200, signed_in.text[:500]
        assert roles_of(stack, signed_in) == {"Course Staff"}
        assert account(stack, "oscar_staff")["password"] == NO_LOCAL_PASSWORD


def test_an_account_made_by_an_earlier_release_still_signs_in(stack: Stack) -> None:
    assert stack.sign_in(EARLIER_ACCOUNT).status == 200
    # Earlier Flask-AppBuilder releases stored the hash of an empty password.
    empty_password_hash = subprocess.run(
        [
            str(SUPERSET_BIN / "python"),
            "-c",
            "from werkzeug.security import generate_password_hash as h; print(h(''))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stack.mariadb.sql(
        f"UPDATE ab_user SET password = '{empty_password_hash}' "
        f"WHERE username = '{EARLIER_ACCOUNT}'",
        database=stack.metadata,
    )

    signed_in = stack.sign_in(EARLIER_ACCOUNT)
    assert signed_in.status == 200, signed_in.text[:500]
    assert roles_of(stack, signed_in) == {"Course Staff"}
    assert account(stack, EARLIER_ACCOUNT)["password"] == NO_LOCAL_PASSWORD


@pytest.mark.parametrize(("username", "flaw"), FLAWED_TOKENS.items(), ids=FLAWED_TOKENS.values())
def test_a_flawed_lms_token_is_refused(stack: Stack, username: str, flaw: str) -> None:
    signed_in = stack.sign_in(username)  # global staff, with a token that says so
    assert_refused(stack, signed_in, "Your login could not be verified.")
    assert account(stack, username) is None
    assert f"Refused an LMS token: {TOKEN_REFUSALS[flaw]}" in stack.superset.log()
