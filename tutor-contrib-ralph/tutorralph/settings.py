"""
The ralph plugin's settings: one table (name, default, description, check) from which Tutor's
defaults, docs/configuration.md and the checks of values come; Ralph's own users, one table
from which their settings, the auth file, the init job and its passwords come; then the checks
that involve several settings.
"""

from __future__ import annotations

import re
import typing as t

from tutor.types import Config

from tutorcommon import checks
from tutorcommon.settings import Setting, plugin_rows, value_errors

from .__about__ import __version__


class OwnUser(t.NamedTuple):
    """A user of Ralph's auth file that this plugin creates, with settings RALPH_<role>_*."""

    role: str
    username: str
    description: str
    scopes: tuple[str, ...]

    @property
    def prefix(self) -> str:
        return f"RALPH_{self.role}"


OWN_USERS = [
    OwnUser("ADMIN", "ralph", "Ralph user with every scope, for operators.", ("all",)),
    OwnUser(
        "LMS",
        "lms",
        "Ralph user that the LMS sends statements with (write, and read its own).",
        ("statements/write", "statements/read/mine"),
    ),
]

BACKENDS = ("mongo", "async_mongo", "clickhouse", "es", "async_es")
SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
MONGODB_DATABASE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


def backend(key: str, value: t.Any) -> t.Iterator[str]:
    if value == "fs":
        # Ralph 5's fs backend creates its file once and refuses to write it again.
        yield f"{key} cannot be fs: Ralph's fs backend stores only the first statements sent"
    elif value not in BACKENDS:
        yield f"{key} must be one of {', '.join(BACKENDS)}, not {value!r}"


def sample_rate(key: str, value: t.Any) -> t.Iterator[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        yield f"{key} must be a number from 0 to 1, not {value!r}"


def extra_settings(key: str, value: t.Any) -> t.Iterator[str]:
    if not isinstance(value, dict):
        yield f"{key} must be a mapping of settings, not {value!r}"
        return
    for name in value:
        if not SETTING_NAME.match(str(name)):
            yield f"{key}: {name!r} is not an environment variable name"


def username(key: str, value: t.Any) -> t.Iterator[str]:
    name = str(value or "")
    if not name or ":" in name:  # the basic-auth separator
        yield f"{key} must be a non-empty name without ':', not {name!r}"


def bcrypt_hash(key: str, value: t.Any) -> t.Iterator[str]:
    if not BCRYPT_HASH.match(str(value)):
        password = key.replace("_HASHED_PASSWORD", "_PASSWORD")
        yield f"{key} must be a bcrypt hash; unset it to generate it from {password}"


def max_body_size(key: str, value: t.Any) -> t.Iterator[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        yield f"{key} must be a number of bytes, such as 25000000, not {value!r}"


DEFAULTS: list[Setting] = [
    *plugin_rows(
        "RALPH",
        __version__,
        run_says="Run Ralph in a container; false to use a Ralph server run elsewhere.",
        # Tags: https://hub.docker.com/r/fundocker/ralph/tags
        image="docker.io/fundocker/ralph:5.1.0",
        image_says="Image of Ralph, also used by its init job.",
    ),
    Setting("RALPH_HOST", "ralph", "Host name at which other services reach Ralph.", checks.host),
    Setting("RALPH_PORT", 8100, "Port of Ralph's HTTP API.", checks.port),
    Setting(
        "RALPH_RUN_HTTPS",
        False,
        "Reach Ralph over HTTPS (a Ralph server run elsewhere).",
        checks.boolean,
    ),
    Setting(
        "RALPH_ENABLE_PUBLIC_URL",
        False,
        "Also serve Ralph through Caddy at RALPH_PUBLIC_HOST, for clients outside the platform.",
        checks.boolean,
    ),
    Setting(
        "RALPH_PUBLIC_HOST",
        "lrs.{{ LMS_HOST }}",
        "Public host name of Ralph (see above).",
        checks.public_host,
    ),
    Setting(
        "RALPH_MAX_BODY_SIZE",
        # event-routing-backends' largest request: transform_tracking_logs' batch of 10,000
        # statements, at twice the ~1.2 KB of an LMS statement.
        25_000_000,
        "Largest request body, in bytes, that Caddy lets through to Ralph at RALPH_PUBLIC_HOST;"
        " a larger one gets 413 and never reaches Ralph.",
        max_body_size,
    ),
    Setting(
        "RALPH_BACKEND",
        "mongo",
        "Where Ralph stores statements: mongo (the platform's MongoDB, nothing more to run), "
        "async_mongo, clickhouse, es or async_es. Plugins may switch it.",
        backend,
    ),
    Setting(
        "RALPH_MONGODB_DATABASE",
        "ralph",
        "MongoDB database of the mongo backends, on the platform's MongoDB server (MONGODB_*).",
        checks.matching(
            MONGODB_DATABASE, "a MongoDB database name (letters, digits, _ and -, at most 63)"
        ),
    ),
    Setting(
        "RALPH_WORKERS",
        1,
        "Number of server processes in each Ralph container.",
        checks.whole_number(1),
    ),
    Setting(
        "RALPH_REPLICAS",
        1,
        "Number of Ralph pods on Kubernetes; `tutor k8s start` sets it again after a "
        "`tutor k8s scale ralph N`.",
        checks.whole_number(1),
    ),
    Setting(
        "RALPH_K8S_RESOURCES",
        {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "Kubernetes resource requests and limits of each Ralph container: cpu and memory "
        "requested, memory limited; raise them with RALPH_WORKERS.",
        checks.kubernetes_resources,
    ),
    *(
        Setting(f"{user.prefix}_USERNAME", user.username, user.description, username)
        for user in OWN_USERS
    ),
    Setting("RALPH_EXECUTION_ENVIRONMENT", "production", "Environment name reported to Sentry."),
    Setting(
        "RALPH_SENTRY_DSN", "", "Sentry DSN to report errors to; empty for none.", checks.sentry_dsn
    ),
    Setting(
        "RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE",
        0.1,
        "Share of API requests traced in Sentry.",
        sample_rate,
    ),
    Setting(
        "RALPH_SENTRY_IGNORE_HEALTH_CHECKS",
        True,
        "Leave health checks out of Sentry traces.",
        checks.boolean,
    ),
    Setting(
        "RALPH_EXTRA_SETTINGS",
        {},
        "Other Ralph settings, as environment variables (e.g. RALPH_LRS_PARTIAL_SUCCESS_DEFAULT);"
        " they override everything else.",
        extra_settings,
    ),
]

UNIQUE: list[Setting] = [
    setting
    for user in OWN_USERS
    for setting in (
        Setting(
            f"{user.prefix}_PASSWORD",
            "{{ 24|random_string }}",
            f"Password of {user.prefix}_USERNAME.",
            checks.not_empty,
        ),
        Setting(
            f"{user.prefix}_HASHED_PASSWORD",
            f"{{{{ {user.prefix}_PASSWORD|encrypt }}}}",
            f"bcrypt hash of {user.prefix}_PASSWORD in Ralph's auth file; unset it after "
            "changing the password.",
            bcrypt_hash,
        ),
    )
]


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the ralph settings, one message per offending key."""
    yield from value_errors(DEFAULTS + UNIQUE, config)
