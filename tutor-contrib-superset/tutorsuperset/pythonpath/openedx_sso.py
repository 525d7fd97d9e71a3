"""
Single sign-on through the Open edX LMS for Superset.

The LMS is Superset's OAuth2 provider. Its access token (requested as a JWT) is verified here
with the LMS's public key (signature, issuer, audience, expiry) before anything in it is
trusted; the user's courses come from the LMS's course API, called with that token. Roles:
LMS superusers and global staff get Admin, course staff and instructors the course-staff
role; anyone else (learners) is refused with a 403 page, not sent back to the LMS (which
would loop). Self-registration pages are not mounted.

Superset finds the account of an LMS user by username. An account with a password of
Superset's own (the admin, the LMS's user, any account given a password) is never signed into
through the LMS: an LMS user of that name is refused. Accounts made through the LMS get no
usable password.

Row-level security: ``can_view_courses(column)``, a macro of Superset's SQL templates, says
which courses the current user may see. Their list is kept in Superset's cache for
OPENEDX_COURSES_CACHE_TIMEOUT seconds; then it is asked of the LMS again with the user's
token (renewed with the refresh token once expired). Without a list, no row is shown.
"""

from __future__ import annotations

import logging
import re
import time

import jwt
import requests
from flask import current_app, g, make_response
from flask_appbuilder import expose
from flask_appbuilder.security.views import AuthOAuthView
from superset.exceptions import QueryObjectValidationError
from superset.extensions import cache_manager
from superset.security import SupersetSecurityManager
from superset.utils.core import get_username
from werkzeug.security import check_password_hash

log = logging.getLogger(__name__)
PROVIDER = "openedxsso"
# Course keys as the LMS makes them (course-v1:Org+Course+Run, or Org/Course/Run): anything
# else is not quoted into SQL.
COURSE_KEY = re.compile(r"[A-Za-z0-9_.:+~/-]+")
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# Words that SQL reads as a literal, an operator or a clause rather than a column ("null IN (…)"
# is the NULL literal, never true; "select IN (…)" does not parse): not taken as column names.
_SQL_WORDS_TEXT = (
    "all and any array as asc between case cast current_date current_time current_timestamp "
    "current_user date default desc distinct else end except exists false from global group "
    "having ilike in inf infinity intersect interval is join like limit nan not null on or order "
    "select session_user then timestamp true union user when where with"
)
SQL_WORDS = frozenset(_SQL_WORDS_TEXT.split())
TOKEN_MARGIN_SECONDS = 30  # renew a token this long before it expires
# The password of accounts made through the LMS. Not a password hash (no "$"): no password
# matches it. Flask-AppBuilder gives them a random password instead, which looks like a local
# one.
NO_LOCAL_PASSWORD = "openedx-sso:no-local-password"


class NotAColumnName(QueryObjectValidationError, ValueError):
    """can_view_courses was given something else than a column: a 400 that names it."""


class RefusedByLms(Exception):
    """The LMS user may not use Superset; the message says why, to them."""


def verified_claims(token: str) -> dict:
    """The claims of an LMS JWT, once its signature, issuer, audience and expiry check out."""
    config = current_app.config
    return jwt.decode(
        token,
        key=config["OPENEDX_JWT_PUBLIC_KEY"],
        algorithms=["RS256", "RS512"],  # edx-platform signs asymmetric JWTs with RS512
        audience=config["OPENEDX_JWT_AUDIENCE"],
        issuer=config["OPENEDX_JWT_ISSUER"],
        options={"require": ["exp", "iss", "aud", "preferred_username"]},
    )


def has_local_password(user) -> bool:
    """
    Whether Superset signs this account in with a password of its own. Accounts made through
    the LMS have none: NO_LOCAL_PASSWORD, or the hash of an empty password, which earlier
    Flask-AppBuilder releases gave them and which no login accepts.
    """
    if not user.password or user.password == NO_LOCAL_PASSWORD:
        return False
    return not check_password_hash(user.password, "")


def staff_courses(username: str, token: str) -> list[str]:
    """The course keys the LMS says this user is staff or instructor of."""
    config = current_app.config
    courses: set[str] = set()
    for permission in ("staff", "instructor"):
        url = config["OPENEDX_LMS_INTERNAL_URL"] + "/api/courses/v1/courses/"
        params = {"permissions": permission, "username": username, "page_size": 100}
        while url:
            reply = requests.get(
                url, params=params, headers={"Authorization": f"JWT {token}"}, timeout=10
            )
            reply.raise_for_status()
            page = reply.json()
            courses.update(course["id"] for course in page["results"])
            url, params = (page.get("pagination") or {}).get("next"), None
    return sorted(courses)


def _cache_key(kind: str, username: str) -> str:
    return f"openedx_sso:{kind}:{username}"


def remember_courses(username: str, courses: list[str]) -> None:
    timeout = current_app.config["OPENEDX_COURSES_CACHE_TIMEOUT"]
    cache_manager.cache.set(_cache_key("courses", username), courses, timeout=timeout)


def remember_token(username: str, token_response: dict) -> None:
    """Keep the user's LMS tokens server-side, to ask for their courses again later."""
    expires_in = int(token_response.get("expires_in") or 0)
    stored = {
        "access_token": token_response["access_token"],
        "refresh_token": token_response.get("refresh_token"),
        "expires_at": time.time() + expires_in,
    }
    timeout = int(current_app.permanent_session_lifetime.total_seconds())
    cache_manager.cache.set(_cache_key("token", username), stored, timeout=timeout)


