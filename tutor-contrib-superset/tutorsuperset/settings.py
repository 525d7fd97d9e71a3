"""
The superset plugin's settings: one table (name, default, description, check) from which
Tutor's defaults, docs/configuration.md and the checks of values come; then the checks that
involve several settings or what other plugins contribute.
"""

from __future__ import annotations

import re
import typing as t

from tutor.types import Config

from tutorcommon import checks
from tutorcommon.settings import Setting, plugin_rows, value_errors

from . import contributions
from .__about__ import __version__

# What pip, MySQL, Redis and superset_config.py (where values sit inside Python strings) accept.
ROLE = re.compile(r"^[^\"\\\n]{1,64}$")
# Superset and MySQL names; Tutor's random_string may start with a digit.
NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Each requirement goes inside '' on the Dockerfile's pip command line.
REQUIREMENT = re.compile(r"^[^'\\\n]*[^'\\\s][^'\\\n]*$")
# Superset's own roles, which the init job does not own.
BUILTIN_ROLES = ("Admin", "Alpha", "Gamma", "Public", "sql_lab")

name = checks.matching(NAME, "letters, digits and underscores")


def role(key: str, value: t.Any) -> t.Iterator[str]:
    if not isinstance(value, str) or not ROLE.match(value) or not value.strip():
        yield f"{key} must be a role name of 1 to 64 characters, without quotes, not {value!r}"
    elif value in BUILTIN_ROLES:
        yield f"{key} must not be Superset's own role {value!r}: the init job would change it"


def redis_database(key: str, value: t.Any) -> t.Iterator[str]:
    yield from checks.whole_number()(key, value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 15:
        yield f"{key} must be a Redis database from 0 to 15, not {value!r}"


def languages(key: str, value: t.Any) -> t.Iterator[str]:
    for code, language in value.items() if isinstance(value, dict) else ():
        if not isinstance(language, dict) or not {"flag", "name"} <= set(language):
            yield f"{key}: {code!r} must map to a flag and a name, not {language!r}"


def requirements(key: str, value: t.Any) -> t.Iterator[str]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and REQUIREMENT.match(item) for item in value
    ):
        yield f"{key} must be a list of pip requirements without quotes, not {value!r}"


