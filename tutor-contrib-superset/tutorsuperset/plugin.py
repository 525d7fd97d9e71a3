"""Tutor plugin for Apache Superset, with single sign-on through the LMS."""

from __future__ import annotations

import shlex
import typing as t
from importlib import resources
from pathlib import Path

from tutor import hooks
from tutor.types import Config

from tutorcommon import registration, speedups
from tutorcommon.files import COMPOSE_FILES, private_files
from tutorcommon.guard import ConfigGuard
from tutorcommon.settings import register as register_settings

from . import contributions, jobs, settings
from . import hooks as superset_hooks

########################################
# CONFIGURATION
########################################

# The settings table (settings.py) gives the defaults, the docs and the checks.
CONFIG_DEFAULTS, CONFIG_UNIQUE = settings.DEFAULTS, settings.UNIQUE
register_settings(CONFIG_DEFAULTS, CONFIG_UNIQUE)
CONFIG_GUARD = ConfigGuard("Superset", settings.config_errors).register()


########################################
# INITIALIZATION TASKS
########################################

PACKAGE = resources.files("tutorsuperset")
INIT = PACKAGE / "templates" / "superset" / "jobs" / "init"
# After the analytics schema and Ralph (DEFAULT + 10), before the LMS registers Superset.
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("superset", (INIT / "superset.sh").read_text(encoding="utf-8")),
    priority=hooks.priorities.DEFAULT + 20,
)
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("lms", (INIT / "lms.sh").read_text(encoding="utf-8")), priority=hooks.priorities.DEFAULT + 30
)


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


########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_BUILD.add_item(
    ("superset", ("plugins", "superset", "build", "superset"), "{{ DOCKER_IMAGE_SUPERSET }}", ())
)
hooks.Filters.IMAGES_PULL.add_item(("superset", "{{ DOCKER_IMAGE_SUPERSET }}"))
hooks.Filters.IMAGES_PUSH.add_item(("superset", "{{ DOCKER_IMAGE_SUPERSET }}"))
# Each contributed asset bundle is rendered into the image's build context, under its name.
hooks.Filters.ENV_TEMPLATE_ROOTS.add()(contributions.asset_template_roots)
hooks.Filters.ENV_TEMPLATE_TARGETS.add()(contributions.asset_template_targets)
hooks.Actions.ENV_SAVED.add()(contributions.remove_stale_asset_files)


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
# DO COMMANDS
########################################

hooks.Filters.CLI_DO_COMMANDS.add_items(jobs.COMMANDS)


########################################
# TEMPLATE RENDERING
########################################

# What Tutor pays on each command for the plugins' templates and settings, made cheaper.
speedups.install()
registration.templates(
    "tutorsuperset", "superset/apps", "superset/build", "superset/kustomization.yml"
)
hooks.Filters.ENV_TEMPLATE_FILTERS.add_item(
    ("superset_shell_quote", lambda value: shlex.quote(str(value)))
)

# Superset's pythonpath: plain modules (configuration, sign-in, query guard, init sync), copied
# as they are, and the files that Tutor renders from the settings (tutor_settings.json, what
# plugins contribute). Shipped to Kubernetes pods in one ConfigMap, each mounted over the
# image's folder.
PLAIN_PYTHONPATH = PACKAGE / "pythonpath"
RENDERED_PYTHONPATH = PACKAGE / "templates" / "superset" / "apps" / "pythonpath"
PYTHONPATH_TARGET = "plugins/superset/apps/pythonpath"
PLAIN_MODULES = sorted(path.name for path in PLAIN_PYTHONPATH.iterdir() if path.suffix == ".py")
PYTHONPATH_MODULES = sorted(PLAIN_MODULES + [path.name for path in RENDERED_PYTHONPATH.iterdir()])


@hooks.Actions.ENV_SAVED.add()
def _copy_plain_modules(root_env: str, _config: Config) -> None:
    target = Path(root_env, PYTHONPATH_TARGET)
    target.mkdir(parents=True, exist_ok=True)
    for name in PLAIN_MODULES:
        (target / name).write_bytes((PLAIN_PYTHONPATH / name).read_bytes())


rendered = contributions.rendered_items
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("superset_pythonpath_modules", PYTHONPATH_MODULES),
        ("superset_python_requirements", superset_hooks.PYTHON_REQUIREMENTS.iterate),
        ("superset_extra_config", rendered(superset_hooks.EXTRA_CONFIG)),
        ("superset_jinja_macros", rendered(superset_hooks.JINJA_MACROS)),
        ("superset_roles", rendered(superset_hooks.ROLES)),
        ("superset_databases", rendered(superset_hooks.DATABASES)),
        ("superset_asset_bundles", contributions.asset_bundle_names),
        ("superset_rls_filters", rendered(superset_hooks.RLS_FILTERS, verbatim=(3,))),
        ("superset_init_commands", rendered(superset_hooks.INIT_COMMANDS)),
        ("superset_embedded_dashboards", contributions.embedded_dashboards_variable),
        ("superset_lms_role", LMS_ROLE),
    ]
)

# Rendered files holding secrets that only docker compose and kubectl read on this machine:
# readable by their owner only (the compose files give the superset job its passwords). The
# files mounted into Superset's containers (pythonpath) hold none.
private_files(
    "plugins/superset/apps/superset.env", "plugins/superset/kustomization.yml", *COMPOSE_FILES
)


########################################
# PATCH LOADING
########################################

registration.patches("tutorsuperset")