def current_token(username: str) -> str | None:
    """A valid LMS access token of the user: the stored one, or one renewed with it."""
    stored = cache_manager.cache.get(_cache_key("token", username))
    if not stored:
        return None
    if stored["expires_at"] > time.time() + TOKEN_MARGIN_SECONDS:
        return stored["access_token"]
    if not stored["refresh_token"]:
        return None
    providers = current_app.config["OAUTH_PROVIDERS"]
    [remote] = [provider["remote_app"] for provider in providers if provider["name"] == PROVIDER]
    reply = requests.post(
        remote["access_token_url"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": stored["refresh_token"],
            "client_id": remote["client_id"],
            "client_secret": remote["client_secret"],
            **remote["access_token_params"],
        },
        timeout=10,
    )
    if reply.status_code != 200:
        log.warning("The LMS refused to renew %s's token: %s", username, reply.status_code)
        return None
    token_response = reply.json()
    claims = verified_claims(token_response["access_token"])
    if claims["preferred_username"] != username:
        log.warning("The LMS renewed %s's token for %s", username, claims["preferred_username"])
        return None
    remember_token(username, token_response)
    return token_response["access_token"]


def courses_of(username: str) -> list[str]:
    """The courses the user is staff or instructor of, from the cache or the LMS."""
    courses = cache_manager.cache.get(_cache_key("courses", username))
    if courses is not None:
        return courses
    token = current_token(username)
    if token is None:
        log.warning("No LMS token for %s: no course is visible until they sign in", username)
        return []
    courses = staff_courses(username, token)
    remember_courses(username, courses)
    return courses


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_course_key(key: object) -> bool:
    # fullmatch: with match, "$" would let a key that ends with a newline through.
    return isinstance(key, str) and COURSE_KEY.fullmatch(key) is not None


def can_view_courses(column: str) -> str:
    """An SQL condition: `column` is one of the courses the current user may see."""
    if not (isinstance(column, str) and COLUMN.fullmatch(column)) or any(
        part.lower() in SQL_WORDS for part in column.split(".")
    ):
        raise NotAColumnName(f"can_view_courses: {column!r} is not a column name")
    username = get_username()
    courses = [key for key in courses_of(username) if _is_course_key(key)] if username else []
    if not courses:
        return "1 = 0"
    return f"{column} IN ({', '.join(sql_string(key) for key in courses)})"


class OpenEdxAuthOAuthView(AuthOAuthView):
    @expose("/oauth-authorized/<provider>")  # an override is not exposed by itself
    def oauth_authorized(self, provider: str):
        response = super().oauth_authorized(provider)
        refusal = getattr(g, "openedx_refusal", None)
        if refusal:
            page = f"<h1>Access denied</h1><p>{refusal}</p>"
            return make_response(page, 403)
        return response


class OpenEdxSsoSecurityManager(SupersetSecurityManager):
    authoauthview = OpenEdxAuthOAuthView
    # Users come from the LMS: neither Superset's nor Flask-AppBuilder's registration pages.
    register_superset_registeruser_view = False
    registeruseroauthview = staticmethod(lambda: None)

    def get_rls_cache_key(self, datasource) -> list[str]:
        """
        Superset keys cached results by the text of the row-level security clauses, which is
        the same template for every instructor (can_view_courses(...)): the second instructor
        of another course got the first one's cached rows. The key holds the rendered clauses.
        """
        keys = self.get_guest_rls_filters_str(datasource)
        filters = self.get_rls_sorted(datasource) if datasource.is_rls_supported else []
        if filters:
            processor = datasource.get_template_processor()
            keys += [
                f"{processor.process_template(rls.clause)}-{rls.group_key or ''}" for rls in filters
            ]
        return keys

    def oauth_user_info(self, provider: str, response: dict | None = None) -> dict:
        if provider != PROVIDER or not response:
            return {}
        token = response["access_token"]
        try:
            claims = verified_claims(token)
        except jwt.InvalidTokenError as error:
            log.warning("Refused an LMS token: %s", error)
            g.openedx_refusal = "Your login could not be verified."
            raise
        username = claims["preferred_username"]
        # Before anything is remembered under that name (tokens, courses).
        account = self.find_user(username=username)
        if account is not None and has_local_password(account):
            log.warning(
                "Refused the LMS user %s: Superset's account %s has a password of its own",
                username,
                account.username,
            )
            g.openedx_refusal = (
                "This username belongs to an account of Superset's own, which cannot be "
                "signed into through the LMS."
            )
            raise RefusedByLms(f"{username} is the name of a local account")
        if claims.get("superuser") or claims.get("administrator"):
            roles = ["admin"]
        elif courses := staff_courses(username, token):
            roles = ["course_staff"]
            remember_courses(username, courses)
            remember_token(username, response)
        else:
            g.openedx_refusal = (
                "Superset is for course teams: ask a course's staff to give you a role in it."
            )
            raise RefusedByLms(f"{username} is neither staff nor course staff")
        name = (claims.get("name") or "").split(" ", 1)
        return {
            "username": username,
            "email": claims.get("email") or f"{username}@invalid",
            "first_name": name[0] or username,
            "last_name": name[1] if len(name) > 1 else "",
            "role_keys": roles,
        }

    def auth_user_oauth(self, userinfo: dict):
        user = super().auth_user_oauth(userinfo)
        # oauth_user_info refused the names of accounts with a password: this account is the
        # LMS's, and keeps no password that would make it look like one of Superset's own.
        if user and user.password != NO_LOCAL_PASSWORD:
            user.password = NO_LOCAL_PASSWORD
            self.update_user(user)
        return user
