"""Tutor plugin for Apache Superset, with single sign-on through the LMS."""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import typing as t
from importlib import resources
from pathlib import Path

import click
import jinja2
from tutor import env as tutor_env
from tutor import exceptions, hooks
from tutor.core.hooks import Filter
from tutor.types import Config

from . import hooks as superset_hooks
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
    ("SUPERSET_VERSION", __version__, "Version of this plugin."),
    ("RUN_SUPERSET", True, "Run Superset (web server, Celery worker and scheduler)."),
    (
        "DOCKER_IMAGE_SUPERSET",
        "{{ DOCKER_REGISTRY }}openedx/aspects-superset:{{ SUPERSET_VERSION }}",
        "Superset image, built by `tutor images build superset` from the official 6.1 image.",
    ),
    ("SUPERSET_HOST", "superset.{{ LMS_HOST }}", "Public host name of Superset."),
    ("SUPERSET_PORT", 8088, "Port of Superset's web server inside the platform."),
    (
        "SUPERSET_DEV_PORT",
        8088,
        "Port of this machine at which `tutor dev` serves Superset: "
        "`http://SUPERSET_HOST:SUPERSET_DEV_PORT`.",
    ),
    (
        "SUPERSET_INTERNAL_URL",
        "http://superset:{{ SUPERSET_PORT }}",
        "URL at which the other services of the platform (the LMS) reach Superset.",
    ),
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
        "SUPERSET_OAUTH2_CLIENT_ID_DEV",
        "{{ SUPERSET_OAUTH2_CLIENT_ID }}-dev",
        "OAuth2 client id of Superset in the LMS under `tutor dev` (application superset-sso-dev, "
        "with the same client secret).",
    ),
    (
        "SUPERSET_COURSE_STAFF_ROLE",
        "Course Staff",
        "Superset role of the LMS's course staff and instructors (global staff get Admin).",
    ),
    (
        "SUPERSET_GUEST_ROLE",
        "Embedded Dashboard Guest",
        "Superset role of people who see dashboards embedded in another site (such as the LMS) "
        "with a guest token; based on Gamma, plus what plugins add.",
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
    (
        "SUPERSET_GUEST_TOKEN_EXP_SECONDS",
        300,
        "Seconds a guest token (an embedded dashboard's) is valid; the embedding page asks for a "
        "new one before it expires.",
    ),
    (
        "SUPERSET_USER_COURSES_CACHE_TIMEOUT",
        300,
        "Seconds a person's course list from the LMS (row-level security) is kept before it is "
        "asked for again; signing in again refreshes it.",
    ),
    ("SUPERSET_REDIS_CACHE_DB", 3, "Redis database of Superset's cache."),
    ("SUPERSET_REDIS_CELERY_DB", 4, "Redis database of Superset's Celery queue and results."),
    ("SUPERSET_SENTRY_DSN", "", "Sentry DSN to report errors to; empty for none."),
    (
        "SUPERSET_REPLICAS",
        1,
        "Number of Superset web server pods on Kubernetes; `tutor k8s start` sets it again after "
        "a `tutor k8s scale superset N`.",
    ),
    (
        "SUPERSET_WORKER_REPLICAS",
        1,
        "Number of Superset Celery worker pods on Kubernetes (the scheduler, superset-worker-beat, "
        "always runs once).",
    ),
    (
        "SUPERSET_K8S_RESOURCES",
        {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "Kubernetes resource requests and limits of each Superset web server container (2 "
        "gunicorn workers): cpu and memory requested, memory limited.",
    ),
    (
        "SUPERSET_WORKER_K8S_RESOURCES",
        {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "Kubernetes resource requests and limits of each Superset Celery worker container (2 "
        "worker processes).",
    ),
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
    (
        "SUPERSET_LMS_USERNAME",
        "{{ 12|random_string }}",
        "Name of the Superset user of the LMS, which may only grant guest tokens (embedded "
        "dashboards).",
    ),
    ("SUPERSET_LMS_PASSWORD", "{{ 24|random_string }}", "Password of SUPERSET_LMS_USERNAME."),
    (
        "SUPERSET_GUEST_TOKEN_JWT_SECRET",
        "{{ 32|random_string }}",
        "Secret that signs guest tokens (embedded dashboards).",
    ),
]

hooks.Filters.CONFIG_DEFAULTS.add_items([(name, value) for name, value, _ in CONFIG_DEFAULTS])
hooks.Filters.CONFIG_UNIQUE.add_items([(name, value) for name, value, _ in CONFIG_UNIQUE])

IDENTIFIER = re.compile(r"^[A-Za-z0-9_]+$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
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
    """Say what is wrong with the superset settings, one message per offending key."""
    for key in ("SUPERSET_PORT", "SUPERSET_DEV_PORT", "SUPERSET_DB_PORT"):
        value = str(config[key])
        if not value.isdigit() or not 0 < int(value) < 65536:
            yield f"{key} must be a port number between 1 and 65535, not {value!r}"
    for key in (
        "SUPERSET_DB_NAME",
        "SUPERSET_DB_USERNAME",
        "SUPERSET_ADMIN_USERNAME",
        "SUPERSET_LMS_USERNAME",
    ):
        if not IDENTIFIER.match(str(config[key])):
            yield f"{key} must be letters, digits and underscores, not {config[key]!r}"
    for key in (
        "SUPERSET_SECRET_KEY",
        "SUPERSET_DB_PASSWORD",
        "SUPERSET_ADMIN_PASSWORD",
        "SUPERSET_LMS_PASSWORD",
        "SUPERSET_GUEST_TOKEN_JWT_SECRET",
    ):
        if not str(config[key] or ""):
            yield f"{key} must not be empty"
    for key in (
        "SUPERSET_ROW_LIMIT",
        "SUPERSET_USER_COURSES_CACHE_TIMEOUT",
        "SUPERSET_REDIS_CACHE_DB",
        "SUPERSET_REDIS_CELERY_DB",
    ):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < 0:
            yield f"{key} must be a whole number, not {config[key]!r}"
    for key in (
        "SUPERSET_REPLICAS",
        "SUPERSET_WORKER_REPLICAS",
        "SUPERSET_GUEST_TOKEN_EXP_SECONDS",
    ):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < 1:
            yield f"{key} must be a whole number of at least 1, not {config[key]!r}"
    for key in ("SUPERSET_K8S_RESOURCES", "SUPERSET_WORKER_K8S_RESOURCES"):
        yield from resources_errors(key, config[key])
    languages = config["SUPERSET_SUPPORTED_LANGUAGES"]
    if not isinstance(languages, dict) or config["SUPERSET_DEFAULT_LOCALE"] not in languages:
        yield (
            "SUPERSET_SUPPORTED_LANGUAGES must be a mapping that includes "
            f"SUPERSET_DEFAULT_LOCALE {config['SUPERSET_DEFAULT_LOCALE']!r}"
        )

    for dashboard, embedded_uuid, origins in rendered_embedded_dashboards(config):
        if not UUID.match(embedded_uuid):
            yield f"embedded dashboard {dashboard!r}: {embedded_uuid!r} is not a uuid"
        # Superset lets any site frame a dashboard embedded without origins.
        if not origins or not all(ORIGIN.match(origin) for origin in origins):
            yield (
                f"embedded dashboard {dashboard!r} needs origins such as https://host[:port], "
                f"not {origins!r}"
            )

    names = asset_bundle_names()
    for name in sorted({name for name in names if names.count(name) > 1}):
        yield f"two asset bundles contributed by plugins are both named {name!r}"
    yield from value_errors(config)


# What docker compose, pip, MySQL, Redis and superset_config.py (where values sit inside
# Python strings) accept for the values checked below.
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
# A public host follows LMS_HOST, which may carry a port.
PUBLIC_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\"'\\]*)?$")
URL_PATH = re.compile(r"^/[^\s\"'\\]*$")
EMAIL = re.compile(r"^[^@\s\"'\\]+@[^@\s\"'\\]+$")
ROLE = re.compile(r"^[^\"\\\n]{1,64}$")
SENTRY_DSN = re.compile(r"^https?://[^@/\s\"]+@[^/\s\"]+/[^\s\"]*[0-9]+$")
# Each requirement goes inside '' on the Dockerfile's pip command line.
REQUIREMENT = re.compile(r"^[^'\\\n]*[^'\\\s][^'\\\n]*$")
# Superset's own roles, which the init job does not own.
BUILTIN_ROLES = ("Admin", "Alpha", "Gamma", "Public", "sql_lab")


def value_errors(config: Config) -> t.Iterator[str]:
    """Values that would stop a deployment: host names, URLs, roles, images, requirements."""
    if not isinstance(config["RUN_SUPERSET"], bool):
        yield f"RUN_SUPERSET must be true or false, not {config['RUN_SUPERSET']!r}"
    if not PUBLIC_HOST.match(str(config["SUPERSET_HOST"])):
        host = config["SUPERSET_HOST"]
        yield f"SUPERSET_HOST must be a host name, without scheme or path, not {host!r}"
    if not HOST.match(str(config["SUPERSET_DB_HOST"])):
        host = config["SUPERSET_DB_HOST"]
        yield f"SUPERSET_DB_HOST must be a host name, without scheme, port or path, not {host!r}"
    for key in ("SUPERSET_INTERNAL_URL", "SUPERSET_LMS_INTERNAL_URL"):
        if not URL.match(str(config[key])):
            yield f"{key} must be a URL such as http://host:port, not {config[key]!r}"
    for key in ("SUPERSET_OAUTH2_AUTHORIZE_PATH", "SUPERSET_OAUTH2_ACCESS_TOKEN_PATH"):
        if not URL_PATH.match(str(config[key])):
            yield f"{key} must be a path that starts with /, not {config[key]!r}"
    if not EMAIL.match(str(config["SUPERSET_ADMIN_EMAIL"])):
        email = config["SUPERSET_ADMIN_EMAIL"]
        yield f"SUPERSET_ADMIN_EMAIL must be an email address, not {email!r}"
    roles = {key: config[key] for key in ("SUPERSET_COURSE_STAFF_ROLE", "SUPERSET_GUEST_ROLE")}
    for key, role in roles.items():
        if not isinstance(role, str) or not ROLE.match(role) or not role.strip():
            yield f"{key} must be a role name of 1 to 64 characters, without quotes, not {role!r}"
        elif role in BUILTIN_ROLES:
            yield f"{key} must not be Superset's own role {role!r}: the init job would change it"
    if len(set(map(str, roles.values()))) < len(roles):
        yield "SUPERSET_COURSE_STAFF_ROLE and SUPERSET_GUEST_ROLE must be different roles"
    for key in ("SUPERSET_REDIS_CACHE_DB", "SUPERSET_REDIS_CELERY_DB"):
        value = config[key]
        if isinstance(value, int) and not isinstance(value, bool) and value > 15:
            yield f"{key} must be a Redis database from 0 to 15, not {value!r}"
    languages = config["SUPERSET_SUPPORTED_LANGUAGES"]
    for code, language in languages.items() if isinstance(languages, dict) else ():
        if not isinstance(language, dict) or not {"flag", "name"} <= set(language):
            yield (
                f"SUPERSET_SUPPORTED_LANGUAGES: {code!r} must map to a flag and a name, "
                f"not {language!r}"
            )
    if not IMAGE.match(str(config["DOCKER_IMAGE_SUPERSET"])):
        yield (
            "DOCKER_IMAGE_SUPERSET must be an image name such as registry/name:tag, "
            f"not {config['DOCKER_IMAGE_SUPERSET']!r}"
        )
    dsn = config["SUPERSET_SENTRY_DSN"]
    if dsn not in ("", None) and not SENTRY_DSN.match(str(dsn)):
        yield f"SUPERSET_SENTRY_DSN must be empty or a DSN such as https://key@host/1, not {dsn!r}"
    requirements = config["SUPERSET_EXTRA_REQUIREMENTS"]
    if not isinstance(requirements, list) or not all(
        isinstance(r, str) and REQUIREMENT.match(r) for r in requirements
    ):
        yield (
            "SUPERSET_EXTRA_REQUIREMENTS must be a list of pip requirements without quotes, "
            f"not {requirements!r}"
        )
    for key in (
        "SUPERSET_OAUTH2_CLIENT_ID",
        "SUPERSET_OAUTH2_CLIENT_ID_DEV",
        "SUPERSET_OAUTH2_CLIENT_SECRET",
    ):
        if not str(config[key] or ""):
            yield f"{key} must not be empty"
    # Two applications of the LMS cannot share a client id.
    if str(config["SUPERSET_OAUTH2_CLIENT_ID_DEV"]) == str(config["SUPERSET_OAUTH2_CLIENT_ID"]):
        yield "SUPERSET_OAUTH2_CLIENT_ID_DEV must differ from SUPERSET_OAUTH2_CLIENT_ID"


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
            "Invalid Superset configuration (config.yml is left as it was):\n- "
            + "\n- ".join(errors)
        )


########################################
# INITIALIZATION TASKS
########################################

PACKAGE = resources.files("tutorsuperset")
INIT = PACKAGE / "templates" / "superset" / "jobs" / "init"
ASSETS_TARGET = "plugins/superset/build/superset/assets"
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


########################################
# DO COMMANDS
########################################


@click.command(name="import-assets")
def import_assets() -> t.Iterator[tuple[str, str]]:
    """
    Apply again what plugins contribute to Superset: roles, the LMS user, database connections,
    asset bundles, embedded dashboards and row-level security filters. Objects are updated in
    place, never duplicated.
    """
    # Database URIs reach superset_sync through the job's environment: the script holds none.
    yield (
        "superset",
        'echo "Applying the roles, the LMS user, database connections, asset bundles, embedded '
        'dashboards and row-level security filters of plugins"\n'
        "python -m superset_sync\n"
        'echo "Superset assets imported."',
    )


@click.command(name="time-charts")
@click.option("--dashboard", multiple=True, help="Only this dashboard (its slug; repeatable).")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True)
def time_charts(dashboard: tuple[str, ...], runs: int) -> t.Iterator[tuple[str, str]]:
    """
    Time the queries of the dashboards' charts as Superset runs them, cache bypassed: median and
    95th percentile per chart and per dashboard, to measure a deployment's own data.
    """
    options = "".join(f" --dashboard {shlex.quote(slug)}" for slug in dashboard)
    yield (
        "superset",
        f"python -m chart_timing --runs {runs}{options}",
    )


