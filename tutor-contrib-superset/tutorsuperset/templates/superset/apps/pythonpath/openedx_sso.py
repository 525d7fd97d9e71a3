"""
Single sign-on through the Open edX LMS for Superset.

The LMS is Superset's OAuth2 provider. Its access token (requested as a JWT) is verified here
with the LMS's public key (signature, issuer, audience, expiry) before anything in it is
trusted; the user's courses come from the LMS's course API, called with that token. Roles:
LMS superusers and global staff get SUPERSET_ADMIN_ROLE's keys, course staff and instructors
the course-staff role; anyone else (learners) is refused with a 403 page, not sent back to
the LMS (which would loop). Self-registration pages are not mounted.
"""

from __future__ import annotations

import logging

import jwt
import requests
from flask import current_app, g, make_response
from flask_appbuilder import expose
from flask_appbuilder.security.views import AuthOAuthView
from superset.security import SupersetSecurityManager

log = logging.getLogger(__name__)
PROVIDER = "openedxsso"


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
        if claims.get("superuser") or claims.get("administrator"):
            roles = ["admin"]
        elif staff_courses(username, token):
            roles = ["course_staff"]
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
