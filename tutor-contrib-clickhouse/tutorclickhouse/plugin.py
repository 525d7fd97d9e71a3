"""Tutor plugin that runs ClickHouse (or connects to an external server) for other plugins."""

from __future__ import annotations

import functools
import hashlib
import re
import shlex
import typing as t
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import jinja2
from tutor import exceptions, hooks
from tutor.types import Config

from . import hooks as clickhouse_hooks
from .__about__ import __version__
from .settings_checks import ConfigGuard, quantity, resources_errors


@functools.cache
def compiled(environment: jinja2.Environment, text: str) -> jinja2.Template:
    """A value compiled once per rendering: several templates render the same values."""
    return environment.from_string(text)


########################################
# CONFIGURATION
########################################

# Each setting: (name, default, what it is for). docs/configuration.md is generated from these.
CONFIG_DEFAULTS: list[tuple[str, t.Any, str]] = [
    ("CLICKHOUSE_VERSION", __version__, "Version of this plugin."),
    (
        "RUN_CLICKHOUSE",
        True,
        "Run ClickHouse in a container; false to use an external server or ClickHouse Cloud "
        "at CLICKHOUSE_HOST.",
    ),
    (
        "DOCKER_IMAGE_CLICKHOUSE",
        # Current LTS line; tags: https://hub.docker.com/r/clickhouse/clickhouse-server/tags
        "docker.io/clickhouse/clickhouse-server:26.8",
        "Image of the ClickHouse server, also used by the init job (it needs sh and GNU wget).",
    ),
    ("CLICKHOUSE_HOST", "clickhouse", "Host name of the ClickHouse server."),
    ("CLICKHOUSE_HTTP_PORT", 8123, "Port of ClickHouse's HTTP interface."),
    (
        "CLICKHOUSE_HTTPS_PORT",
        8443,
        "Port of ClickHouse's HTTPS interface, used when CLICKHOUSE_SECURE_CONNECTION is true.",
    ),
    (
        "CLICKHOUSE_SECURE_CONNECTION",
        False,
        "Talk to an external server over HTTPS, verifying its certificate.",
    ),
    (
        "CLICKHOUSE_PORT",
        "{% if CLICKHOUSE_SECURE_CONNECTION %}{{ CLICKHOUSE_HTTPS_PORT }}"
        "{% else %}{{ CLICKHOUSE_HTTP_PORT }}{% endif %}",
        "The HTTP(S) port that clients use, derived from the settings above.",
    ),
    (
        "CLICKHOUSE_ADMIN_USER",
        "ch_admin",
        "ClickHouse user that manages access (creates the other plugins' users); "
        "nothing else should use it.",
    ),
    (
        "CLICKHOUSE_CLUSTER_NAME",
        "",
        "Name of the ClickHouse cluster; empty for a single server. When set, plugins create "
        "their objects ON CLUSTER with replicated engines.",
    ),
    (
        "CLICKHOUSE_EXTRA_XML_CONFIG",
        "",
        "XML inserted in the server configuration (config.d), e.g. cluster or storage settings.",
    ),
    (
        "CLICKHOUSE_EXTRA_USERS_XML_CONFIG",
        "",
        "XML inserted in the users configuration (users.d), e.g. settings profiles.",
    ),
    (
        "CLICKHOUSE_DOCKER_MEMORY_LIMIT",
        "",
        'Memory limit of the docker compose container, e.g. "4g"; empty for none.',
    ),
    (
        "CLICKHOUSE_K8S_VOLUME_SIZE",
        "10Gi",
        "Size of the Kubernetes data volume (PersistentVolumeClaim), in bytes such as 10Gi; "
        "about 70 million statements with their models fit in 10Gi.",
    ),
    (
        "CLICKHOUSE_K8S_RESOURCES",
        {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "Kubernetes resource requests and limits of the ClickHouse container: cpu and memory "
        "requested, memory limited (ClickHouse keeps its own use under 90% of the limit).",
    ),
]

CONFIG_UNIQUE: list[tuple[str, t.Any, str]] = [
    (
        "CLICKHOUSE_ADMIN_PASSWORD",
        "{{ 24|random_string }}",
        "Password of CLICKHOUSE_ADMIN_USER; the server stores only its SHA-256 digest.",
    ),
]

hooks.Filters.CONFIG_DEFAULTS.add_items([(name, value) for name, value, _ in CONFIG_DEFAULTS])
hooks.Filters.CONFIG_UNIQUE.add_items([(name, value) for name, value, _ in CONFIG_UNIQUE])

# ClickHouse names users by XML element names in users.d: keep them simple identifiers.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PORT_KEYS = ("CLICKHOUSE_HTTP_PORT", "CLICKHOUSE_HTTPS_PORT", "CLICKHOUSE_PORT")
BOOLEAN_KEYS = ("RUN_CLICKHOUSE", "CLICKHOUSE_SECURE_CONNECTION")


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the clickhouse settings, one message per offending key."""
    for key in PORT_KEYS:
        value = str(config[key])
        if not value.isdigit() or not 0 < int(value) < 65536:
            yield f"{key} must be a port number between 1 and 65535, not {value!r}"
    for key in BOOLEAN_KEYS:
        if not isinstance(config[key], bool):
            yield f"{key} must be true or false, not {config[key]!r}"
    if not str(config["CLICKHOUSE_HOST"]).strip():
        yield "CLICKHOUSE_HOST must name the ClickHouse server; it is empty"
    if not IDENTIFIER.match(str(config["CLICKHOUSE_ADMIN_USER"])):
        yield (
            "CLICKHOUSE_ADMIN_USER must be letters, digits and underscores, not "
            f"{config['CLICKHOUSE_ADMIN_USER']!r}"
        )
    if config["RUN_CLICKHOUSE"] is True and config["CLICKHOUSE_ADMIN_USER"] == "default":
        yield (
            "CLICKHOUSE_ADMIN_USER must not be 'default' when RUN_CLICKHOUSE is true: "
            "the container removes that user"
        )
    if not str(config["CLICKHOUSE_ADMIN_PASSWORD"] or ""):
        yield "CLICKHOUSE_ADMIN_PASSWORD must not be empty"
    if config["RUN_CLICKHOUSE"] is True and config["CLICKHOUSE_SECURE_CONNECTION"] is True:
        yield (
            "CLICKHOUSE_SECURE_CONNECTION is for an external server (RUN_CLICKHOUSE: false); "
            "the ClickHouse container serves plain HTTP inside Tutor's network"
        )
    yield from resources_errors("CLICKHOUSE_K8S_RESOURCES", config["CLICKHOUSE_K8S_RESOURCES"])
    if not quantity("memory", config["CLICKHOUSE_K8S_VOLUME_SIZE"]):
        yield (
            "CLICKHOUSE_K8S_VOLUME_SIZE must be a Kubernetes size in bytes such as 10Gi, "
            f"not {config['CLICKHOUSE_K8S_VOLUME_SIZE']!r}"
        )
    cluster = str(config["CLICKHOUSE_CLUSTER_NAME"] or "")
    if cluster and not IDENTIFIER.match(cluster):
        yield (
            "CLICKHOUSE_CLUSTER_NAME must be empty or letters, digits and underscores, "
            f"not {cluster!r}"
        )
    if str(config["CLICKHOUSE_HOST"]).strip() and not HOST.match(str(config["CLICKHOUSE_HOST"])):
        yield (
            "CLICKHOUSE_HOST must be a host name, without scheme, port or path, "
            f"not {config['CLICKHOUSE_HOST']!r}"
        )
    if not IMAGE.match(str(config["DOCKER_IMAGE_CLICKHOUSE"])):
        yield (
            "DOCKER_IMAGE_CLICKHOUSE must be an image name such as registry/name:tag, "
            f"not {config['DOCKER_IMAGE_CLICKHOUSE']!r}"
        )
    memory = config["CLICKHOUSE_DOCKER_MEMORY_LIMIT"]
    if memory not in ("", None) and not MEMORY_LIMIT.match(str(memory)):
        yield (
            f'CLICKHOUSE_DOCKER_MEMORY_LIMIT must be empty or a size such as "4g", not {memory!r}'
        )
    for key in ("CLICKHOUSE_EXTRA_XML_CONFIG", "CLICKHOUSE_EXTRA_USERS_XML_CONFIG"):
        if error := xml_error(config[key]):
            yield f"{key} must be XML elements; the server would not start: {error}"


# What `docker compose` and ClickHouse accept for the values checked above.
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
MEMORY_LIMIT = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?[bB]?$")


def xml_error(value: t.Any) -> str:
    """Why `value` cannot go inside an XML element of the server's configuration; "" if it can."""
    if not isinstance(value, str):
        return f"{value!r} is not text"
    try:
        ElementTree.fromstring(f"<clickhouse>{value}</clickhouse>")
    except ElementTree.ParseError as error:
        return f"{error} in {value!r}"
    return ""


CONFIG_GUARD = ConfigGuard("ClickHouse", config_errors)
hooks.Actions.PROJECT_ROOT_READY.add(priority=hooks.priorities.LOW)(CONFIG_GUARD.remember)
hooks.Actions.CONFIG_LOADED.add()(CONFIG_GUARD.check)


########################################
# INITIALIZATION TASKS
########################################

# Runs before every plugin that creates ClickHouse objects through INIT_SQL or its own jobs.
INIT_PRIORITY = hooks.priorities.HIGH
SQL_DELIMITER = "CLICKHOUSE_SQL_END"

PACKAGE = resources.files("tutorclickhouse")
INIT_SCRIPT = PACKAGE / "templates" / "clickhouse" / "jobs" / "init" / "clickhouse.sh"
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("clickhouse", INIT_SCRIPT.read_text(encoding="utf-8")), priority=INIT_PRIORITY
)