hooks.Filters.CLI_DO_COMMANDS.add_items([import_assets, time_charts])


def rendered_items(
    items: Filter[t.Any, t.Any], verbatim: tuple[int, ...] = (), with_config: bool = False
) -> t.Callable[..., t.Iterator[t.Any]]:
    """
    A template variable that yields a filter's items with their strings rendered as Tutor
    templates, except the tuple positions in `verbatim` (Superset's own Jinja); `with_config`:
    the filter's callbacks get the configuration.
    """

    @jinja2.pass_context
    def variable(context: jinja2.runtime.Context) -> t.Iterator[t.Any]:
        def render(value: t.Any) -> t.Any:
            if isinstance(value, str):
                return compiled(context.environment, value).render(context.get_all())
            if isinstance(value, (list, tuple)):
                return [render(part) for part in value]
            return value

        for item in items.iterate(*([context.get_all()] if with_config else [])):
            if isinstance(item, tuple):
                yield [part if i in verbatim else render(part) for i, part in enumerate(item)]
            else:
                yield render(item)

    return variable


########################################
# EXTENSIONS OF OUR OWN
########################################

# Course staff see what Gamma sees (dashboards and charts they are granted), no more.
superset_hooks.ROLES.add_item(("{{ SUPERSET_COURSE_STAFF_ROLE }}", "Gamma", []))
# Guests of embedded dashboards too; their token alone says which dashboards, and through
# them which data (no datasource access of their own).
superset_hooks.ROLES.add_item(("{{ SUPERSET_GUEST_ROLE }}", "Gamma", []))
# The LMS's user may ask for guest tokens (with a CSRF token, as API writes need), no more.
LMS_ROLE = "Open edX LMS"
superset_hooks.ROLES.add_item(
    (
        LMS_ROLE,
        "",
        [("can_grant_guest_token", "SecurityRestApi"), ("can_read", "SecurityRestApi")],
    )
)