DEFAULTS: list[Setting] = [
    *plugin_rows(
        "SUPERSET",
        __version__,
        run_says="Run Superset (web server, Celery worker and scheduler).",
        image="{{ DOCKER_REGISTRY }}openedx/aspects-superset:{{ SUPERSET_VERSION }}",
        image_says="Superset image, built by `tutor images build superset` from the official 6.1 "
        "image.",
    ),
    Setting(
        "SUPERSET_HOST",
        "superset.{{ LMS_HOST }}",
        "Public host name of Superset.",
        checks.public_host,
    ),
    Setting(
        "SUPERSET_PORT", 8088, "Port of Superset's web server inside the platform.", checks.port
    ),
    Setting(
        "SUPERSET_DEV_PORT",
        8088,
        "Port of this machine at which `tutor dev` serves Superset: "
        "`http://SUPERSET_HOST:SUPERSET_DEV_PORT`.",
        checks.port,
    ),
    Setting(
        "SUPERSET_INTERNAL_URL",
        "http://superset:{{ SUPERSET_PORT }}",
        "URL at which the other services of the platform (the LMS) reach Superset.",
        checks.url,
    ),
    Setting(
        "SUPERSET_DB_HOST",
        "{{ MYSQL_HOST }}",
        "MySQL host of Superset's metadata database.",
        checks.host,
    ),
    Setting(
        "SUPERSET_DB_PORT",
        "{{ MYSQL_PORT }}",
        "MySQL port of Superset's metadata database.",
        checks.port,
    ),
    Setting("SUPERSET_DB_NAME", "superset", "Name of Superset's metadata database.", name),
    Setting(
        "SUPERSET_DB_USERNAME", "superset", "MySQL user of Superset's metadata database.", name
    ),
    Setting(
        "SUPERSET_ADMIN_EMAIL",
        "admin@openedx.org",
        "Email of the Superset admin user.",
        checks.email,
    ),
    Setting(
        "SUPERSET_LMS_INTERNAL_URL",
        "http://lms:8000",
        "URL at which Superset reaches the LMS inside the platform (token exchange, APIs).",
        checks.url,
    ),
    Setting(
        "SUPERSET_OAUTH2_AUTHORIZE_PATH",
        "/oauth2/authorize/",
        "LMS OAuth2 authorization path.",
        checks.url_path,
    ),
    Setting(
        "SUPERSET_OAUTH2_ACCESS_TOKEN_PATH",
        "/oauth2/access_token/",
        "LMS OAuth2 token path.",
        checks.url_path,
    ),
    Setting(
        "SUPERSET_OAUTH2_CLIENT_ID_DEV",
        "{{ SUPERSET_OAUTH2_CLIENT_ID }}-dev",
        "OAuth2 client id of Superset in the LMS under `tutor dev` (application superset-sso-dev, "
        "with the same client secret).",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_COURSE_STAFF_ROLE",
        "Course Staff",
        "Superset role of the LMS's course staff and instructors (global staff get Admin).",
        role,
    ),
    Setting(
        "SUPERSET_GUEST_ROLE",
        "Embedded Dashboard Guest",
        "Superset role of people who see dashboards embedded in another site (such as the LMS) "
        "with a guest token; based on Gamma, plus what plugins add.",
        role,
    ),
    Setting("SUPERSET_DEFAULT_LOCALE", "en", "Language of Superset's interface by default."),
    Setting(
        "SUPERSET_SUPPORTED_LANGUAGES",
        {
            "en": {"flag": "us", "name": "English"},
            "es": {"flag": "es", "name": "Español"},
            "fr": {"flag": "fr", "name": "Français"},
            "pt_BR": {"flag": "br", "name": "Português (Brasil)"},
        },
        "Languages people can pick in Superset.",
        languages,
    ),
    Setting(
        "SUPERSET_ROW_LIMIT",
        100_000,
        "Most rows a chart or query returns.",
        checks.whole_number(),
    ),
    Setting(
        "SUPERSET_GUEST_TOKEN_EXP_SECONDS",
        300,
        "Seconds a guest token (an embedded dashboard's) is valid; the embedding page asks for a "
        "new one before it expires.",
        checks.whole_number(1),
    ),
    Setting(
        "SUPERSET_USER_COURSES_CACHE_TIMEOUT",
        300,
        "Seconds a person's course list from the LMS (row-level security) is kept before it is "
        "asked for again; signing in again refreshes it.",
        checks.whole_number(),
    ),
    Setting("SUPERSET_REDIS_CACHE_DB", 3, "Redis database of Superset's cache.", redis_database),
    Setting(
        "SUPERSET_REDIS_CELERY_DB",
        4,
        "Redis database of Superset's Celery queue and results.",
        redis_database,
    ),
    Setting(
        "SUPERSET_SENTRY_DSN",
        "",
        "Sentry DSN to report errors to; empty for none.",
        checks.sentry_dsn,
    ),
    Setting(
        "SUPERSET_REPLICAS",
        1,
        "Number of Superset web server pods on Kubernetes; `tutor k8s start` sets it again after "
        "a `tutor k8s scale superset N`.",
        checks.whole_number(1),
    ),
    Setting(
        "SUPERSET_WORKER_REPLICAS",
        1,
        "Number of Superset Celery worker pods on Kubernetes (the scheduler, superset-worker-beat, "
        "always runs once).",
        checks.whole_number(1),
    ),
    Setting(
        "SUPERSET_K8S_RESOURCES",
        {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "Kubernetes resource requests and limits of each Superset web server container (2 "
        "gunicorn workers): cpu and memory requested, memory limited.",
        checks.kubernetes_resources,
    ),
    Setting(
        "SUPERSET_WORKER_K8S_RESOURCES",
        {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "Kubernetes resource requests and limits of each Superset Celery worker container (2 "
        "worker processes).",
        checks.kubernetes_resources,
    ),
    Setting(
        "SUPERSET_EXTRA_REQUIREMENTS",
        [],
        "More pip packages in the Superset image (`tutor images build superset` after a change).",
        requirements,
    ),
]

UNIQUE: list[Setting] = [
    Setting(
        "SUPERSET_SECRET_KEY",
        "{{ 32|random_string }}",
        "Secret key of Superset's sessions.",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_DB_PASSWORD",
        "{{ 24|random_string }}",
        "Password of SUPERSET_DB_USERNAME.",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_ADMIN_USERNAME",
        "{{ 12|random_string }}",
        "Name of the Superset admin user.",
        name,
    ),
    Setting(
        "SUPERSET_ADMIN_PASSWORD",
        "{{ 24|random_string }}",
        "Password of the admin user.",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_OAUTH2_CLIENT_ID",
        "{{ 16|random_string }}",
        "OAuth2 client id in the LMS.",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_OAUTH2_CLIENT_SECRET",
        "{{ 16|random_string }}",
        "OAuth2 client secret.",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_LMS_USERNAME",
        "{{ 12|random_string }}",
        "Name of the Superset user of the LMS, which may only grant guest tokens (embedded "
        "dashboards).",
        name,
    ),
    Setting(
        "SUPERSET_LMS_PASSWORD",
        "{{ 24|random_string }}",
        "Password of SUPERSET_LMS_USERNAME.",
        checks.not_empty,
    ),
    Setting(
        "SUPERSET_GUEST_TOKEN_JWT_SECRET",
        "{{ 32|random_string }}",
        "Secret that signs guest tokens (embedded dashboards).",
        checks.not_empty,
    ),
]

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the superset settings, one message per offending key."""
    yield from value_errors(DEFAULTS + UNIQUE, config)
    locale = config["SUPERSET_DEFAULT_LOCALE"]
    if (
        not isinstance(config["SUPERSET_SUPPORTED_LANGUAGES"], dict)
        or locale not in (config["SUPERSET_SUPPORTED_LANGUAGES"])
    ):
        yield (
            "SUPERSET_SUPPORTED_LANGUAGES must be a mapping that includes "
            f"SUPERSET_DEFAULT_LOCALE {locale!r}"
        )
    if str(config["SUPERSET_COURSE_STAFF_ROLE"]) == str(config["SUPERSET_GUEST_ROLE"]):
        yield "SUPERSET_COURSE_STAFF_ROLE and SUPERSET_GUEST_ROLE must be different roles"
    # Two applications of the LMS cannot share a client id.
    if str(config["SUPERSET_OAUTH2_CLIENT_ID_DEV"]) == str(config["SUPERSET_OAUTH2_CLIENT_ID"]):
        yield "SUPERSET_OAUTH2_CLIENT_ID_DEV must differ from SUPERSET_OAUTH2_CLIENT_ID"
    yield from contribution_errors(config)


def contribution_errors(config: Config) -> t.Iterator[str]:
    """What other plugins contribute through the hooks that would break the deployment."""
    for dashboard, embedded_uuid, origins in contributions.rendered_embedded_dashboards(config):
        if not UUID.match(embedded_uuid):
            yield f"embedded dashboard {dashboard!r}: {embedded_uuid!r} is not a uuid"
        # Superset lets any site frame a dashboard embedded without origins.
        if not origins or not all(checks.ORIGIN.match(origin) for origin in origins):
            yield (
                f"embedded dashboard {dashboard!r} needs origins such as https://host[:port], "
                f"not {origins!r}"
            )
    names = contributions.asset_bundle_names()
    for duplicate in sorted({bundle for bundle in names if names.count(bundle) > 1}):
        yield f"two asset bundles contributed by plugins are both named {duplicate!r}"
