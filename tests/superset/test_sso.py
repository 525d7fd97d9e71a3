"""
Single sign-on through the LMS, end to end: real Superset with the plugin's rendered
configuration and security manager, and the stand-in LMS (django-oauth-toolkit, edx-platform's
endpoints, JWTs signed with the platform's key). Each person signs in with the LMS's login form
in headless Chromium (the stack: conftest.py).
"""

from __future__ import annotations

from tests.superset.conftest import SignedIn, Stack


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
