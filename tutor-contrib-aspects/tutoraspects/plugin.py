"""Tutor plugin for Open edX Aspects: the analytics layer over ClickHouse, Ralph and Superset."""

from __future__ import annotations

from importlib import resources

from tutor import hooks

from tutorcommon import registration
from tutorcommon.files import COMPOSE_FILES, private_files
from tutorcommon.guard import ConfigGuard
from tutorcommon.settings import register as register_settings

from . import clickhouse, commands, embedding, grants, jobs, ralph, settings, superset, upgrade

########################################
# CONFIGURATION
########################################

# The settings table (settings.py) gives the defaults, the docs and the checks.
CONFIG_DEFAULTS, CONFIG_UNIQUE = settings.DEFAULTS, settings.UNIQUE
register_settings(CONFIG_DEFAULTS, CONFIG_UNIQUE)
CONFIG_GUARD = ConfigGuard("Aspects", settings.config_errors).register()

# A config.yml written for the reference plugin (tutor-contrib-aspects 6.x): its settings are
# read, carried over to this project's settings, or reported as unused on `tutor config save`;
# its patch names are applied where this project renders the same content (reference.py's
# tables, applied by upgrade.py).
REFERENCE_UPGRADE = upgrade.Upgrade()
hooks.Actions.PROJECT_ROOT_READY.add(priority=hooks.priorities.LOW)(REFERENCE_UPGRADE.remember)
hooks.Filters.CONFIG_USER.add()(REFERENCE_UPGRADE.carried_settings)
hooks.Actions.ENV_SAVED.add()(REFERENCE_UPGRADE.report)
hooks.Filters.ENV_PATCHES.add(priority=hooks.priorities.LOW)(upgrade.renamed_patches)


########################################
# CONTRIBUTIONS TO THE SERVICE PLUGINS
########################################

# Each module, when imported, gives a service plugin what Aspects needs of it, through that
# plugin's hooks: ClickHouse the databases, users and grants; Ralph its ClickHouse backend;
# Superset the database, the dashboards and their embedding in the LMS. superset.py also gives
# Tutor the dashboards' template filter and variable, and the warning of languages without a
# catalog on `tutor config save`.
SERVICE_CONTRIBUTIONS = (clickhouse, ralph, superset, embedding)


########################################
# INITIALIZATION TASKS
########################################

# The clickhouse init job (HIGH) creates the databases, users and grants (clickhouse.py).
PACKAGE = resources.files("tutoraspects")
INIT = PACKAGE / "templates" / "aspects" / "jobs" / "init"
# After the clickhouse init job has created databases and users, before Ralph (DEFAULT + 10),
# which needs the raw table.
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("aspects", (INIT / "aspects.sh").read_text(encoding="utf-8")),
    priority=hooks.priorities.DEFAULT,
)

# The LMS side, once Tutor's lms task (DEFAULT) has migrated the LMS database and after the
# Superset task in the LMS (DEFAULT + 30): event-routing-backends sends statements to Ralph.
LMS_INIT_PRIORITY = hooks.priorities.DEFAULT + 40
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("lms", (INIT / "lms.sh").read_text(encoding="utf-8")), priority=LMS_INIT_PRIORITY
)


########################################
# DO COMMANDS
########################################

hooks.Filters.CLI_DO_COMMANDS.add_items(jobs.COMMANDS)


########################################
# CLI COMMANDS
########################################

hooks.Filters.CLI_COMMANDS.add_item(commands.aspects_command)


########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_BUILD.add_item(
    ("aspects", ("plugins", "aspects", "build", "aspects"), "{{ DOCKER_IMAGE_ASPECTS }}", ())
)
hooks.Filters.IMAGES_PULL.add_item(("aspects", "{{ DOCKER_IMAGE_ASPECTS }}"))
hooks.Filters.IMAGES_PUSH.add_item(("aspects", "{{ DOCKER_IMAGE_ASPECTS }}"))
# The job files (dbt project, migrations, job scripts) copied into the image's build context.
hooks.Actions.ENV_SAVED.add()(jobs.copy_job_files)


########################################
# TEMPLATE RENDERING
########################################

registration.templates("tutoraspects", "aspects/build", "aspects/k8s")
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("aspects_job_environment", jobs.aspects_job_environment),
        ("aspects_dbt_secrets", jobs.DBT_SECRETS),
        ("aspects_alembic", jobs.ALEMBIC),
        ("aspects_dbt", jobs.DBT),
        ("aspects_adopt", jobs.ADOPT),
        # The event sink tables of personal data: the LMS sends them while ASPECTS_ENABLE_PII is on.
        ("aspects_pii_sink_models", list(grants.PII_TABLES)),
    ]
)

# Rendered files holding passwords that only docker compose and kubectl read on this machine:
# readable by their owner only. So are the compose files, where services have passwords in
# their environment (the aspects job, the scheduled dbt runs, Tutor's own services) exactly as
# configured: an env_file would read $, # and quotes in a value as syntax. The job image's
# build context holds none: the jobs read theirs from the environment.
private_files("plugins/aspects/k8s/job-secret.yml", *COMPOSE_FILES)


########################################
# PATCH LOADING
########################################

registration.patches("tutoraspects")
