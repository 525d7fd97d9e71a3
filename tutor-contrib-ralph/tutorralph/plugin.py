"""Tutor plugin that runs the Ralph learning record store (LRS)."""

from __future__ import annotations

import urllib.parse
from importlib import resources

from tutor import hooks
from tutor.types import Config

from tutorcommon import registration, speedups
from tutorcommon.files import COMPOSE_FILES, private_files
from tutorcommon.guard import ConfigGuard
from tutorcommon.settings import register as register_settings

from . import rendering, settings

########################################
# CONFIGURATION
########################################

# The settings table (settings.py) gives the defaults, the docs and the checks.
CONFIG_DEFAULTS, CONFIG_UNIQUE = settings.DEFAULTS, settings.UNIQUE
register_settings(CONFIG_DEFAULTS, CONFIG_UNIQUE)
CONFIG_GUARD = ConfigGuard("Ralph", settings.config_errors).register()

########################################
# PUBLIC HOSTS
########################################

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

# What Tutor pays on each command for the plugins' templates and settings, made cheaper.
speedups.install()
registration.templates("tutorralph", "ralph/apps", "ralph/kustomization.yml")
# Jinja's urlencode keeps "/", which ends the user info of a URL.
hooks.Filters.ENV_TEMPLATE_FILTERS.add_item(
    ("ralph_url_quote", lambda value: urllib.parse.quote(str(value), safe=""))
)
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(list(rendering.TEMPLATE_VARIABLES.items()))

# Rendered files holding passwords, readable by their owner only. auth.json, mounted into
# Ralph's container, keeps Tutor's mode: it holds only bcrypt hashes.
private_files("plugins/ralph/apps/ralph.env", "plugins/ralph/kustomization.yml", *COMPOSE_FILES)


########################################
# PATCH LOADING
########################################

registration.patches("tutorralph")
