"""
A stand-in Open edX LMS for tests: a small Django project on django-oauth-toolkit (the OAuth2
provider of edx-platform) with edx-platform's login, OAuth2 endpoints, JWT access tokens and
the user and course APIs that Superset's LMS single sign-on uses.

- ``python -m tests.harness.lms --help``: the server (runs from .venv-lms).
- ``running_lms(...)`` / ``LmsServer``: the server as a subprocess, for tests (harness.py).

Only harness.py is imported here: it needs nothing but the standard library, so this package
imports in the tests' virtualenv as well as in the LMS's.
"""

from tests.harness.lms.harness import LmsError, LmsServer, running_lms, superset_client_options

__all__ = ["LmsError", "LmsServer", "running_lms", "superset_client_options"]
