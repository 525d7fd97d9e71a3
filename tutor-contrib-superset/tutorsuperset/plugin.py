"""Tutor plugin for Apache Superset, with single sign-on through the LMS."""

from __future__ import annotations

import re
import shlex
import typing as t
from importlib import resources

import jinja2
from tutor import exceptions, hooks
from tutor.types import Config

from . import hooks as superset_hooks
from .__about__ import __version__

########################################
# CONFIGURATION
########################################

# Each setting: (name, default, what it is for). docs/configuration.md is generated from these.
CONFIG_DEFAULTS: list[tuple[str, t.Any, str]] = [
    ("SUPERSET_VERSION", __version__, "Version of this plugin."),
    ("RUN_SUPERSET", True, "Run Superset (web server, Celery worker and scheduler)."),
    (
        "DOCKER_IMAGE_SUPERSET",
        "{{ DOCKER_REGISTRY }}openedx/aspects-superset:{{ SUPERSET_VERSION }}",
        "Superset image, built by `tutor images build superset` from the official 6.1 image.",
    ),
    ("SUPERSET_HOST", "superset.{{ LMS_HOST }}", "Public host name of Superset."),
    ("SUPERSET_PORT", 8088, "Port of Superset's web server inside the platform."),
    ("SUPERSET_DB_HOST", "{{ MYSQL_HOST }}", "MySQL host of Superset's metadata database."),
    ("SUPERSET_DB_PORT", "{{ MYSQL_PORT }}", "MySQL port of Superset's metadata database."),
    ("SUPERSET_DB_NAME", "superset", "Name of Superset's metadata database."),
    ("SUPERSET_DB_USERNAME", "superset", "MySQL user of Superset's metadata database."),
    ("SUPERSET_ADMIN_EMAIL", "admin@openedx.org", "Email of the Superset admin user."),
    (
        "SUPERSET_LMS_INTERNAL_URL",
        "http://lms:8000",
        "URL at which Superset reaches the LMS inside the platform (token exchange, APIs).",
    ),
    ("SUPERSET_OAUTH2_AUTHORIZE_PATH", "/oauth2/authorize/", "LMS OAuth2 authorization path."),
    ("SUPERSET_OAUTH2_ACCESS_TOKEN_PATH", "/oauth2/access_token/", "LMS OAuth2 token path."),
    (
        "SUPERSET_COURSE_STAFF_ROLE",
        "Course Staff",
        "Superset role of the LMS's course staff and instructors (global staff get Admin).",
    ),
    ("SUPERSET_DEFAULT_LOCALE", "en", "Language of Superset's interface by default."),
    (
        "SUPERSET_SUPPORTED_LANGUAGES",
        {
            "en": {"flag": "us", "name": "English"},
            "es": {"flag": "es", "name": "Español"},
            "fr": {"flag": "fr", "name": "Français"},
            "pt_BR": {"flag": "br", "name": "Português (Brasil)"},
        },
        "Languages people can pick in Superset.",
    ),
    ("SUPERSET_ROW_LIMIT", 100_000, "Most rows a chart or query returns."),
    ("SUPERSET_REDIS_CACHE_DB", 3, "Redis database of Superset's cache."),
    ("SUPERSET_REDIS_CELERY_DB", 4, "Redis database of Superset's Celery queue and results."),
    ("SUPERSET_SENTRY_DSN", "", "Sentry DSN to report errors to; empty for none."),
    (
        "SUPERSET_EXTRA_REQUIREMENTS",
        [],
        "More pip packages in the Superset image (`tutor images build superset` after a change).",
    ),
]

CONFIG_UNIQUE: list[tuple[str, t.Any, str]] = [
    ("SUPERSET_SECRET_KEY", "{{ 32|random_string }}", "Secret key of Superset's sessions."),
    ("SUPERSET_DB_PASSWORD", "{{ 24|random_string }}", "Password of SUPERSET_DB_USERNAME."),
    ("SUPERSET_ADMIN_USERNAME", "{{ 12|random_string }}", "Name of the Superset admin user."),
    ("SUPERSET_ADMIN_PASSWORD", "{{ 24|random_string }}", "Password of the admin user."),
    ("SUPERSET_OAUTH2_CLIENT_ID", "{{ 16|random_string }}", "OAuth2 client id in the LMS."),
    ("SUPERSET_OAUTH2_CLIENT_SECRET", "{{ 16|random_string }}", "OAuth2 client secret."),
]

