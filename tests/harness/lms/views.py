"""Pages and REST APIs of the stand-in LMS, at edx-platform's paths and with its answers."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.paginator import InvalidPage, Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from oauth2_provider.models import get_access_token_model
from oauth2_provider.views import TokenView

from tests.harness.lms.models import CourseOverview
from tests.harness.lms.people import ROLES_GRANTING, courses_with_permissions, full_name
from tests.harness.lms.tokens import jwt_token_response, verified_jwt_claims

Requester = AbstractBaseUser | AnonymousUser

# edx-platform's ACCOUNT_VISIBILITY_CONFIGURATION: what the account API shows to the user
# themself and staff ("admin_fields"), and to anyone else when profiles are visible to all
# users, the default ("shareable_fields").
ACCOUNT_ADMIN_FIELDS = (
    "username",
    "email",
    "date_joined",
    "is_active",
    "bio",
    "country",
    "profile_image",
    "language_proficiencies",
    "name",
    "gender",
    "goals",
    "year_of_birth",
    "level_of_education",
    "mailing_address",
    "requires_parental_consent",
    "account_privacy",
    "accomplishments_shared",
)
ACCOUNT_SHAREABLE_FIELDS = (
    "username",
    "profile_image",
    "country",
    "time_zone",
    "language_proficiencies",
    "bio",
    "account_privacy",
    "accomplishments_shared",
)


# --- Pages ------------------------------------------------------------------------------------


def _is_safe_redirect(request: HttpRequest, url: str) -> bool:
    """Our own pages and the registered OAuth2 clients (edx: LOGIN_REDIRECT_WHITELIST)."""
    client_hosts = {
        urlsplit(uri).netloc for uri in settings.LMS_OAUTH2_APPLICATION["REDIRECT_URIS"]
    }
    return url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host(), *client_hosts}, require_https=False
    )


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "lms/home.html")


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or settings.LOGIN_REDIRECT_URL
    error = ""
    if request.method == "POST":
        user = authenticate(
            request,
            username=request.POST.get("username", ""),
            password=request.POST.get("password", ""),
        )
        if user is not None:
            login(request, user)
            safe = _is_safe_redirect(request, next_url)
            return redirect(next_url if safe else settings.LOGIN_REDIRECT_URL)
        error = "Email or password is incorrect."
    context = {"next": next_url, "error": error}
    return render(request, "lms/login.html", context, status=400 if error else 200)


@require_GET
def logout_page(request: HttpRequest) -> HttpResponse:
    """edx-platform's LogoutView: ends the session, then goes to `redirect_url` (or `next`)."""
    target = request.GET.get("redirect_url") or request.GET.get("next") or ""
    logout(request)
    if target and _is_safe_redirect(request, target):
        return redirect(target)
    return render(request, "lms/logged_out.html")


@require_GET
def heartbeat(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"sql": {"status": True}})


# --- OAuth2 -----------------------------------------------------------------------------------


@csrf_exempt
def access_token(request: HttpRequest) -> HttpResponse:
    """DOT's token endpoint; a JWT instead of the opaque token when asked for one."""
    response = TokenView.as_view()(request)
    default_type = request.META.get("HTTP_X_TOKEN_TYPE", "")
    token_type = request.POST.get("token_type", default_type).lower()
    # Any value asks for the private key, as in edx-platform ("false" too).
    asymmetric = bool(request.POST.get("asymmetric_jwt"))
    if response.status_code == 200 and token_type == "jwt":
        token_response = jwt_token_response(json.loads(response.content), asymmetric)
        response.content = json.dumps(token_response)
    return response


# --- API authentication -----------------------------------------------------------------------


class AuthenticationFailed(Exception):
    """Credentials were given but are not good: 401, as Django REST framework answers."""


def _opaque_token_user(token: str) -> AbstractBaseUser | None:
    checksum = hashlib.sha256(token.encode()).hexdigest()
    access = (
        get_access_token_model()
        .objects.select_related("user")
        .filter(token_checksum=checksum)
        .first()
    )
    return access.user if access is not None and access.is_valid() else None


def api_requester(request: HttpRequest) -> Requester:
    """
    Who calls an API: `Authorization: JWT <jwt>` (edx-drf-extensions' JwtAuthentication),
    `Bearer <jwt or DOT access token>`, else the browser session, else anonymous.
    """
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "jwt" or (scheme == "bearer" and credentials.count(".") == 2):
        try:
            claims = verified_jwt_claims(credentials)
        except jwt.ExpiredSignatureError as error:
            raise AuthenticationFailed("Token has expired.") from error
        except jwt.InvalidTokenError as error:
            raise AuthenticationFailed(f"Invalid token: {error}") from error
        user = User.objects.filter(username=claims["preferred_username"]).first()
    elif scheme == "bearer":
        user = _opaque_token_user(credentials)
        if user is None:
            raise AuthenticationFailed("Invalid token.")
    else:
        return request.user
    if user is None or not user.is_active:
        raise AuthenticationFailed("User inactive or deleted.")
    return user


def _error(status: int, detail: str, **headers: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status, headers=headers)


