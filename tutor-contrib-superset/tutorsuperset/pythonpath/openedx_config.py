"""
Superset's configuration for Open edX, built from the SUPERSET_* settings that Tutor renders
into tutor_settings.json next to this file; superset_config.py, rendered, starts with it and
adds what plugins contribute. Secrets come from the environment (superset.env), so that
neither file holds any.
"""

import json
import os
from pathlib import Path
from urllib.parse import quote

from flask_appbuilder.security.manager import AUTH_OAUTH
from sqlalchemy.dialects.mysql.base import MySQLDialect

# MariaDB announces sequences, then refuses Flask-AppBuilder's CREATE SEQUENCE ... NO CYCLE:
# tables use AUTO_INCREMENT instead (MySQL has no sequences anyway).
_mysql_initialize = MySQLDialect.initialize


def _initialize_without_sequences(self, connection):
    _mysql_initialize(self, connection)
    self.supports_sequences = False


MySQLDialect.initialize = _initialize_without_sequences

_TUTOR = json.loads(Path(__file__).with_name("tutor_settings.json").read_text(encoding="utf-8"))
_SCHEME = "https" if _TUTOR["ENABLE_HTTPS"] else "http"

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = (
    f"mysql+pymysql://{_TUTOR['SUPERSET_DB_USERNAME']}:"
    + quote(os.environ["SUPERSET_DB_PASSWORD"], safe="")
    + f"@{_TUTOR['SUPERSET_DB_HOST']}:{_TUTOR['SUPERSET_DB_PORT']}/{_TUTOR['SUPERSET_DB_NAME']}"
    + "?charset=utf8mb4"
)

# Cache and asynchronous queries on the platform's Redis.
REDIS_URL = f"redis://{_TUTOR['REDIS_HOST']}:{_TUTOR['REDIS_PORT']}"
CACHE_CONFIG = {
    "CACHE_TYPE": "RedisCache",
    "CACHE_DEFAULT_TIMEOUT": 300,
    "CACHE_KEY_PREFIX": "superset_",
    "CACHE_REDIS_URL": f"{REDIS_URL}/{_TUTOR['SUPERSET_REDIS_CACHE_DB']}",
}
DATA_CACHE_CONFIG = {**CACHE_CONFIG, "CACHE_KEY_PREFIX": "superset_data_"}


class CeleryConfig:
    broker_url = f"{REDIS_URL}/{_TUTOR['SUPERSET_REDIS_CELERY_DB']}"
    result_backend = broker_url
    imports = ("superset.sql_lab", "superset.tasks.scheduler")
    worker_prefetch_multiplier = 1
    task_acks_late = False


CELERY_CONFIG = CeleryConfig

ROW_LIMIT = _TUTOR["SUPERSET_ROW_LIMIT"]
# SQL templates (Jinja) in datasets and row-level security clauses; dashboards embedded in
# other sites (guest tokens). Plugins add flags with FEATURE_FLAGS["..."] = ... in their extra
# configuration.
FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": True, "EMBEDDED_SUPERSET": True}
BABEL_DEFAULT_LOCALE = _TUTOR["SUPERSET_DEFAULT_LOCALE"]
LANGUAGES = _TUTOR["SUPERSET_SUPPORTED_LANGUAGES"]

# People log in with their LMS account (OAuth2); the admin user logs in to the API only.
from openedx_sso import OpenEdxSsoSecurityManager  # noqa: E402

CUSTOM_SECURITY_MANAGER = OpenEdxSsoSecurityManager
# The LMS and Superset as the browser reaches them, and Superset's OAuth2 client in the LMS.
# `tutor dev` serves both over plain HTTP on ports of their own, without Caddy, and registers a
# client of its own for Superset there: its compose file gives these values in the environment.
LMS_URL = os.environ.get("SUPERSET_LMS_PUBLIC_URL", f"{_SCHEME}://{_TUTOR['LMS_HOST']}")
SUPERSET_URL = os.environ.get("SUPERSET_PUBLIC_URL", f"{_SCHEME}://{_TUTOR['SUPERSET_HOST']}")
OAUTH2_CLIENT_ID = os.environ.get("SUPERSET_OAUTH2_CLIENT_ID", _TUTOR["SUPERSET_OAUTH2_CLIENT_ID"])
AUTH_TYPE = AUTH_OAUTH
AUTH_USER_REGISTRATION = True  # an LMS user's first login creates their Superset user
AUTH_USER_REGISTRATION_ROLE = None  # no role but those the LMS gives, at every login
AUTH_ROLES_SYNC_AT_LOGIN = True
AUTH_ROLES_MAPPING = {
    "admin": ["Admin"],
    "course_staff": [_TUTOR["SUPERSET_COURSE_STAFF_ROLE"]],
}
AUTH_API_LOGIN_ALLOW_MULTIPLE_PROVIDERS = True
# The LMS's access tokens are JWTs signed with its key (Tutor's JWT_RSA_PRIVATE_KEY): verified
# with the public half, for this issuer and audience.
OPENEDX_JWT_PUBLIC_KEY = _TUTOR["JWT_PUBLIC_KEY"]
OPENEDX_JWT_ISSUER = _TUTOR["JWT_COMMON_ISSUER"]
OPENEDX_JWT_AUDIENCE = _TUTOR["JWT_COMMON_AUDIENCE"]
OPENEDX_LMS_INTERNAL_URL = _TUTOR["SUPERSET_LMS_INTERNAL_URL"]
OPENEDX_COURSES_CACHE_TIMEOUT = _TUTOR["SUPERSET_USER_COURSES_CACHE_TIMEOUT"]
OAUTH_PROVIDERS = [
    {
        "name": "openedxsso",
        "icon": "fa-sign-in",
        "token_key": "access_token",
        "remote_app": {
            "client_id": OAUTH2_CLIENT_ID,
            "client_secret": os.environ["SUPERSET_OAUTH2_CLIENT_SECRET"],
            # django-oauth-toolkit, which the LMS uses, requires PKCE.
            # The identity claims of the LMS's JWT come with the email and profile scopes.
            "client_kwargs": {"scope": "read email profile", "code_challenge_method": "S256"},
            "access_token_method": "POST",
            # A JWT signed with the LMS's key (not its shared secret), which Superset can verify.
            "access_token_params": {"token_type": "jwt", "asymmetric_jwt": "true"},
            # The browser goes to the public LMS; Superset itself talks to it inside the platform.
            "authorize_url": LMS_URL + _TUTOR["SUPERSET_OAUTH2_AUTHORIZE_PATH"],
            "access_token_url": OPENEDX_LMS_INTERNAL_URL
            + _TUTOR["SUPERSET_OAUTH2_ACCESS_TOKEN_PATH"],
            "api_base_url": OPENEDX_LMS_INTERNAL_URL,
        },
    }
]
LOGOUT_REDIRECT_URL = LMS_URL + "/logout"
ENABLE_PROXY_FIX = True