def rendered_embedded_dashboards(config: Config) -> list[tuple[str, str, list[str]]]:
    """The contributed embedded dashboards, rendered with `config` (to check them)."""

    # One renderer for all: tutor_env.render_str would copy the configuration for each value.
    render = tutor_env.Renderer(config).render_str

    items = [
        (render(dashboard), render(embedded_uuid), [render(origin) for origin in origins])
        for dashboard, embedded_uuid, origins in superset_hooks.EMBEDDED_DASHBOARDS.iterate(config)
    ]
    return [item for item in items if item[0]]


# An item whose dashboard renders empty is left out (a setting leaves that dashboard out).
_embedded_dashboards = rendered_items(superset_hooks.EMBEDDED_DASHBOARDS, with_config=True)


@jinja2.pass_context
def embedded_dashboards_variable(context: jinja2.runtime.Context) -> list[list[t.Any]]:
    return [item for item in _embedded_dashboards(context) if item[0]]


def asset_bundle_names() -> list[str]:
    return [Path(directory).name for directory in superset_hooks.ASSETS.iterate()]


# Each contributed bundle is rendered into the image's build context, under its own name.
@hooks.Filters.ENV_TEMPLATE_ROOTS.add()
def _asset_template_roots(roots: list[str]) -> list[str]:
    return roots + [str(Path(directory).parent) for directory in superset_hooks.ASSETS.iterate()]


