"""
The stand-in LMS (tests/harness/lms) driven as Superset's OAuth2 client drives the real one:
login form, authorization code with PKCE, token exchange for an edx-platform JWT, then the
user and course APIs with that JWT. Plus what a browser sees of the login page.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.harness.lms import LmsServer, running_lms
from tests.harness.lms.harness import new_private_key_pem, sign_jwt, verify_jwt
from tests.harness.processes import free_port

DEMO = "course-v1:OpenedX+DemoX+Demo_Course"
PHYSICS = "course-v1:PhysicsX+PHY101+2026"
CHEMISTRY = "course-v1:ChemX+CH200+2026"
PASSWORD = "correct horse battery staple"
PEOPLE = {
    "courses": [
        {"id": DEMO, "name": "Open edX Demo Course"},
        {"id": PHYSICS, "name": "Physics 101"},
        {"id": CHEMISTRY, "name": "Chemistry 200"},
    ],
    "users": [
        {
            "username": "ada_admin",
            "password": PASSWORD,
            "email": "ada@example.com",
            "name": "Ada Admin",
            "is_staff": True,
            "is_superuser": True,
        },
        {
            "username": "grace_staff",
            "password": PASSWORD,
            "email": "grace@example.com",
            "name": "Grace Staff",
            "is_staff": True,
        },
        {
            "username": "carl_course_staff",
            "password": PASSWORD,
            "email": "carl@example.com",
            "name": "Carl Course-Staff",
            "courses": {"staff": [DEMO]},
        },
        {
            "username": "ines_instructor",
            "password": PASSWORD,
            "email": "ines@example.com",
            "name": "Ines Instructor",
            "courses": {"instructor": [PHYSICS]},
        },
        {
            "username": "leo_learner",
            "password": PASSWORD,
            "email": "leo@example.com",
            "name": "Leo Learner",
        },
    ],
}
TIMEOUT = 10


@pytest.fixture(scope="module")
def lms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LmsServer]:
    # Where Superset would receive the code; nothing listens there: the tests read redirects.
    redirect_uri = f"http://127.0.0.1:{free_port()}/oauth-authorized/openedxsso"
    with running_lms(tmp_path_factory.mktemp("lms"), PEOPLE, [redirect_uri]) as server:
        yield server


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(lms: LmsServer, scope: str, state: str, challenge: str | None) -> str:
    query = {
        "response_type": "code",
        "client_id": lms.client_id,
        "redirect_uri": lms.redirect_uris[0],
        "scope": scope,
        "state": state,
    }
    if challenge is not None:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{lms.url}/oauth2/authorize/?{urlencode(query)}"


def csrf_token(login_page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
    assert match, login_page
    return match.group(1)


def sign_in(lms: LmsServer, session: requests.Session, username: str, next_url: str) -> None:
    """The login form, as a person fills it in: the page first (CSRF cookie), then the POST."""
    page = session.get(f"{lms.url}/login", params={"next": next_url}, timeout=TIMEOUT)
    assert page.status_code == 200
    form = {
        "csrfmiddlewaretoken": csrf_token(page.text),
        "username": username,
        "password": PASSWORD,
        "next": next_url,
    }
    reply = session.post(f"{lms.url}/login", data=form, allow_redirects=False, timeout=TIMEOUT)
    assert reply.status_code == 302, reply.text
    assert reply.headers["Location"] == next_url


def authorization_code(
    lms: LmsServer, username: str, scope: str = "read email profile"
) -> tuple[str, str]:
    """Sign in and authorize; the code the LMS redirects back with, and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    url = authorize_url(lms, scope, state, challenge)
    with requests.Session() as session:
        sign_in(lms, session, username, url.removeprefix(lms.url))
        reply = session.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert reply.status_code == 302, reply.text
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == lms.redirect_uris[0]
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0], verifier