hooks.Filters.CONFIG_DEFAULTS.add_items([(name, value) for name, value, _ in CONFIG_DEFAULTS])
hooks.Filters.CONFIG_UNIQUE.add_items([(name, value) for name, value, _ in CONFIG_UNIQUE])

IDENTIFIER = re.compile(r"^[A-Za-z0-9_]+$")


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the superset settings, one message per offending key."""
    for key in ("SUPERSET_PORT", "SUPERSET_DB_PORT"):
        value = str(config[key])
        if not value.isdigit() or not 0 < int(value) < 65536:
            yield f"{key} must be a port number between 1 and 65535, not {value!r}"
    for key in ("SUPERSET_DB_NAME", "SUPERSET_DB_USERNAME", "SUPERSET_ADMIN_USERNAME"):
        if not IDENTIFIER.match(str(config[key])):
            yield f"{key} must be letters, digits and underscores, not {config[key]!r}"
    for key in ("SUPERSET_SECRET_KEY", "SUPERSET_DB_PASSWORD", "SUPERSET_ADMIN_PASSWORD"):
        if not str(config[key] or ""):
            yield f"{key} must not be empty"
    for key in ("SUPERSET_ROW_LIMIT", "SUPERSET_REDIS_CACHE_DB", "SUPERSET_REDIS_CELERY_DB"):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < 0:
            yield f"{key} must be a whole number, not {config[key]!r}"
    languages = config["SUPERSET_SUPPORTED_LANGUAGES"]
    if not isinstance(languages, dict) or config["SUPERSET_DEFAULT_LOCALE"] not in languages:
        yield (
            "SUPERSET_SUPPORTED_LANGUAGES must be a mapping that includes "
            f"SUPERSET_DEFAULT_LOCALE {config['SUPERSET_DEFAULT_LOCALE']!r}"
        )


@hooks.Actions.CONFIG_LOADED.add()
def _check_config(config: Config) -> None:
    if errors := list(config_errors(config)):
        raise exceptions.TutorError("Invalid Superset configuration:\n- " + "\n- ".join(errors))


########################################
# INITIALIZATION TASKS
########################################

PACKAGE = resources.files("tutorsuperset")
INIT = PACKAGE / "templates" / "superset" / "jobs" / "init"
# After the analytics schema and Ralph (DEFAULT + 10), before the LMS registers Superset.
hooks.Filters.CLI_DO_INIT_TASKS.add_items(
    [
        ("superset", (INIT / "superset.sh").read_text(encoding="utf-8")),
    ],
    priority=hooks.priorities.DEFAULT + 20,
)
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("lms", (INIT / "lms.sh").read_text(encoding="utf-8")), priority=hooks.priorities.DEFAULT + 30
)


@jinja2.pass_context
def superset_extra_config(context: jinja2.runtime.Context) -> t.Iterator[tuple[str, str]]:
    for name, code in superset_hooks.EXTRA_CONFIG.iterate():
        yield name, context.environment.from_string(code).render(context.get_all())


@jinja2.pass_context
def superset_init_commands(context: jinja2.runtime.Context) -> t.Iterator[tuple[str, str]]:
    for name, command in superset_hooks.INIT_COMMANDS.iterate():
        yield name, context.environment.from_string(command).render(context.get_all())


########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_BUILD.add_item(
    ("superset", ("plugins", "superset", "build", "superset"), "{{ DOCKER_IMAGE_SUPERSET }}", ())
)
hooks.Filters.IMAGES_PULL.add_item(("superset", "{{ DOCKER_IMAGE_SUPERSET }}"))
hooks.Filters.IMAGES_PUSH.add_item(("superset", "{{ DOCKER_IMAGE_SUPERSET }}"))

########################################
# TEMPLATE RENDERING
########################################

hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(PACKAGE / "templates"))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_items(
    [
        ("superset/apps", "plugins"),
        ("superset/build", "plugins"),
        ("superset/kustomization.yml", "plugins"),
    ]
)
hooks.Filters.ENV_TEMPLATE_FILTERS.add_item(
    ("superset_shell_quote", lambda value: shlex.quote(str(value)))
)
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("superset_extra_config", superset_extra_config),
        ("superset_init_commands", superset_init_commands),
    ]
)

########################################
# PATCH LOADING
########################################

for patch in (PACKAGE / "patches").iterdir():
    hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text(encoding="utf-8")))
