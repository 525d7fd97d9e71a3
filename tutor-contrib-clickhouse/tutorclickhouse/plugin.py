"""Tutor plugin that runs ClickHouse (or connects to an external server) for other plugins."""

from __future__ import annotations

import hashlib
import shlex
import typing as t
from importlib import resources

import jinja2
from tutor import exceptions, hooks

from tutorcommon import registration, speedups
from tutorcommon.files import COMPOSE_FILES, private_files
from tutorcommon.guard import ConfigGuard
from tutorcommon.rendering import render
from tutorcommon.settings import register as register_settings

from . import hooks as clickhouse_hooks
from . import settings, users

########################################
# CONFIGURATION
########################################

# The settings table (settings.py) gives the defaults, the docs and the checks.
CONFIG_DEFAULTS, CONFIG_UNIQUE = settings.DEFAULTS, settings.UNIQUE
register_settings(CONFIG_DEFAULTS, CONFIG_UNIQUE)
CONFIG_GUARD = ConfigGuard("ClickHouse", settings.config_errors).register()


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
# The users that plugins declare become init SQL, listed when the init job is rendered.
clickhouse_hooks.INIT_SQL.add(priority=clickhouse_hooks.USERS_PRIORITY)(
    lambda items: [*items, *users.init_sql(clickhouse_hooks.USERS.iterate())]
)


@jinja2.pass_context
def iter_clickhouse_init_sql(
    context: jinja2.runtime.Context,
) -> t.Iterator[tuple[str, str]]:
    """Render the statements contributed to INIT_SQL with the configuration."""
    for item in clickhouse_hooks.INIT_SQL.iterate():
        name, rendered = render(context, item)
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

# What Tutor pays on each command for the plugins' templates and settings, made cheaper.
speedups.install()
registration.templates("tutorclickhouse", "clickhouse/apps", "clickhouse/k8s")
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

# Rendered files holding the admin password, readable by their owner only. users.xml, mounted
# into the server's container, keeps Tutor's mode: it holds only a digest.
private_files("plugins/clickhouse/k8s/admin-secret.yml", *COMPOSE_FILES)


########################################
# PATCH LOADING
########################################

registration.patches("tutorclickhouse")
