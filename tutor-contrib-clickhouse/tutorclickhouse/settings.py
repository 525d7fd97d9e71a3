"""
The clickhouse plugin's settings: one table (name, default, description, check) from which
Tutor's defaults, docs/configuration.md and the checks of values come; then the checks that
involve several settings.
"""

from __future__ import annotations

import re
import typing as t
from xml.etree import ElementTree

from tutor.types import Config

from tutorcommon import checks
from tutorcommon.settings import Setting, plugin_rows, value_errors

from . import users
from .__about__ import __version__
from .hooks import USERS


def server_host(key: str, value: t.Any) -> t.Iterator[str]:
    if not str(value).strip():
        yield f"{key} must name the ClickHouse server; it is empty"
    else:
        yield from checks.host(key, value)


def xml_elements(key: str, value: t.Any) -> t.Iterator[str]:
    """Text that can go inside an XML element of the server's configuration."""
    if not isinstance(value, str):
        yield f"{key} must be XML elements; the server would not start: {value!r} is not text"
        return
    try:
        ElementTree.fromstring(f"<clickhouse>{value}</clickhouse>")
    except ElementTree.ParseError as error:
        yield f"{key} must be XML elements; the server would not start: {error} in {value!r}"


# What `docker compose` accepts as a memory limit.
MEMORY_LIMIT = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?[bB]?$")

DEFAULTS: list[Setting] = [
    *plugin_rows(
        "CLICKHOUSE",
        __version__,
        run_says="Run ClickHouse in a container; false to use an external server or ClickHouse "
        "Cloud at CLICKHOUSE_HOST.",
        # Current LTS line; tags: https://hub.docker.com/r/clickhouse/clickhouse-server/tags
        image="docker.io/clickhouse/clickhouse-server:26.8",
        image_says="Image of the ClickHouse server, also used by the init job (it needs sh and "
        "GNU wget).",
    ),
    Setting("CLICKHOUSE_HOST", "clickhouse", "Host name of the ClickHouse server.", server_host),
    Setting("CLICKHOUSE_HTTP_PORT", 8123, "Port of ClickHouse's HTTP interface.", checks.port),
    Setting(
        "CLICKHOUSE_HTTPS_PORT",
        8443,
        "Port of ClickHouse's HTTPS interface, used when CLICKHOUSE_SECURE_CONNECTION is true.",
        checks.port,
    ),
    Setting(
        "CLICKHOUSE_SECURE_CONNECTION",
        False,
        "Talk to an external server over HTTPS, verifying its certificate.",
        checks.boolean,
    ),
    Setting(
        "CLICKHOUSE_PORT",
        "{% if CLICKHOUSE_SECURE_CONNECTION %}{{ CLICKHOUSE_HTTPS_PORT }}"
        "{% else %}{{ CLICKHOUSE_HTTP_PORT }}{% endif %}",
        "The HTTP(S) port that clients use, derived from the settings above.",
        checks.port,
    ),
    Setting(
        "CLICKHOUSE_ADMIN_USER",
        "ch_admin",
        "ClickHouse user that manages access (creates the other plugins' users); "
        "nothing else should use it.",
        checks.identifier,
    ),
    Setting(
        "CLICKHOUSE_CLUSTER_NAME",
        "",
        "Name of the ClickHouse cluster; empty for a single server. When set, plugins create "
        "their objects ON CLUSTER with replicated engines.",
        checks.matching(checks.IDENTIFIER, "letters, digits and underscores", optional=True),
    ),
    Setting(
        "CLICKHOUSE_EXTRA_XML_CONFIG",
        "",
        "XML inserted in the server configuration (config.d), e.g. cluster or storage settings.",
        xml_elements,
    ),
    Setting(
        "CLICKHOUSE_EXTRA_USERS_XML_CONFIG",
        "",
        "XML inserted in the users configuration (users.d), e.g. settings profiles.",
        xml_elements,
    ),
    Setting(
        "CLICKHOUSE_DOCKER_MEMORY_LIMIT",
        "",
        'Memory limit of the docker compose container, e.g. "4g"; empty for none.',
        checks.matching(MEMORY_LIMIT, 'a size such as "4g"', optional=True),
    ),
    Setting(
        "CLICKHOUSE_K8S_VOLUME_SIZE",
        "10Gi",
        "Size of the Kubernetes data volume (PersistentVolumeClaim), in bytes such as 10Gi; "
        "about 70 million statements with their models fit in 10Gi.",
        checks.kubernetes_size,
    ),
    Setting(
        "CLICKHOUSE_K8S_RESOURCES",
        {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "Kubernetes resource requests and limits of the ClickHouse container: cpu and memory "
        "requested, memory limited (ClickHouse keeps its own use under 90% of the limit).",
        checks.kubernetes_resources,
    ),
]

UNIQUE: list[Setting] = [
    Setting(
        "CLICKHOUSE_ADMIN_PASSWORD",
        "{{ 24|random_string }}",
        "Password of CLICKHOUSE_ADMIN_USER; the server stores only its SHA-256 digest.",
        checks.not_empty,
    ),
]


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the clickhouse settings, one message per offending key."""
    yield from value_errors(DEFAULTS + UNIQUE, config)
    yield from users.config_errors(USERS.iterate(), config)
    if config["RUN_CLICKHOUSE"] is True and config["CLICKHOUSE_ADMIN_USER"] == "default":
        yield (
            "CLICKHOUSE_ADMIN_USER must not be 'default' when RUN_CLICKHOUSE is true: "
            "the container removes that user"
        )
    if config["RUN_CLICKHOUSE"] is True and config["CLICKHOUSE_SECURE_CONNECTION"] is True:
        yield (
            "CLICKHOUSE_SECURE_CONNECTION is for an external server (RUN_CLICKHOUSE: false); "
            "the ClickHouse container serves plain HTTP inside Tutor's network"
        )