def api_view(
    authenticated: bool,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A GET API: the view gets the requester; bad or (if `authenticated`) no credentials 401."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        @require_GET
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            challenge = {"WWW-Authenticate": 'JWT realm="api"'}
            try:
                requester = api_requester(request)
            except AuthenticationFailed as failure:
                return _error(401, str(failure), **challenge)
            if authenticated and not requester.is_authenticated:
                return _error(401, "Authentication credentials were not provided.", **challenge)
            return view(request, requester, *args, **kwargs)

        return wrapped

    return decorate


# --- User API ---------------------------------------------------------------------------------


@api_view(authenticated=True)
def me(request: HttpRequest, requester: User) -> JsonResponse:
    return JsonResponse({"username": requester.username})


@api_view(authenticated=True)
def account(request: HttpRequest, requester: User, username: str) -> HttpResponse:
    """
    edx-platform's account API: every field for the user themself and staff; for anyone else
    only the fields profiles share (no email, no name), not a refusal.
    """
    user = User.objects.filter(username=username).first()
    if user is None:
        return HttpResponse(status=404)
    full_access = requester.is_staff or requester.username == user.username
    everything: dict[str, Any] = {
        "username": user.username,
        "email": user.email,
        "date_joined": user.date_joined.isoformat().replace("+00:00", "Z"),
        "is_active": user.is_active,
        "name": full_name(user),
        "bio": None,
        "country": None,
        "time_zone": None,
        "profile_image": {"has_image": False},
        "language_proficiencies": [],
        "gender": None,
        "goals": None,
        "year_of_birth": None,
        "level_of_education": None,
        "mailing_address": None,
        "requires_parental_consent": False,
        "account_privacy": "all_users",
        "accomplishments_shared": False,
    }
    visible = ACCOUNT_ADMIN_FIELDS if full_access else ACCOUNT_SHAREABLE_FIELDS
    return JsonResponse({name: everything[name] for name in visible})


# --- Course API -------------------------------------------------------------------------------


def _course_fields(request: HttpRequest, course: CourseOverview) -> dict[str, Any]:
    """edx-platform's CourseSerializer; what the stand-in does not model is null."""
    blocks_query = urlencode({"course_id": course.id})
    return {
        "blocks_url": request.build_absolute_uri(f"/api/courses/v1/blocks/?{blocks_query}"),
        "effort": None,
        "end": None,
        "enrollment_start": None,
        "enrollment_end": None,
        "id": course.id,
        "media": {
            "course_image": {"uri": None},
            "course_video": {"uri": None},
            "image": {"raw": None, "small": None, "large": None},
        },
        "name": course.display_name,
        "number": course.display_number,
        "org": course.org,
        "short_description": None,
        "start": None,
        "start_display": None,
        "start_type": "empty",
        "pacing": "instructor",
        "mobile_available": False,
        "hidden": False,
        "invitation_only": False,
        "course_id": course.id,  # deprecated in edx-platform, still sent
    }


def _page_link(request: HttpRequest, page_number: int) -> str:
    query = request.GET.copy()
    if page_number == 1:
        query.pop("page", None)
    else:
        query["page"] = str(page_number)
    base = request.build_absolute_uri(request.path)
    return f"{base}?{query.urlencode()}" if query else base


def _paginated(request: HttpRequest, items: list[dict[str, Any]]) -> JsonResponse:
    """edx-rest-framework-extensions' NamespacedPageNumberPagination."""
    try:
        page_size = int(request.GET.get("page_size", settings.API_PAGE_SIZE))
    except ValueError:
        page_size = settings.API_PAGE_SIZE
    page_size = min(max(page_size, 1), settings.API_MAX_PAGE_SIZE)
    paginator = Paginator(items, page_size)
    try:
        page = paginator.page(request.GET.get("page", 1))
    except InvalidPage as error:
        return _error(404, f"Invalid page: {error}")
    pagination = {
        "next": _page_link(request, page.next_page_number()) if page.has_next() else None,
        "previous": (
            _page_link(request, page.previous_page_number()) if page.has_previous() else None
        ),
        "count": paginator.count,
        "num_pages": paginator.num_pages,
    }
    return JsonResponse({"results": list(page), "pagination": pagination})


@api_view(authenticated=False)
def course_list(request: HttpRequest, requester: Requester) -> HttpResponse:
    """
    GET /api/courses/v1/courses/?username=…&permissions=staff: the courses that user may see
    (with `permissions`: on which they have those permissions). Only the user themself and
    global staff may ask about a user (edx-platform: can_view_courses_for_username).
    """
    username = request.GET.get("username", "")
    if username == requester.get_username():
        user: Requester = requester
    elif not username:
        user = AnonymousUser()
    elif requester.is_authenticated and requester.is_active and requester.is_staff:
        found = User.objects.filter(username=username).first()
        if found is None:
            return _error(404, f"User {username} does not exist.")
        user = found
    else:
        return _error(403, "You do not have permission to perform this action.")
    permissions = [
        permission
        for value in request.GET.getlist("permissions")
        for permission in value.split(",")
        if permission
    ]
    unknown = sorted(set(permissions) - set(ROLES_GRANTING))
    if unknown:
        return JsonResponse({"permissions": [f"Unknown permissions: {unknown}"]}, status=400)
    courses = courses_with_permissions(user, permissions)
    if request.GET.get("org"):
        courses = courses.filter(org__iexact=request.GET["org"])
    return _paginated(request, [_course_fields(request, course) for course in courses])