@jinja2.pass_context
def iter_clickhouse_init_sql(
    context: jinja2.runtime.Context,
) -> t.Iterator[tuple[str, str]]:
    """Render the statements contributed to INIT_SQL with the configuration."""
    for name, sql in clickhouse_hooks.INIT_SQL.iterate():
        name = compiled(context.environment, name).render(context.get_all())
        rendered = compiled(context.environment, sql).render(context.get_all())
        if SQL_DELIMITER in rendered:
            raise exceptions.TutorError(
                f"ClickHouse init SQL {name!r} may not contain {SQL_DELIMITER!r}"
            )
        if rendered.strip():  # a statement may render empty for some settings: skip it
            yield name, rendered.strip()


########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_PULL.add_item(("clickhouse", "{{ DOCKER_IMAGE_CLICKHOUSE }}"))

########################################
# TEMPLATE RENDERING
########################################

hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(resources.files("tutorclickhouse") / "templates"))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_items(
    [
        ("clickhouse/apps", "plugins"),
        ("clickhouse/k8s", "plugins"),
    ]
)
hooks.Filters.ENV_TEMPLATE_FILTERS.add_items(
    [
        # users.d keeps the admin password only as a SHA-256 digest.
        (
            "clickhouse_sha256_hex",
            lambda value: hashlib.sha256(str(value).encode()).hexdigest(),
        ),
        ("clickhouse_shell_quote", lambda value: shlex.quote(str(value))),
    ]
)
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_item(
    ("iter_clickhouse_init_sql", iter_clickhouse_init_sql)
)

# Rendered files holding the admin password that only docker compose and kubectl read on this
# machine: readable by their owner only. So are the compose files, where services have
# passwords in their environment (the clickhouse job, Tutor's own services) exactly as
# configured: an env_file would read $, # and quotes in a value as syntax. users.xml, mounted
# into the server's container, keeps Tutor's mode: it holds only a digest.
SECRET_FILES = (
    "plugins/clickhouse/k8s/admin-secret.yml",
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
