"""
People, courses and course roles, loaded at start from the JSON file in LMS_USERS_FILE::

    {
      "courses": [{"id": "course-v1:OpenedX+DemoX+Demo_Course", "name": "Demo Course"}],
      "users": [
        {"username": "alice", "password": "…", "email": "alice@example.com",
         "name": "Alice Liddell", "is_staff": false, "is_superuser": false,
         "courses": {"staff": ["course-v1:OpenedX+DemoX+Demo_Course"], "instructor": []}}
      ]
    }

A bare list of users is accepted too. Courses named only in a role get a name made from their
key. The file is the whole truth: people missing from it are removed, roles are replaced.
Permission checks follow edx-platform's `has_access` for the two course roles Aspects uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from tests.harness.lms.models import CourseAccessRole, CourseOverview, UserProfile

# The roles each course permission accepts: an instructor is staff too.
ROLES_GRANTING = {"staff": ("staff", "instructor"), "instructor": ("instructor",)}
USER_FIELDS = {
    "username",
    "password",
    "email",
    "name",
    "first_name",
    "last_name",
    "is_staff",
    "is_superuser",
    "is_active",
    "courses",
}


class PeopleFileError(ValueError):
    """The people file is not what the stand-in expects; the message says where."""


def course_key_parts(course_id: str) -> tuple[str, str]:
    """The org and course number of `course-v1:Org+Number+Run` (or old `Org/Number/Run`)."""
    if course_id.startswith("course-v1:"):
        parts = course_id.removeprefix("course-v1:").split("+")
    else:
        parts = course_id.split("/")
    if len(parts) != 3 or not all(parts):
        raise PeopleFileError(f"{course_id!r} is not a course key like course-v1:Org+Course+Run")
    return parts[0], parts[1]


def load_people(path: Path) -> None:
    data = json.loads(path.read_text())
    users = data if isinstance(data, list) else data.get("users", [])
    courses = [] if isinstance(data, list) else data.get("courses", [])
    with transaction.atomic():
        for course in courses:
            _save_course(course["id"], course.get("name"))
        for entry in users:
            _save_user(entry)
        User.objects.exclude(username__in=[entry["username"] for entry in users]).delete()


def _save_course(course_id: str, name: str | None = None) -> CourseOverview:
    org, number = course_key_parts(course_id)
    course, _ = CourseOverview.objects.get_or_create(
        id=course_id,
        defaults={"display_name": name or number, "org": org, "display_number": number},
    )
    if name and course.display_name != name:
        course.display_name = name
        course.save()
    return course


def _save_user(entry: dict[str, Any]) -> None:
    unknown = set(entry) - USER_FIELDS
    if unknown or "username" not in entry or "password" not in entry:
        raise PeopleFileError(
            f"user {entry.get('username')!r}: needs username and password, "
            f"unknown fields {sorted(unknown)}"
        )
    user, _ = User.objects.get_or_create(username=entry["username"])
    user.email = entry.get("email", f"{user.username}@example.com")
    user.first_name = entry.get("first_name", "")
    user.last_name = entry.get("last_name", "")
    user.is_staff = bool(entry.get("is_staff", False))
    user.is_superuser = bool(entry.get("is_superuser", False))
    user.is_active = bool(entry.get("is_active", True))
    if not user.check_password(entry["password"]):
        user.set_password(entry["password"])
    user.save()
    UserProfile.objects.update_or_create(user=user, defaults={"name": entry.get("name", "")})
    CourseAccessRole.objects.filter(user=user).delete()
    for role, course_ids in entry.get("courses", {}).items():
        for course_id in course_ids:
            course = _save_course(course_id)
            CourseAccessRole.objects.create(
                user=user, org=course.org, course_id=course.id, role=role
            )


def full_name(user: AbstractBaseUser) -> str | None:
    profile = UserProfile.objects.filter(user=user).first()
    return profile.name if profile else None


def courses_with_permissions(
    user: AbstractBaseUser | AnonymousUser, permissions: Iterable[str]
) -> QuerySet[CourseOverview]:
    """
    The courses on which `user` has every permission (edx-platform's `get_courses` with its
    `permissions` filter): global staff have them on every course, anonymous users on none.
    """
    courses = CourseOverview.objects.all()
    for permission in permissions:
        if not user.is_authenticated or not user.is_active:
            return courses.none()
        if user.is_staff:
            continue
        granted = CourseAccessRole.objects.filter(user=user, role__in=ROLES_GRANTING[permission])
        courses = courses.filter(id__in=granted.values("course_id"))
    return courses


class UsernameOrEmailBackend(ModelBackend):
    """The LMS login form takes a username or an email address."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if username and "@" in username and not User.objects.filter(username=username).exists():
            by_email = User.objects.filter(email__iexact=username).first()
            username = by_email.username if by_email else username
        return super().authenticate(request, username=username, password=password, **kwargs)
