"""The few edx-platform models the stand-in needs, with their edx-platform names."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserProfile(models.Model):
    """student.UserProfile: the full name lives here, not in User.first_name/last_name."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    name = models.CharField(max_length=255, blank=True)


class CourseOverview(models.Model):
    """course_overviews.CourseOverview, reduced to what the course list API returns."""

    id = models.CharField(max_length=255, primary_key=True)  # the course key
    display_name = models.CharField(max_length=255)
    org = models.CharField(max_length=255)
    display_number = models.CharField(max_length=255)

    class Meta:
        ordering = ["id"]


class CourseAccessRole(models.Model):
    """student.CourseAccessRole: a user's role (staff, instructor, …) in one course."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    org = models.CharField(max_length=64, blank=True)
    course_id = models.CharField(max_length=255, blank=True)
    role = models.CharField(max_length=64)

    class Meta:
        unique_together = ("user", "org", "course_id", "role")
