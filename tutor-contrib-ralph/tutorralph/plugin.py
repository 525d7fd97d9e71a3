"""Tutor plugin that runs the Ralph learning record store (LRS)."""

from __future__ import annotations

import functools
import json
import re
import typing as t
import urllib.parse
from importlib import resources
from pathlib import Path

import jinja2
from tutor import exceptions, hooks
from tutor.types import Config

from . import hooks as ralph_hooks
from .__about__ import __version__


@functools.cache
def compiled(environment: jinja2.Environment, text: str) -> jinja2.Template:
    """A value compiled once per rendering: several templates render the same values."""
    return environment.from_string(text)


########################################
# CONFIGURATION
########################################

# Each setting: (name, default, what it is for). docs/configuration.md is generated from these.
CONFIG_DEFAULTS: list[tuple[str, t.Any, str]] = [
    ("RALPH_VERSION", __version__, "Version of this plugin."),
    ("RUN_RALPH", True, "Run Ralph in a container; false to use a Ralph server run elsewhere."),
    (
        "DOCKER_IMAGE_RALPH",
        # Tags: https://hub.docker.com/r/fundocker/ralph/tags
        "docker.io/fundocker/ralph:5.1.0",
        "Image of Ralph, also used by its init job.",
    ),
    ("RALPH_HOST", "ralph", "Host name at which other services reach Ralph."),
    ("RALPH_PORT", 8100, "Port of Ralph's HTTP API."),
    ("RALPH_RUN_HTTPS", False, "Reach Ralph over HTTPS (a Ralph server run elsewhere)."),
    (
        "RALPH_ENABLE_PUBLIC_URL",
        False,
        "Also serve Ralph through Caddy at RALPH_PUBLIC_HOST, for clients outside the platform.",
    ),
    ("RALPH_PUBLIC_HOST", "lrs.{{ LMS_HOST }}", "Public host name of Ralph (see above)."),
    (
        "RALPH_MAX_BODY_SIZE",
        # event-routing-backends' largest request: transform_tracking_logs' batch of 10,000
        # statements, at twice the ~1.2 KB of an LMS statement.
        25_000_000,
        "Largest request body, in bytes, that Caddy lets through to Ralph at RALPH_PUBLIC_HOST;"
        " a larger one gets 413 and never reaches Ralph.",
    ),
    (
        "RALPH_BACKEND",
        "mongo",
        "Where Ralph stores statements: mongo (the platform's MongoDB, nothing more to run), "
        "async_mongo, clickhouse, es or async_es. Plugins may switch it.",
    ),
    (
        "RALPH_MONGODB_DATABASE",
        "ralph",
        "MongoDB database of the mongo backends, on the platform's MongoDB server (MONGODB_*).",
    ),
    ("RALPH_WORKERS", 1, "Number of server processes in each Ralph container."),
    (
        "RALPH_REPLICAS",
        1,
        "Number of Ralph pods on Kubernetes; `tutor k8s start` sets it again after a "
        "`tutor k8s scale ralph N`.",
    ),
    (
        "RALPH_K8S_RESOURCES",
        {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "Kubernetes resource requests and limits of each Ralph container: cpu and memory "
        "requested, memory limited; raise them with RALPH_WORKERS.",
    ),
    ("RALPH_ADMIN_USERNAME", "ralph", "Ralph user with every scope, for operators."),
    (
        "RALPH_LMS_USERNAME",
        "lms",
        "Ralph user that the LMS sends statements with (write, and read its own).",
    ),
    ("RALPH_EXECUTION_ENVIRONMENT", "production", "Environment name reported to Sentry."),
    ("RALPH_SENTRY_DSN", "", "Sentry DSN to report errors to; empty for none."),
    ("RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE", 0.1, "Share of API requests traced in Sentry."),
    ("RALPH_SENTRY_IGNORE_HEALTH_CHECKS", True, "Leave health checks out of Sentry traces."),
    (
        "RALPH_EXTRA_SETTINGS",
        {},
        "Other Ralph settings, as environment variables (e.g. RALPH_LRS_PARTIAL_SUCCESS_DEFAULT);"
        " they override everything else.",
    ),
]

CONFIG_UNIQUE: list[tuple[str, t.Any, str]] = [
    ("RALPH_ADMIN_PASSWORD", "{{ 24|random_string }}", "Password of RALPH_ADMIN_USERNAME."),
    (
        "RALPH_ADMIN_HASHED_PASSWORD",
        "{{ RALPH_ADMIN_PASSWORD|encrypt }}",
        "bcrypt hash of RALPH_ADMIN_PASSWORD in Ralph's auth file; unset it after changing "
        "the password.",
    ),
    ("RALPH_LMS_PASSWORD", "{{ 24|random_string }}", "Password of RALPH_LMS_USERNAME."),
    (
        "RALPH_LMS_HASHED_PASSWORD",
        "{{ RALPH_LMS_PASSWORD|encrypt }}",
        "bcrypt hash of RALPH_LMS_PASSWORD in Ralph's auth file; unset it after changing "
        "the password.",
    ),
]

hooks.Filters.CONFIG_DEFAULTS.add_items([(name, value) for name, value, _ in CONFIG_DEFAULTS])
hooks.Filters.CONFIG_UNIQUE.add_items([(name, value) for name, value, _ in CONFIG_UNIQUE])

BACKENDS = ("mongo", "async_mongo", "clickhouse", "es", "async_es")
MONGO_BACKENDS = ("mongo", "async_mongo")
SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
# Kubernetes quantities: cpu in cores or millicores (500m); memory and storage in bytes with an
# optional suffix (512Mi, 4Gi). "512m" of memory would be thousandths of a byte: refused.
CORES = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
BYTES = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE]|)$")
QUANTITY = {"cpu": CORES, "memory": BYTES, "ephemeral-storage": BYTES}
UNITS = {"": 1, "m": 1e-3, **{u: 1000.0 ** (i + 1) for i, u in enumerate("kMGTPE")}}
UNITS.update({f"{u}i": 1024.0 ** (i + 1) for i, u in enumerate("KMGTPE")})