# Tutor renders every template whose path starts with a target, from any plugin's templates: a
# target per entry of the bundle (folders ending with "/"), not the bundle's name alone, keeps
# the templates of a plugin named like its bundle (aspects' job secrets) out of the image.
@hooks.Filters.ENV_TEMPLATE_TARGETS.add()
def _asset_template_targets(targets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return targets + [
        (f"{Path(directory).name}/{entry.name}" + ("/" if entry.is_dir() else ""), ASSETS_TARGET)
        for directory in superset_hooks.ASSETS.iterate()
        for entry in sorted(Path(directory).iterdir())
    ]


@hooks.Actions.ENV_SAVED.add()
def _remove_stale_asset_files(root_env: str, _config: Config) -> None:
    """Files that earlier renderings left in a bundle's folder and that the bundle lacks."""
    for directory in superset_hooks.ASSETS.iterate():
        source, rendered = Path(directory), Path(root_env, ASSETS_TARGET, Path(directory).name)
        wanted = {path.relative_to(source) for path in source.rglob("*")}
        for path in sorted(rendered.rglob("*"), reverse=True):  # deepest first
            if path.relative_to(rendered) not in wanted:
                shutil.rmtree(path) if path.is_dir() else path.unlink()


########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_BUILD.add_item(
    ("superset", ("plugins", "superset", "build", "superset"), "{{ DOCKER_IMAGE_SUPERSET }}", ())
)
hooks.Filters.IMAGES_PULL.add_item(("superset", "{{ DOCKER_IMAGE_SUPERSET }}"))
hooks.Filters.IMAGES_PUSH.add_item(("superset", "{{ DOCKER_IMAGE_SUPERSET }}"))

