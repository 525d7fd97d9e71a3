"""edx-platform's user lookup by username, on the stand-in's Django users."""

from django.contrib.auth import get_user_model


def get_potentially_retired_user_by_username(username):
    return get_user_model().objects.get(username=username)