def quantity(resource: str, value: t.Any) -> float:
    """What a Kubernetes quantity of `resource` amounts to; 0 if it is not one."""
    match = not isinstance(value, bool) and QUANTITY[resource].match(str(value))
    return float(match[1]) * UNITS[match[2]] if match else 0


def resources_errors(key: str, value: t.Any) -> t.Iterator[str]:
    """What is wrong with Kubernetes resources: cpu and memory requested, memory limited."""
    parts = value if isinstance(value, dict) else {}
    if set(parts) != {"requests", "limits"} or not all(isinstance(p, dict) for p in parts.values()):
        yield f"{key} must be a mapping of requests and limits (cpu, memory), not {value!r}"
        return
    for part, needed in (("requests", {"cpu", "memory"}), ("limits", {"memory"})):
        for resource in sorted(needed - set(parts[part])):
            yield f"{key} must set {part}.{resource}"
        for resource, amount in parts[part].items():
            if resource not in QUANTITY:
                yield f"{key}: {part}.{resource} is not one of {', '.join(QUANTITY)}"
            elif not quantity(resource, amount):
                unit = "cores or millicores (500m)" if resource == "cpu" else "bytes (512Mi, 4Gi)"
                yield f"{key}: {part}.{resource} must be a number of {unit} above 0, not {amount!r}"
    for resource, limit in parts["limits"].items():
        request = parts["requests"].get(resource)
        if resource in QUANTITY and 0 < quantity(resource, limit) < quantity(resource, request):
            yield f"{key}: requests.{resource} {request} is above limits.{resource} {limit}"


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the ralph settings, one message per offending key."""
    port = str(config["RALPH_PORT"])
    if not port.isdigit() or not 0 < int(port) < 65536:
        yield f"RALPH_PORT must be a port number between 1 and 65535, not {port!r}"
    for key in ("RALPH_WORKERS", "RALPH_REPLICAS"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            yield f"{key} must be a whole number of at least 1, not {config[key]!r}"
    for key in ("RUN_RALPH", "RALPH_RUN_HTTPS", "RALPH_ENABLE_PUBLIC_URL"):
        if not isinstance(config[key], bool):
            yield f"{key} must be true or false, not {config[key]!r}"
    if config["RALPH_BACKEND"] == "fs":
        # Ralph 5's fs backend creates its file once and refuses to write it again.
        yield "RALPH_BACKEND cannot be fs: Ralph's fs backend stores only the first statements sent"
    elif config["RALPH_BACKEND"] not in BACKENDS:
        yield f"RALPH_BACKEND must be one of {', '.join(BACKENDS)}, not {config['RALPH_BACKEND']!r}"
    for role in ("ADMIN", "LMS"):
        username = str(config[f"RALPH_{role}_USERNAME"] or "")
        if not username or ":" in username:
            yield f"RALPH_{role}_USERNAME must be a non-empty name without ':', not {username!r}"
        if not str(config[f"RALPH_{role}_PASSWORD"] or ""):
            yield f"RALPH_{role}_PASSWORD must not be empty"
        if not BCRYPT_HASH.match(str(config[f"RALPH_{role}_HASHED_PASSWORD"])):
            yield (
                f"RALPH_{role}_HASHED_PASSWORD must be a bcrypt hash; unset it to generate it "
                f"from RALPH_{role}_PASSWORD"
            )
    yield from resources_errors("RALPH_K8S_RESOURCES", config["RALPH_K8S_RESOURCES"])
    extra = config["RALPH_EXTRA_SETTINGS"]
    if not isinstance(extra, dict):
        yield f"RALPH_EXTRA_SETTINGS must be a mapping of settings, not {extra!r}"
    else:
        for name in extra:
            if not SETTING_NAME.match(str(name)):
                yield f"RALPH_EXTRA_SETTINGS: {name!r} is not an environment variable name"
    if not HOST.match(str(config["RALPH_HOST"])):
        host = config["RALPH_HOST"]
        yield f"RALPH_HOST must be a host name, without scheme, port or path, not {host!r}"
    if not PUBLIC_HOST.match(str(config["RALPH_PUBLIC_HOST"])):
        host = config["RALPH_PUBLIC_HOST"]
        yield f"RALPH_PUBLIC_HOST must be a host name, without scheme or path, not {host!r}"
    if not IMAGE.match(str(config["DOCKER_IMAGE_RALPH"])):
        yield (
            "DOCKER_IMAGE_RALPH must be an image name such as registry/name:tag, "
            f"not {config['DOCKER_IMAGE_RALPH']!r}"
        )
    if not isinstance(config["RALPH_SENTRY_IGNORE_HEALTH_CHECKS"], bool):
        yield (
            "RALPH_SENTRY_IGNORE_HEALTH_CHECKS must be true or false, "
            f"not {config['RALPH_SENTRY_IGNORE_HEALTH_CHECKS']!r}"
        )
    rate = config["RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        yield f"RALPH_SENTRY_LRS_TRACES_SAMPLE_RATE must be a number from 0 to 1, not {rate!r}"
    dsn = config["RALPH_SENTRY_DSN"]
    if dsn not in ("", None) and not SENTRY_DSN.match(str(dsn)):
        # Ralph hands it to sentry_sdk at start-up, which stops on a malformed DSN.
        yield f"RALPH_SENTRY_DSN must be empty or a DSN such as https://key@host/1, not {dsn!r}"
    database = str(config["RALPH_MONGODB_DATABASE"])
    if not MONGODB_DATABASE.match(database):
        yield (
            "RALPH_MONGODB_DATABASE must be a MongoDB database name (letters, digits, _ and -, "
            f"at most 63), not {database!r}"
        )
    size = config["RALPH_MAX_BODY_SIZE"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        yield f"RALPH_MAX_BODY_SIZE must be a number of bytes, such as 25000000, not {size!r}"


# What docker compose, Caddy, sentry_sdk and MongoDB accept for the values checked above.
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
# A public host follows LMS_HOST, which may carry a port.
PUBLIC_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
SENTRY_DSN = re.compile(r"^https?://[^@/\s]+@[^/\s]+/[^\s]*[0-9]+$")
MONGODB_DATABASE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")

# config.yml as this command found it: `tutor config save` writes the new values before
# plugins check them, and a refused value must not stay there.
_found_config: list[tuple[Path, bytes]] = []


@hooks.Actions.PROJECT_ROOT_READY.add(priority=hooks.priorities.LOW)
def _remember_config(root: str) -> None:
    path = Path(root) / "config.yml"
    if path.is_file():
        _found_config[:] = [(path, path.read_bytes())]


@hooks.Actions.CONFIG_LOADED.add()
def _check_config(config: Config) -> None:
    if errors := list(config_errors(config)):
        for path, text in _found_config:
            path.write_bytes(text)
        raise exceptions.TutorError(
            "Invalid Ralph configuration (config.yml is left as it was):\n- " + "\n- ".join(errors)
        )


# Ralph's public host while Caddy serves one, for `tutor local launch`'s list of URLs (which
# runs after the configuration is loaded). Caddy does not serve it under `tutor dev`.
_public_hosts: list[str] = []


@hooks.Actions.CONFIG_LOADED.add()
def _remember_public_host(config: Config) -> None:
    served = config["RUN_RALPH"] and config["RALPH_ENABLE_PUBLIC_URL"]
    _public_hosts[:] = ["{{ RALPH_PUBLIC_HOST }}"] if served else []


@hooks.Filters.APP_PUBLIC_HOSTS.add()
def _ralph_public_host(hosts: list[str], context_name: str) -> list[str]:
    return hosts + _public_hosts if context_name == "local" else hosts


# Path inside the Ralph container; the compose and Kubernetes mounts put the file there.
AUTH_FILE = "/etc/ralph/auth.json"

BACKEND_SETTING = "RALPH_RUNSERVER_BACKEND"
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


LMS_URL = "{% if ENABLE_HTTPS %}https{% else %}http{% endif %}://{{ LMS_HOST }}"
DEFAULT_USERS = [
    {
        "username": "{{ RALPH_ADMIN_USERNAME }}",
        "hash": "{{ RALPH_ADMIN_HASHED_PASSWORD }}",
        "scopes": ["all"],
        "agent": {"account": {"homePage": LMS_URL, "name": "{{ RALPH_ADMIN_USERNAME }}"}},
    },
    {
        "username": "{{ RALPH_LMS_USERNAME }}",
        "hash": "{{ RALPH_LMS_HASHED_PASSWORD }}",
        "scopes": ["statements/write", "statements/read/mine"],
        "agent": {"account": {"homePage": LMS_URL, "name": "{{ RALPH_LMS_USERNAME }}"}},
    },
]


def render(context: jinja2.runtime.Context, value: t.Any) -> t.Any:
    """Render the strings of a (nested) value as Tutor templates."""
    if isinstance(value, str):
        return compiled(context.environment, value).render(context.get_all())
    if isinstance(value, list):
        return [render(context, item) for item in value]
    if isinstance(value, dict):
        return {key: render(context, item) for key, item in value.items()}
    return value


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


@jinja2.pass_context
def ralph_users(context: jinja2.runtime.Context) -> str:
    """Ralph's auth file: its own two users, then the users other plugins add."""
    users = render(context, [*DEFAULT_USERS, *ralph_hooks.USERS.iterate()])
    return json.dumps(users, indent=2)


