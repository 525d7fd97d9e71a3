"""
The template variables of Ralph's files: its settings (ralph.env), its auth file (auth.json),
and its own users and their passwords for the init job.
"""

from __future__ import annotations

import json

import jinja2
from tutor import exceptions

from tutorcommon.rendering import render

from . import hooks as ralph_hooks
from .settings import OWN_USERS, SETTING_NAME

# Path inside the Ralph container; the compose and Kubernetes mounts put the file there.
AUTH_FILE = "/etc/ralph/auth.json"

BACKEND_SETTING = "RALPH_RUNSERVER_BACKEND"
MONGO_BACKENDS = ("mongo", "async_mongo")
DEFAULT_SETTINGS = [
    (BACKEND_SETTING, "{{ RALPH_BACKEND }}"),
    ("RALPH_AUTH_FILE", AUTH_FILE),
    # Each user reads only the statements it wrote, unless its scopes say otherwise.
    ("RALPH_LRS_RESTRICT_BY_AUTHORITY", "true"),
    ("RALPH_LRS_RESTRICT_BY_SCOPES", "true"),
    ("RALPH_EXECUTION_ENVIRONMENT", "{{ RALPH_EXECUTION_ENVIRONMENT }}"),
    ("RALPH_SENTRY_DSN", "{{ RALPH_SENTRY_DSN }}"),
    ("RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE", "{{ RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE }}"),
    ("RALPH_SENTRY_IGNORE_HEALTH_CHECKS", "{{ RALPH_SENTRY_IGNORE_HEALTH_CHECKS }}"),
]

MONGODB_URI = (
    "mongodb://{% if MONGODB_USERNAME %}{{ MONGODB_USERNAME|ralph_url_quote }}:"
    "{{ MONGODB_PASSWORD|ralph_url_quote }}@{% endif %}{{ MONGODB_HOST }}:{{ MONGODB_PORT }}/"
    "?authSource={{ MONGODB_AUTH_SOURCE }}{% if MONGODB_USE_SSL %}&tls=true{% endif %}"
    "{% if MONGODB_REPLICA_SET %}&replicaSet={{ MONGODB_REPLICA_SET }}{% endif %}"
)


def mongo_settings(backend: str) -> list[tuple[str, str]]:
    """Settings of a mongo backend; only for it, so that no other gets MongoDB's password."""
    prefix = f"RALPH_BACKENDS__LRS__{backend.upper()}__"
    return [
        (prefix + "CONNECTION_URI", MONGODB_URI),
        (prefix + "DEFAULT_DATABASE", "{{ RALPH_MONGODB_DATABASE }}"),
        (prefix + "DEFAULT_COLLECTION", "statements"),
    ]


@jinja2.pass_context
def ralph_settings(context: jinja2.runtime.Context) -> dict[str, str]:
    """Ralph's settings: defaults, then other plugins', then the operator's, later winning."""
    settings: dict[str, str] = {}
    overrides = [*ralph_hooks.SETTINGS.iterate(), *context["RALPH_EXTRA_SETTINGS"].items()]
    backends = [value for name, value in DEFAULT_SETTINGS + overrides if name == BACKEND_SETTING]
    backend = render(context, backends[-1])
    backend_settings = mongo_settings(backend) if backend in MONGO_BACKENDS else []
    for name, value in [*DEFAULT_SETTINGS, *backend_settings, *overrides]:
        rendered = str(render(context, str(value)))
        if not SETTING_NAME.match(name) or "\n" in rendered:
            raise exceptions.TutorError(
                f"Ralph setting {name!r} must be an environment variable with a one-line value"
            )
        settings.pop(name, None)
        if rendered:
            settings[name] = rendered
    return settings


LMS_URL = "{% if ENABLE_HTTPS %}https{% else %}http{% endif %}://{{ LMS_HOST }}"
OWN_AUTH_ENTRIES = [
    {
        "username": f"{{{{ {user.prefix}_USERNAME }}}}",
        "hash": f"{{{{ {user.prefix}_HASHED_PASSWORD }}}}",
        "scopes": list(user.scopes),
        "agent": {"account": {"homePage": LMS_URL, "name": f"{{{{ {user.prefix}_USERNAME }}}}"}},
    }
    for user in OWN_USERS
]


@jinja2.pass_context
def ralph_users(context: jinja2.runtime.Context) -> str:
    """Ralph's auth file: its own users, then the users other plugins add."""
    users = render(context, [*OWN_AUTH_ENTRIES, *ralph_hooks.USERS.iterate()])
    return json.dumps(users, indent=2)


@jinja2.pass_context
def ralph_own_users(context: jinja2.runtime.Context) -> list[tuple[str, str]]:
    """(username, prefix of its settings) of each own user, which the init job logs in as."""
    return [(context[f"{user.prefix}_USERNAME"], user.prefix) for user in OWN_USERS]


@jinja2.pass_context
def ralph_job_passwords(context: jinja2.runtime.Context) -> dict[str, str]:
    """The own users' passwords, for the init job's environment."""
    return {
        f"{user.prefix}_PASSWORD": str(context[f"{user.prefix}_PASSWORD"]) for user in OWN_USERS
    }


# What the templates see, by name (ENV_TEMPLATE_VARIABLES).
TEMPLATE_VARIABLES = {
    "ralph_settings": ralph_settings,
    "ralph_users": ralph_users,
    "ralph_auth_file": AUTH_FILE,
    "ralph_own_users": ralph_own_users,
    "ralph_job_passwords": ralph_job_passwords,
}
