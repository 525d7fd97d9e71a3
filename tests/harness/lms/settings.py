"""
Django settings of the stand-in LMS, read from LMS_* environment variables (the command line
of ``python -m tests.harness.lms`` sets them; see its --help):

- LMS_DATA_DIR: directory of the SQLite database and the generated secret key (required)
- LMS_USERS_FILE: JSON file of people and course roles, loaded at start (see people.py)
- LMS_OAUTH2_CLIENT_ID, LMS_OAUTH2_CLIENT_SECRET, LMS_OAUTH2_REDIRECT_URIS (space-separated),
  LMS_OAUTH2_SKIP_AUTHORIZATION ("true"/"false"): the OAuth2 application registered at start
- LMS_JWT_PRIVATE_KEY (PEM), LMS_JWT_ALGORITHM, LMS_JWT_SECRET_KEY,
  LMS_JWT_FORCE_CREATE_ASYMMETRIC ("true"/"false"), LMS_JWT_ISSUER, LMS_JWT_AUDIENCE,
  LMS_JWT_EXPIRE_SECONDS: how JWT access tokens are signed and checked
- LMS_JWT_FLAWS: JSON object {username: flaw}: the tokens of these users come with one flaw
  (JWT_FLAWS below), for tests of what their clients refuse
- LMS_ALLOWED_HOSTS (space-separated)
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

DATA_DIR = Path(os.environ["LMS_DATA_DIR"]).resolve()


def _secret_key() -> str:
    """One key per data directory, so sessions survive a restart."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = os.environ.get("LMS_SECRET_KEY") or _secret_key()
DEBUG = False
ALLOWED_HOSTS = os.environ.get("LMS_ALLOWED_HOSTS", "127.0.0.1 localhost").split()

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "tests.harness.lms.apps.StandInLmsConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "tests.harness.lms.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "lms.sqlite3",
        # Requests run in threads: wait for the write lock instead of failing at once.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# Test accounts and a test client secret only: a cheap hash keeps start-up and logins fast.
PASSWORD_HASHERS = ["tests.harness.lms.hashers.QuickPBKDF2PasswordHasher"]
AUTHENTICATION_BACKENDS = ["tests.harness.lms.people.UsernameOrEmailBackend"]
STATIC_URL = "static/"  # named by DOT's templates; the stand-in serves no static files
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"

# Other servers of a test (Superset) also run on 127.0.0.1, and browsers share cookies across
# ports of one host: names of our own keep the two logins apart.
SESSION_COOKIE_NAME = "lms_sessionid"
CSRF_COOKIE_NAME = "lms_csrftoken"

# django-oauth-toolkit as edx-platform configures it (lms/envs/common.py): its scopes, its
# default scopes, PKCE required (DOT's default since 2.0).
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Read access",
        "write": "Write access",
        "email": "Know your email address",
        "profile": "Know your name and username",
        "certificates:read": "Retrieve your course certificates",
        "grades:read": "Retrieve your grades for your enrolled courses",
        "tpa:read": "Retrieve your third-party authentication username mapping",
        "user_id": "Know your user identifier",
    },
    "DEFAULT_SCOPES": ["read", "write", "email", "profile"],
    "REFRESH_TOKEN_EXPIRE_SECONDS": 7776000,
    "REQUEST_APPROVAL_PROMPT": "auto",
    "ERROR_RESPONSE_WITH_SCOPES": True,
    "PKCE_REQUIRED": True,
}

LMS_OAUTH2_APPLICATION = {
    "CLIENT_ID": os.environ.get("LMS_OAUTH2_CLIENT_ID", ""),
    "CLIENT_SECRET": os.environ.get("LMS_OAUTH2_CLIENT_SECRET", ""),
    "REDIRECT_URIS": os.environ.get("LMS_OAUTH2_REDIRECT_URIS", "").split(),
    "SKIP_AUTHORIZATION": os.environ.get("LMS_OAUTH2_SKIP_AUTHORIZATION", "true").lower()
    in ("1", "true", "yes"),
}
LMS_USERS_FILE = os.environ.get("LMS_USERS_FILE", "")

# edx-platform's JWT_AUTH, the part this stand-in uses. Its token endpoint signs with the
# private key when the client posts `asymmetric_jwt` or JWT_AUTH_FORCE_CREATE_ASYMMETRIC is on,
# else with the shared secret (HS256); the APIs accept both.
LMS_JWT = {
    "PRIVATE_KEY": os.environ.get("LMS_JWT_PRIVATE_KEY", ""),
    "ALGORITHM": os.environ.get("LMS_JWT_ALGORITHM", "RS256"),
    "FORCE_CREATE_ASYMMETRIC": os.environ.get("LMS_JWT_FORCE_CREATE_ASYMMETRIC", "true").lower()
    in ("1", "true", "yes"),
    "SECRET_KEY": os.environ.get("LMS_JWT_SECRET_KEY") or SECRET_KEY,
    "SYMMETRIC_ALGORITHM": "HS256",  # JWT_ALGORITHM
    "ISSUER": os.environ.get("LMS_JWT_ISSUER", ""),
    "AUDIENCE": os.environ.get("LMS_JWT_AUDIENCE", "openedx"),
    "EXPIRE_SECONDS": int(os.environ.get("LMS_JWT_EXPIRE_SECONDS", "3600")),
    "VERSION": "1.2.0",  # JWT_SUPPORTED_VERSION
    "FLAWS": json.loads(os.environ.get("LMS_JWT_FLAWS") or "{}"),
}
# What LMS_JWT_FLAWS may do to a user's tokens (tokens.build_jwt): sign them with a key of no
# LMS, let them expire before they are issued, address them to another audience, name another
# issuer, leave them unsigned (alg "none").
JWT_FLAWS = ("foreign-key", "expired", "audience", "issuer", "unsigned")
if set(LMS_JWT["FLAWS"].values()) - set(JWT_FLAWS):
    raise ValueError(f"LMS_JWT_FLAWS: {LMS_JWT['FLAWS']} names a flaw not in {JWT_FLAWS}")

# Default page size of edx-platform's REST APIs (REST_FRAMEWORK["PAGE_SIZE"]).
API_PAGE_SIZE = 10
API_MAX_PAGE_SIZE = 100

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