########################################
# INITIALIZATION TASKS
########################################

# After the ClickHouse schema (created at DEFAULT priority by the plugins that need it), since
# Ralph's ClickHouse backend needs its table, and before Superset and the LMS.
INIT_PRIORITY = hooks.priorities.DEFAULT + 10

PACKAGE = resources.files("tutorralph")
INIT_SCRIPT = PACKAGE / "templates" / "ralph" / "jobs" / "init" / "ralph.sh"
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("ralph", INIT_SCRIPT.read_text(encoding="utf-8")), priority=INIT_PRIORITY
)

########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_PULL.add_item(("ralph", "{{ DOCKER_IMAGE_RALPH }}"))

########################################
# TEMPLATE RENDERING
########################################

hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(PACKAGE / "templates"))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_items(
    [
        ("ralph/apps", "plugins"),
        ("ralph/kustomization.yml", "plugins"),
    ]
)
# Jinja's urlencode keeps "/", which ends the user info of a URL.
hooks.Filters.ENV_TEMPLATE_FILTERS.add_item(
    ("ralph_url_quote", lambda value: urllib.parse.quote(str(value), safe=""))
)
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("ralph_settings", ralph_settings),
        ("ralph_users", ralph_users),
        ("ralph_auth_file", AUTH_FILE),
    ]
)

# Rendered files holding passwords that only docker compose and kubectl read on this machine:
# readable by their owner only. So are the compose files, where services have passwords in
# their environment (the ralph job, Tutor's own services) exactly as configured: an env_file
# would read $, # and quotes in a value as syntax. auth.json, mounted into Ralph's container,
# keeps Tutor's mode: it holds only bcrypt hashes.
SECRET_FILES = (
    "plugins/ralph/apps/ralph.env",
    "plugins/ralph/kustomization.yml",
    "local/docker-compose.yml",
    "local/docker-compose.jobs.yml",
)


@hooks.Actions.ENV_SAVED.add()
def _make_secret_files_private(root_env: str, _config: Config) -> None:
    for name in SECRET_FILES:
        (Path(root_env) / name).chmod(0o600)


########################################
# PATCH LOADING
########################################

for patch in (PACKAGE / "patches").iterdir():
    hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text(encoding="utf-8")))