# Embedded dashboards: a guest token, asked for by a user allowed to grant them (the LMS's),
# names the dashboards a guest may see and the row-level security clauses of their rows. The
# guest gets GUEST_ROLE_NAME's permissions, no datasource of its own.
GUEST_ROLE_NAME = _TUTOR["SUPERSET_GUEST_ROLE"]
GUEST_TOKEN_JWT_SECRET = os.environ["SUPERSET_GUEST_TOKEN_JWT_SECRET"]
GUEST_TOKEN_JWT_AUDIENCE = SUPERSET_URL
GUEST_TOKEN_JWT_EXP_SECONDS = _TUTOR["SUPERSET_GUEST_TOKEN_EXP_SECONDS"]
# Only the sites that plugins embed dashboards in may frame Superset (frame-ancestors, which
# browsers obey over X-Frame-Options); otherwise Superset 6.1's own policy.
EMBEDDING_ORIGINS = _TUTOR["EMBEDDING_ORIGINS"]
_FONT_HOSTS = ["https://fonts.googleapis.com", "https://fonts.gstatic.com"]
_FONT_HOSTS += ["https://use.typekit.net", "https://use.typekit.com"]
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": [
            "'self'",
            "blob:",
            "data:",
            "https://apachesuperset.gateway.scarf.sh",
            "https://static.scarf.sh/",
            "ows.terrestris.de",
            "https://cdn.document360.io",
        ],
        "worker-src": ["'self'", "blob:"],
        "connect-src": [
            "'self'",
            "https://api.mapbox.com",
            "https://events.mapbox.com",
            "https://tile.openstreetmap.org",
            "https://tile.osm.ch",
            "https://a.basemaps.cartocdn.com",
        ],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'", *_FONT_HOSTS],
        "font-src": ["'self'", *_FONT_HOSTS],
        "script-src": ["'self'", "'strict-dynamic'"],
        "frame-ancestors": ["'self'", *EMBEDDING_ORIGINS],
    },
    "content_security_policy_nonce_in": ["script-src"],
    # Caddy, in front, redirects to HTTPS.
    "force_https": False,
    "session_cookie_secure": _TUTOR["ENABLE_HTTPS"],
}
# The session cookie carries the person's LMS access token: sent over HTTPS only, when the
# platform is served over HTTPS.
SESSION_COOKIE_SECURE = _TUTOR["ENABLE_HTTPS"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
if SUPERSET_URL.startswith("http://"):
    # Served over plain HTTP (`tutor dev`): a secure cookie would never come back.
    SESSION_COOKIE_SECURE = TALISMAN_CONFIG["session_cookie_secure"] = False

if _TUTOR["SUPERSET_SENTRY_DSN"]:
    import sentry_sdk

    sentry_sdk.init(dsn=_TUTOR["SUPERSET_SENTRY_DSN"])

# Functions of SQL templates: can_view_courses(column) for row-level security, then those
# that plugins contribute.
from openedx_sso import can_view_courses  # noqa: E402

JINJA_CONTEXT_ADDONS = {"can_view_courses": can_view_courses}


# Only administrators send SQL of their own (custom SQL, WHERE/HAVING, Jinja) to the database;
# everyone else gets database errors as a generic message with an id (query_guard.py).
# Superset's models load with the app: the guard is put in place then (a plugin that sets
# FLASK_APP_MUTATOR calls superset_app_mutator first).
from query_guard import only_administrators_send_sql  # noqa: E402


def same_collation_as_the_database(app):
    """
    Connections to the metadata database use its collation: with the driver's (what SET NAMES
    gives), SQL that mixes a column with a cast to text failed ("Illegal mix of collations"),
    such as the filter of databases for anyone but admins.
    """
    from sqlalchemy import event
    from superset.extensions import db

    engine = db.engine
    if engine.dialect.name != "mysql" or getattr(engine, "same_collation", False):
        return

    @event.listens_for(engine, "connect")
    def set_collation(connection, record):
        cursor = connection.cursor()
        cursor.execute("SET collation_connection = @@collation_database")
        cursor.close()

    engine.same_collation = True
    engine.dispose()  # connections opened before this point


def superset_app_mutator(app):
    only_administrators_send_sql(app)
    same_collation_as_the_database(app)


FLASK_APP_MUTATOR = superset_app_mutator