def exchange_code(
    lms: LmsServer, code: str, verifier: str | None, **fields: str
) -> requests.Response:
    """The token request an OAuth2 client sends (client_secret_post), asking for a JWT."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": lms.redirect_uris[0],
        "client_id": lms.client_id,
        "client_secret": lms.client_secret,
        "token_type": "jwt",
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    return requests.post(f"{lms.url}/oauth2/access_token/", data=form | fields, timeout=TIMEOUT)


def sso_token(lms: LmsServer, username: str, scope: str = "read email profile") -> dict[str, Any]:
    code, verifier = authorization_code(lms, username, scope)
    reply = exchange_code(lms, code, verifier)
    assert reply.status_code == 200, reply.text
    return reply.json()


def api_get(
    lms: LmsServer, path: str, token: str | None, scheme: str = "JWT", **params: Any
) -> requests.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return requests.get(f"{lms.url}{path}", headers=headers, params=params, timeout=TIMEOUT)


def course_ids(lms: LmsServer, token: str, username: str, permission: str) -> list[str]:
    reply = api_get(
        lms, "/api/courses/v1/courses/", token, username=username, permissions=permission
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["pagination"]["count"] == len(body["results"])
    return [course["id"] for course in body["results"]]


# --- OAuth2 -----------------------------------------------------------------------------------


def test_authorization_code_flow_with_pkce_issues_an_edx_platform_jwt(lms: LmsServer) -> None:
    verifier, challenge = pkce_pair()
    url = authorize_url(lms, "read email profile", "state-1", challenge)
    with requests.Session() as browser:
        # Not signed in: the LMS sends the browser to its login page, coming back afterwards.
        reply = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 302
        after_login = url.removeprefix(lms.url)
        login_redirect = urlsplit(reply.headers["Location"])
        assert login_redirect.path == "/login"
        assert parse_qs(login_redirect.query) == {"next": [after_login]}
        sign_in(lms, browser, "carl_course_staff", after_login)
        # Cookies of its own, apart from Superset's on the same host.
        assert {"lms_csrftoken", "lms_sessionid"} <= set(browser.cookies.keys())
        assert not {"csrftoken", "sessionid", "session"} & set(browser.cookies.keys())
        reply = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert reply.status_code == 302
    redirect = parse_qs(urlsplit(reply.headers["Location"]).query)
    assert redirect["state"] == ["state-1"]

    before = int(time.time())
    reply = exchange_code(lms, redirect["code"][0], verifier)
    assert reply.status_code == 200, reply.text
    token = reply.json()
    assert set(token) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (token["token_type"], token["expires_in"], token["scope"]) == (
        "JWT",
        3600,
        "read email profile",
    )

    header, claims = verify_jwt(token["access_token"], lms.public_key_pem)
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert before - 5 <= claims.pop("iat") <= int(time.time()) + 5
    assert claims.pop("exp") - before in range(3595, 3606)
    assert len(claims.pop("sub")) == 32  # anonymous user id
    assert claims == {
        "aud": "openedx",
        "iss": lms.issuer,
        "grant_type": "authorization-code",
        "preferred_username": "carl_course_staff",
        "scopes": ["read", "email", "profile"],
        "version": "1.2.0",
        "filters": [],
        "is_restricted": False,
        "email_verified": True,
        "email": "carl@example.com",
        "name": "Carl Course-Staff",
        "given_name": "",
        "family_name": "",
        "administrator": False,
        "superuser": False,
    }
    assert lms.issuer == f"{lms.url}/oauth2"


@pytest.mark.parametrize(
    ("username", "administrator", "superuser"),
    [("ada_admin", True, True), ("grace_staff", True, False), ("leo_learner", False, False)],
)
def test_jwt_says_who_is_staff(
    lms: LmsServer, username: str, administrator: bool, superuser: bool
) -> None:
    claims = lms.verified_claims(sso_token(lms, username)["access_token"])
    assert (claims["preferred_username"], claims["administrator"], claims["superuser"]) == (
        username,
        administrator,
        superuser,
    )


def test_identity_claims_need_the_email_and_profile_scopes(lms: LmsServer) -> None:
    """As in edx-platform: a client that asks only for `read` learns only the username."""
    token = sso_token(lms, "grace_staff", scope="read")
    claims = lms.verified_claims(token["access_token"])
    assert (token["scope"], claims["scopes"], claims["preferred_username"]) == (
        "read",
        ["read"],
        "grace_staff",
    )
    assert not {"email", "name", "administrator", "superuser"} & set(claims)


def test_refresh_token_gives_a_new_jwt(lms: LmsServer) -> None:
    first = sso_token(lms, "leo_learner")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": lms.client_id,
        "client_secret": lms.client_secret,
        "token_type": "jwt",
    }
    reply = requests.post(f"{lms.url}/oauth2/access_token/", data=form, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    second = reply.json()
    assert second["token_type"] == "JWT"
    assert second["refresh_token"] != first["refresh_token"]
    assert lms.verified_claims(second["access_token"])["preferred_username"] == "leo_learner"


def test_without_forced_asymmetric_jwts_the_client_asks_for_one(tmp_path: Path) -> None:
    """
    edx-platform without JWT_AUTH_FORCE_CREATE_ASYMMETRIC: the token endpoint signs with the
    shared secret (HS256) unless the request has `asymmetric_jwt`; the APIs accept both.
    """
    redirect_uri = f"http://127.0.0.1:{free_port()}/oauth-authorized/openedxsso"
    people = {"users": [{"username": "leo_learner", "password": PASSWORD}]}
    with running_lms(tmp_path / "lms", people, [redirect_uri], force_asymmetric_jwt=False) as lms:
        for extra, algorithm in (({}, "HS256"), ({"asymmetric_jwt": "true"}, "RS256")):
            code, verifier = authorization_code(lms, "leo_learner")
            token = exchange_code(lms, code, verifier, **extra).json()["access_token"]
            if algorithm == "HS256":
                header, claims = verify_jwt(token, secret=lms.jwt_secret_key)
            else:
                header, claims = verify_jwt(token, public_key=lms.public_key_pem)
            assert (header["alg"], claims["iss"]) == (algorithm, lms.issuer)
            reply = api_get(lms, "/api/user/v1/me", token)
            assert reply.json() == {"username": "leo_learner"}


def test_bad_client_secret_is_refused(lms: LmsServer) -> None:
    code, verifier = authorization_code(lms, "leo_learner")
    reply = exchange_code(lms, code, verifier, client_secret="not-the-secret")
    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


def test_authorization_without_pkce_is_refused(lms: LmsServer) -> None:
    url = authorize_url(lms, "read", "state-2", challenge=None)
    with requests.Session() as browser:
        sign_in(lms, browser, "leo_learner", url.removeprefix(lms.url))
        reply = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert reply.status_code == 302
    location = urlsplit(reply.headers["Location"])
    assert reply.headers["Location"].startswith(lms.redirect_uris[0])
    error = parse_qs(location.query)
    assert error["error"] == ["invalid_request"]
    assert error["error_description"] == ["Code challenge required."]
    assert "code" not in error


@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        (None, "invalid_request"),
        ("a-verifier-that-does-not-match-the-challenge-1234", "invalid_grant"),
    ],
)
def test_code_exchange_without_its_pkce_verifier_is_refused(
    lms: LmsServer, verifier: str | None, error: str
) -> None:
    code, _ = authorization_code(lms, "leo_learner")
    reply = exchange_code(lms, code, verifier)
    assert reply.status_code == 400
    assert reply.json()["error"] == error


def test_approval_page_when_the_application_does_not_skip_it(tmp_path: Path) -> None:
    redirect_uri = f"http://127.0.0.1:{free_port()}/oauth-authorized/openedxsso"
    people = {"users": [{"username": "leo_learner", "password": PASSWORD}]}
    with running_lms(tmp_path / "lms", people, [redirect_uri], skip_authorization=False) as lms:
        verifier, challenge = pkce_pair()
        url = authorize_url(lms, "read email profile", "state-3", challenge)
        with requests.Session() as browser:
            sign_in(lms, browser, "leo_learner", url.removeprefix(lms.url))
            page = browser.get(url, timeout=TIMEOUT)
            assert page.status_code == 200
            assert 'name="allow"' in page.text
            fields = dict(
                re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text)
            )
            fields |= {"csrfmiddlewaretoken": csrf_token(page.text), "allow": "Authorize"}
            reply = browser.post(url, data=fields, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 302, reply.text
        code = parse_qs(urlsplit(reply.headers["Location"]).query)["code"][0]
        token = exchange_code(lms, code, verifier).json()
        assert lms.verified_claims(token["access_token"])["preferred_username"] == "leo_learner"


def test_wrong_password_is_refused(lms: LmsServer) -> None:
    with requests.Session() as browser:
        page = browser.get(f"{lms.url}/login", timeout=TIMEOUT)
        form = {"csrfmiddlewaretoken": csrf_token(page.text), "username": "leo_learner"}
        form["password"] = "wrong"
        reply = browser.post(f"{lms.url}/login", data=form, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 400
        assert "Email or password is incorrect." in reply.text
        assert "lms_sessionid" not in browser.cookies


def test_logout_ends_the_session_and_redirects_to_next(lms: LmsServer) -> None:
    superset_login = lms.redirect_uris[0].replace("/oauth-authorized/openedxsso", "/login/")
    with requests.Session() as browser:
        sign_in(lms, browser, "grace_staff", "/")
        assert "Signed in as grace_staff" in browser.get(f"{lms.url}/", timeout=TIMEOUT).text
        reply = browser.get(
            f"{lms.url}/logout",
            params={"redirect_url": superset_login},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert (reply.status_code, reply.headers["Location"]) == (302, superset_login)
        assert "Signed in as" not in browser.get(f"{lms.url}/", timeout=TIMEOUT).text
        # Anywhere else is not a place the LMS sends people to.
        reply = browser.get(
            f"{lms.url}/logout", params={"next": "http://evil.example/"}, timeout=TIMEOUT
        )
        assert reply.status_code == 200 and "You have signed out." in reply.text


# --- APIs -------------------------------------------------------------------------------------


def test_me_and_account_apis(lms: LmsServer) -> None:
    learner = lms.jwt_for("leo_learner")
    staff = lms.jwt_for("grace_staff")
    assert api_get(lms, "/api/user/v1/me", learner).json() == {"username": "leo_learner"}

    own = api_get(lms, "/api/user/v1/accounts/leo_learner", learner).json()
    expected = {
        "username": "leo_learner",
        "email": "leo@example.com",
        "name": "Leo Learner",
        "is_active": True,
    }
    assert {name: own[name] for name in expected} == expected
    assert api_get(lms, "/api/user/v1/accounts/leo_learner", staff).json() == own

    # Someone else's account: edx-platform answers with the shared profile fields only.
    other = api_get(lms, "/api/user/v1/accounts/carl_course_staff", learner)
    assert other.status_code == 200
    assert other.json()["username"] == "carl_course_staff"
    assert not {"email", "name", "is_active", "date_joined"} & set(other.json())

    assert api_get(lms, "/api/user/v1/accounts/nobody", staff).status_code == 404
    for path in ("/api/user/v1/me", "/api/user/v1/accounts/leo_learner"):
        anonymous = api_get(lms, path, None)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == 'JWT realm="api"'


@pytest.mark.parametrize(
    ("username", "staff_courses", "instructor_courses"),
    [
        ("carl_course_staff", [DEMO], []),
        ("ines_instructor", [PHYSICS], [PHYSICS]),  # an instructor is staff too
        ("leo_learner", [], []),
        ("grace_staff", [CHEMISTRY, DEMO, PHYSICS], [CHEMISTRY, DEMO, PHYSICS]),
        ("ada_admin", [CHEMISTRY, DEMO, PHYSICS], [CHEMISTRY, DEMO, PHYSICS]),
    ],
)
def test_course_list_gives_each_user_their_courses(
    lms: LmsServer, username: str, staff_courses: list[str], instructor_courses: list[str]
) -> None:
    token = sso_token(lms, username)["access_token"]
    assert course_ids(lms, token, username, "staff") == staff_courses
    assert course_ids(lms, token, username, "instructor") == instructor_courses


def test_course_list_entries_have_edx_platform_fields(lms: LmsServer) -> None:
    token = lms.jwt_for("carl_course_staff")
    reply = api_get(
        lms,
        "/api/courses/v1/courses/",
        token,
        username="carl_course_staff",
        permissions="staff",
    )
    body = reply.json()
    assert body["pagination"] == {"next": None, "previous": None, "count": 1, "num_pages": 1}
    course = body["results"][0]
    expected = {
        "id": DEMO,
        "course_id": DEMO,
        "name": "Open edX Demo Course",
        "org": "OpenedX",
        "number": "DemoX",
    }
    assert {name: course[name] for name in expected} == expected


def test_course_list_refuses_other_peoples_courses(lms: LmsServer) -> None:
    learner = lms.jwt_for("leo_learner")
    staff = lms.jwt_for("grace_staff")
    refused = api_get(
        lms, "/api/courses/v1/courses/", learner, username="carl_course_staff", permissions="staff"
    )
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}
    anonymous = api_get(
        lms, "/api/courses/v1/courses/", None, username="carl_course_staff", permissions="staff"
    )
    assert anonymous.status_code == 403
    # Global staff may look at anyone's courses.
    assert course_ids(lms, staff, "carl_course_staff", "staff") == [DEMO]


def test_course_list_pages(lms: LmsServer) -> None:
    token = lms.jwt_for("grace_staff")
    first = api_get(
        lms,
        "/api/courses/v1/courses/",
        token,
        username="grace_staff",
        permissions="staff",
        page_size=2,
    ).json()
    assert [course["id"] for course in first["results"]] == [CHEMISTRY, DEMO]
    assert (first["pagination"]["count"], first["pagination"]["num_pages"]) == (3, 2)
    following = requests.get(
        first["pagination"]["next"], headers={"Authorization": f"JWT {token}"}, timeout=TIMEOUT
    ).json()
    assert [course["id"] for course in following["results"]] == [PHYSICS]
    assert following["pagination"]["next"] is None
    assert following["pagination"]["previous"] == first["pagination"]["next"].replace("&page=2", "")


def test_api_credentials_are_checked(lms: LmsServer) -> None:
    good = lms.jwt_for("leo_learner")
    assert api_get(lms, "/api/user/v1/me", good, scheme="Bearer").status_code == 200
    # DOT's own opaque access token, when no JWT was asked for.
    code, verifier = authorization_code(lms, "leo_learner")
    opaque = exchange_code(lms, code, verifier, token_type="").json()
    assert opaque["token_type"] == "Bearer" and opaque["access_token"].count(".") == 0
    reply = api_get(lms, "/api/user/v1/me", opaque["access_token"], scheme="Bearer")
    assert reply.json() == {"username": "leo_learner"}

    claims = lms.verified_claims(good)
    header, _, signature = good.split(".")
    # A payload of our own under the LMS's header and signature.
    forged_payload = sign_jwt(claims | {"administrator": True}, lms.private_key_pem).split(".")[1]
    refused = {
        "expired": lms.jwt_for("leo_learner", expires_in=-60),
        "another key": sign_jwt(claims, new_private_key_pem()),
        "another audience": sign_jwt(claims | {"aud": "elsewhere"}, lms.private_key_pem),
        "another issuer": sign_jwt(claims | {"iss": "http://evil.example"}, lms.private_key_pem),
        "tampered": f"{header}.{forged_payload}.{signature}",
        "no such user": sign_jwt(claims | {"preferred_username": "ghost"}, lms.private_key_pem),
        "not a token": "not-a-token",
    }
    for reason, token in refused.items():
        for scheme in ("JWT", "Bearer"):
            reply = api_get(lms, "/api/user/v1/me", token, scheme=scheme)
            assert reply.status_code == 401, (reason, scheme, reply.text)


# --- Browser ----------------------------------------------------------------------------------


def test_login_page_in_headless_chromium(lms: LmsServer, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "headless browser tests need Chromium: apt-get install chromium"
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            f"{lms.url}/login?next=/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<title>Sign in | Open edX</title>" in dom
    assert '<form id="login" method="post" action="/login">' in dom
    for field in ('name="username"', 'name="password"', 'name="csrfmiddlewaretoken"'):
        assert field in dom