########################################
# PUBLIC HOSTS
########################################


@hooks.Filters.APP_PUBLIC_HOSTS.add()
def _superset_public_host(hosts: list[str], context_name: t.Literal["local", "dev"]) -> list[str]:
    # `tutor local launch` lists it with the platform's URLs, where Caddy serves it; `tutor dev
    # launch` at the port it publishes.
    if context_name == "local":
        hosts.append("{{ SUPERSET_HOST }}")
    else:
        hosts.append("{{ SUPERSET_HOST }}:{{ SUPERSET_DEV_PORT }}")
    return hosts


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
# Superset's pythonpath: plain modules (configuration, sign-in, query guard, init sync), copied
# as they are, and the files that Tutor renders from the settings (tutor_settings.json, what
# plugins contribute). Shipped to Kubernetes pods in one ConfigMap, each mounted over the
# image's folder.
PLAIN_PYTHONPATH = PACKAGE / "pythonpath"
PYTHONPATH_TARGET = "plugins/superset/apps/pythonpath"
PLAIN_MODULES = sorted(
    module.name for module in PLAIN_PYTHONPATH.iterdir() if module.suffix == ".py"
)
PYTHONPATH_MODULES = sorted(
    PLAIN_MODULES
    + [
        module.name
        for module in (PACKAGE / "templates" / "superset" / "apps" / "pythonpath").iterdir()
    ]
)


@hooks.Actions.ENV_SAVED.add()
def _copy_plain_modules(root_env: str, _config: Config) -> None:
    target = Path(root_env, PYTHONPATH_TARGET)
    target.mkdir(parents=True, exist_ok=True)
    for name in PLAIN_MODULES:
        (target / name).write_bytes((PLAIN_PYTHONPATH / name).read_bytes())


hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("superset_pythonpath_modules", PYTHONPATH_MODULES),
        ("superset_python_requirements", superset_hooks.PYTHON_REQUIREMENTS.iterate),
        ("superset_extra_config", rendered_items(superset_hooks.EXTRA_CONFIG)),
        ("superset_jinja_macros", rendered_items(superset_hooks.JINJA_MACROS)),
        ("superset_roles", rendered_items(superset_hooks.ROLES)),
        ("superset_databases", rendered_items(superset_hooks.DATABASES)),
        ("superset_asset_bundles", asset_bundle_names),
        ("superset_rls_filters", rendered_items(superset_hooks.RLS_FILTERS, verbatim=(3,))),
        ("superset_init_commands", rendered_items(superset_hooks.INIT_COMMANDS)),
        ("superset_embedded_dashboards", embedded_dashboards_variable),
        ("superset_lms_role", LMS_ROLE),
    ]
)

# Rendered files holding secrets that only docker compose and kubectl read on this machine:
# readable by their owner only. So are the compose files, where services have passwords in
# their environment (the superset job, Tutor's own services) exactly as configured: an env_file
# would read $, # and quotes in a value as syntax. The files mounted into Superset's containers
# (pythonpath) hold none.
SECRET_FILES = (
    "plugins/superset/apps/superset.env",
    "plugins/superset/kustomization.yml",
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
