"""Tutor plugin for Open edX Aspects: the analytics layer over ClickHouse, Ralph and Superset."""

from __future__ import annotations

import filecmp
import json
import re
import shlex
import shutil
import typing as t
from importlib import resources
from pathlib import Path

import click
import jinja2
from tutor import exceptions, hooks
from tutor.types import Config

from tutorclickhouse.hooks import INIT_SQL
from tutorcommon.checks import kubernetes_resources as resources_errors
from tutorcommon.files import COMPOSE_FILES, private_files
from tutorcommon.guard import ConfigGuard
from tutorcommon.rendering import compiled
from tutorralph.hooks import SETTINGS as RALPH_SETTINGS

# superset, embedding: their contributions to Superset, through the superset plugin's hooks.
from . import embedding, grants, reference, superset  # noqa: F401 - embedding: hooks only
from .__about__ import __version__

########################################
# CONFIGURATION
########################################

# Each setting: (name, default, what it is for). docs/configuration.md is generated from these.
CONFIG_DEFAULTS: list[tuple[str, t.Any, str]] = [
    ("ASPECTS_VERSION", __version__, "Version of this plugin."),
    (
        "DOCKER_IMAGE_ASPECTS",
        "{{ DOCKER_REGISTRY }}openedx/aspects-jobs:{{ ASPECTS_VERSION }}",
        "Image of the Aspects jobs (migrations, dbt, test data), built by `tutor images build "
        "aspects`.",
    ),
    ("ASPECTS_XAPI_DATABASE", "xapi", "ClickHouse database of the raw xAPI statements."),
    ("ASPECTS_RAW_XAPI_TABLE", "xapi_events_all", "Table that Ralph writes statements to."),
    (
        "ASPECTS_DATA_TTL_EXPRESSION",
        "",
        "How long raw statements are kept, as a ClickHouse TTL expression, e.g. "
        "`toDateTime(emission_time) + INTERVAL 5 YEAR`; empty keeps them forever. Applies when "
        "the table is created.",
    ),
    (
        "ASPECTS_EVENT_SINK_DATABASE",
        "event_sink",
        "ClickHouse database of the course structure and names sent by the CMS.",
    ),
    (
        "DBT_PROFILE_TARGET_DATABASE",
        "reporting",
        "ClickHouse database of the dbt models that dashboards read.",
    ),
    (
        "DBT_REPOSITORY",
        "",
        "Git repository of a dbt project to run instead of the bundled one (its profile must be "
        "named `aspects`); empty for the bundled project.",
    ),
    ("DBT_BRANCH", "main", "Branch or tag of DBT_REPOSITORY."),
    ("DBT_REPOSITORY_PATH", "", "Folder of the dbt project inside DBT_REPOSITORY."),
    (
        "EXTRA_DBT_PACKAGES",
        [],
        "More pip packages for the job image, e.g. dbt packages' Python needs "
        "(`tutor images build aspects` after a change).",
    ),
    (
        "ASPECTS_DBT_RUN_INTERVAL_MINUTES",
        5,
        "Minutes between the dbt runs that bring new statements into the reporting models "
        "(1-59); 0 runs dbt only when asked (`tutor local do dbt`).",
    ),
    (
        "ASPECTS_AT_RISK_INACTIVE_DAYS",
        14,
        "Learners at risk: days without a visit (learning activity, not grades) after which "
        "an enrolled learner is at risk; 0 turns this criterion off.",
    ),
    (
        "ASPECTS_AT_RISK_GRADE_BELOW_PERCENT",
        50,
        "Learners at risk: a course grade below this percent, for a learner who has not "
        "passed, is failing; 0 turns this criterion off.",
    ),
    (
        "ASPECTS_AT_RISK_PROGRESS_BELOW_PERCENT",
        25,
        "Learners at risk: completing fewer than this percent of the course's blocks (those "
        "of its outline the CMS sent) is low progress; 0 turns this criterion off.",
    ),
    (
        "ASPECTS_K8S_RESOURCES",
        {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "Kubernetes resource requests and limits of the aspects job and of the scheduled dbt "
        "runs (the CronJob aspects-dbt): cpu and memory requested, memory limited.",
    ),
    ("ASPECTS_CLICKHOUSE_LRS_USER", "ch_lrs", "ClickHouse user of Ralph (the raw table only)."),
    (
        "ASPECTS_CLICKHOUSE_REPORT_USER",
        "ch_report",
        "ClickHouse user of Superset: reads the reporting database, read-only and bounded.",
    ),
    (
        "ASPECTS_CLICKHOUSE_MIGRATIONS_USER",
        "ch_migrations",
        "ClickHouse user of schema migrations and dbt: DDL on the Aspects databases only.",
    ),
    (
        "ASPECTS_CLICKHOUSE_CMS_USER",
        "ch_cms",
        "ClickHouse user of the CMS: writes course structure to the event sink database.",
    ),
    (
        "ASPECTS_CLICKHOUSE_RETIREMENT_USER",
        "ch_retirement",
        "ClickHouse user of `tutor local do delete-learner-data`: reads and deletes rows in the "
        "Aspects databases, nothing else.",
    ),
    (
        "SUPERSET_DASHBOARD_LOCALES",
        ["en", "es", "fr"],
        "Languages the Aspects dashboards are imported in, one copy each: any language code "
        "(pt_BR, de...); one without a catalog (bundled: es, fr) gets English titles and a "
        "warning on `tutor config save`.",
    ),
    (
        "ASPECTS_ENABLE_PII",
        False,
        "Show learners' usernames, names and emails in Superset (the individual learner view); "
        "on, the LMS also sends them (the user_profile and external_id event sinks); "
        "off, dashboards show anonymous ids only and the report user cannot read personal data.",
    ),
    (
        "ASPECTS_REPORT_MAX_EXECUTION_TIME",
        60,
        "Seconds a query of the report user may run.",
    ),
    (
        "ASPECTS_REPORT_MAX_MEMORY_USAGE",
        4_000_000_000,
        "Bytes of memory a query of the report user may use.",
    ),
    (
        "ASPECTS_REPORT_MAX_RESULT_ROWS",
        1_000_000,
        "Rows a query of the report user may return (more are cut off).",
    ),
    (
        "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT",
        # Releases: https://pypi.org/project/edx-event-routing-backends/#history
        "edx-event-routing-backends==10.1.0",
        "pip requirement of event-routing-backends, which turns the LMS and CMS tracking events "
        "into xAPI statements and sends them to Ralph; installed in the Open edX image "
        "(`tutor images build openedx` after a change).",
    ),
    (
        "ASPECTS_PLATFORM_PLUGIN_REQUIREMENT",
        # Releases: https://pypi.org/project/platform-plugin-aspects/#history
        "platform-plugin-aspects==2.1.0",
        "pip requirement of platform-plugin-aspects, which sends course structure to ClickHouse "
        "and backfills it (`tutor local do dump-data-to-clickhouse`); installed in the Open edX "
        "image.",
    ),
    (
        "EVENT_ROUTING_BACKEND_BATCHING_ENABLED",
        True,
        "Send xAPI statements to Ralph in batches (kept in the platform's Redis) rather than one "
        "request per event; much lighter on the LMS and Ralph.",
    ),
    (
        "EVENT_ROUTING_BACKEND_BATCH_SIZE",
        100,
        "Statements in a batch: it is sent as soon as it is full, or after "
        "EVENT_ROUTING_BACKEND_BATCH_INTERVAL.",
    ),
    (
        "EVENT_ROUTING_BACKEND_BATCH_INTERVAL",
        5,
        "Seconds after the last batch was sent when the next one is sent, full or not.",
    ),
    (
        "EVENT_SINK_MODELS_ENABLED",
        ["course_overviews"],
        "What platform-plugin-aspects sends to the event sink database when it changes, e.g. "
        "`course_overviews` (course names, dates and blocks, sent when a course is published).",
    ),
    (
        "ASPECTS_EVENT_SINK_CLICKHOUSE_TIMEOUT_SECS",
        5,
        "Seconds the LMS and CMS wait for ClickHouse when sending course structure.",
    ),
]

CONFIG_UNIQUE: list[tuple[str, t.Any, str]] = [
    (user.password_key, "{{ 24|random_string }}", f"Password of {user.name_key}.")
    for user in grants.USERS
]

hooks.Filters.CONFIG_DEFAULTS.add_items([(name, value) for name, value, _ in CONFIG_DEFAULTS])
hooks.Filters.CONFIG_UNIQUE.add_items([(name, value) for name, value, _ in CONFIG_UNIQUE])

NEEDED_PLUGINS = ("clickhouse", "ralph")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDENTIFIER_KEYS = (
    "ASPECTS_XAPI_DATABASE",
    "ASPECTS_RAW_XAPI_TABLE",
    "ASPECTS_EVENT_SINK_DATABASE",
    "DBT_PROFILE_TARGET_DATABASE",
    *(user.name_key for user in grants.USERS),
)
LIMIT_KEYS = (
    "ASPECTS_REPORT_MAX_EXECUTION_TIME",
    "ASPECTS_REPORT_MAX_MEMORY_USAGE",
    "ASPECTS_REPORT_MAX_RESULT_ROWS",
    "EVENT_ROUTING_BACKEND_BATCH_SIZE",
    "EVENT_ROUTING_BACKEND_BATCH_INTERVAL",
    "ASPECTS_EVENT_SINK_CLICKHOUSE_TIMEOUT_SECS",
)
# Installed with `pip install '<requirement>'` in the Open edX Dockerfile.
REQUIREMENT_KEYS = (
    "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT",
    "ASPECTS_PLATFORM_PLUGIN_REQUIREMENT",
)
# What platform-plugin-aspects can send to ClickHouse (its EVENT_SINK_CLICKHOUSE_MODEL_CONFIG).
EVENT_SINK_MODELS = (
    "auth_user",
    "course_enrollment",
    "course_overviews",
    "custom_course_edx",
    "external_id",
    "object_tag",
    "tag",
    "taxonomy",
    "user_preference",
    "user_profile",
)


# The criteria of learners at risk (0 turns one off), passed to dbt by the job environment.
AT_RISK_RANGES = {
    "ASPECTS_AT_RISK_INACTIVE_DAYS": (0, 3650),
    "ASPECTS_AT_RISK_GRADE_BELOW_PERCENT": (0, 100),
    "ASPECTS_AT_RISK_PROGRESS_BELOW_PERCENT": (0, 100),
}


# Ralph's settings give clickhouse-connect a host and a port only: it speaks HTTPS on these.
RALPH_HTTPS_PORTS = ("443", "8443")


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the aspects settings, one message per offending key."""
    for plugin in NEEDED_PLUGINS:
        if plugin not in config.get("PLUGINS", []):
            yield f"aspects needs the {plugin} plugin: run `tutor plugins enable {plugin}`"
    for key in IDENTIFIER_KEYS:
        if not IDENTIFIER.match(str(config[key])):
            yield f"{key} must be letters, digits and underscores, not {config[key]!r}"
    for key in LIMIT_KEYS:
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            yield f"{key} must be a whole number of at least 1, not {config[key]!r}"
    for key in REQUIREMENT_KEYS:
        requirement = config[key]
        if not isinstance(requirement, str) or not requirement.strip() or "'" in requirement:
            yield f"{key} must be a pip requirement without quotes, not {requirement!r}"
        elif "\n" in requirement:
            yield f"{key} must be a pip requirement on one line, not {requirement!r}"
    # Any language: one without a catalog gets English dashboards and a warning, no error.
    if error := superset.locales_error(config["SUPERSET_DASHBOARD_LOCALES"]):
        yield error
    for key in ("EVENT_ROUTING_BACKEND_BATCHING_ENABLED", "ASPECTS_ENABLE_PII"):
        if not isinstance(config[key], bool):
            yield f"{key} must be true or false, not {config[key]!r}"
    https_port = config["CLICKHOUSE_HTTPS_PORT"]
    if config["CLICKHOUSE_SECURE_CONNECTION"] is True and str(https_port) not in RALPH_HTTPS_PORTS:
        yield (
            "CLICKHOUSE_HTTPS_PORT must be 8443 or 443 with CLICKHOUSE_SECURE_CONNECTION: Ralph's "
            "ClickHouse client (clickhouse-connect) uses HTTPS on those ports only, and would "
            f"speak plain HTTP to port {https_port!r}"
        )
    models = config["EVENT_SINK_MODELS_ENABLED"]
    if not isinstance(models, list) or not all(model in EVENT_SINK_MODELS for model in models):
        yield (
            f"EVENT_SINK_MODELS_ENABLED must be a list of {', '.join(EVENT_SINK_MODELS)}; "
            f"not {models!r}"
        )
    for key, (lowest, highest) in AT_RISK_RANGES.items():
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            yield f"{key} must be a whole number from {lowest} to {highest}, not {value!r}"
    interval = config["ASPECTS_DBT_RUN_INTERVAL_MINUTES"]
    if isinstance(interval, bool) or not isinstance(interval, int) or not 0 <= interval < 60:
        yield (
            "ASPECTS_DBT_RUN_INTERVAL_MINUTES must be a whole number from 0 to 59, "
            f"not {interval!r}"
        )
    yield from resources_errors("ASPECTS_K8S_RESOURCES", config["ASPECTS_K8S_RESOURCES"])
    packages = config["EXTRA_DBT_PACKAGES"]
    if not isinstance(packages, list) or not all(
        isinstance(p, str) and p.strip() and "\n" not in p for p in packages
    ):
        yield f"EXTRA_DBT_PACKAGES must be a list of pip requirements, not {packages!r}"
    for user in grants.USERS:
        if not str(config[user.password_key] or ""):
            yield f"{user.password_key} must not be empty"
    yield from value_errors(config)


DATABASE_KEYS = (
    "ASPECTS_XAPI_DATABASE",
    "ASPECTS_EVENT_SINK_DATABASE",
    "DBT_PROFILE_TARGET_DATABASE",
)
# What docker compose and git accept for the values checked below.
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
GIT_URL = re.compile(r"^((https?|ssh|git|file)://\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$")
GIT_REF = re.compile(r"^[A-Za-z0-9._/-]+$")
RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/-]*$")


def value_errors(config: Config) -> t.Iterator[str]:
    """Values that would stop a deployment: shared names, the image, the dbt project's place."""
    databases = [str(config[key]) for key in DATABASE_KEYS]
    if len(set(databases)) < len(databases):
        # Each user's grants are per database: a shared one would open the raw statements to
        # the report user.
        yield f"{', '.join(DATABASE_KEYS)} must be three different databases, not {databases!r}"
    user_keys = ("CLICKHOUSE_ADMIN_USER", *(user.name_key for user in grants.USERS))
    users = {key: str(config[key]) for key in user_keys}
    for name in sorted({name for name in users.values() if list(users.values()).count(name) > 1}):
        keys = [key for key, value in users.items() if value == name]
        yield f"{' and '.join(keys)} must be different ClickHouse users, not both {name!r}"
    if not IMAGE.match(str(config["DOCKER_IMAGE_ASPECTS"])):
        yield (
            "DOCKER_IMAGE_ASPECTS must be an image name such as registry/name:tag, "
            f"not {config['DOCKER_IMAGE_ASPECTS']!r}"
        )
    repository = config["DBT_REPOSITORY"]
    if repository not in ("", None) and not GIT_URL.match(str(repository)):
        yield (
            "DBT_REPOSITORY must be empty or a git URL such as https://host/org/project.git, "
            f"not {repository!r}"
        )
    if not GIT_REF.match(str(config["DBT_BRANCH"])):
        yield f"DBT_BRANCH must be a git branch or tag, not {config['DBT_BRANCH']!r}"
    if not RELATIVE_PATH.match(str(config["DBT_REPOSITORY_PATH"] or "")):
        yield (
            "DBT_REPOSITORY_PATH must be a folder inside DBT_REPOSITORY (relative, no ..), "
            f"not {config['DBT_REPOSITORY_PATH']!r}"
        )


CONFIG_GUARD = ConfigGuard("Aspects", config_errors).register()

# A config.yml written for the reference plugin (tutor-contrib-aspects 6.x): its settings are
# read, carried over to this project's settings, or reported as unused on `tutor config save`;
# its patch names are applied where this project renders the same content (reference.py).
REFERENCE_UPGRADE = reference.Upgrade()
hooks.Actions.PROJECT_ROOT_READY.add(priority=hooks.priorities.LOW)(REFERENCE_UPGRADE.remember)
hooks.Filters.CONFIG_USER.add()(REFERENCE_UPGRADE.carried_settings)
hooks.Actions.ENV_SAVED.add()(REFERENCE_UPGRADE.report)
hooks.Filters.ENV_PATCHES.add(priority=hooks.priorities.LOW)(reference.renamed_patches)


########################################
# INITIALIZATION TASKS
########################################

# Databases, users and grants: run by the clickhouse init job, the only use of the admin user.
# Listed when the init script is rendered: the report user's grants read the bundle's datasets.
INIT_SQL.add(priority=hooks.priorities.DEFAULT)(lambda items: [*items, *grants.init_sql()])

# Job files sit in /app in the job image; tests point ASPECTS_JOB_DIR at the build context.
JOB_DIR = "${ASPECTS_JOB_DIR:-/app}"
ALEMBIC = f'alembic -c "{JOB_DIR}/migrations/alembic.ini"'
DBT = f'sh "{JOB_DIR}/run_dbt.sh"'
ADOPT = f'python3 "{JOB_DIR}/adopt_aspects_6.py"'
PACKAGE = resources.files("tutoraspects")
INIT_SCRIPT = PACKAGE / "templates" / "aspects" / "jobs" / "init" / "aspects.sh"
# After the clickhouse init job (HIGH) has created databases and users, before Ralph (DEFAULT +
# 10), which needs the raw table.
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("aspects", INIT_SCRIPT.read_text(encoding="utf-8")), priority=hooks.priorities.DEFAULT
)

# The LMS side, once Tutor's lms task (DEFAULT) has migrated the LMS database and after the
# Superset task in the LMS (DEFAULT + 30): event-routing-backends sends statements to Ralph.
LMS_INIT_PRIORITY = hooks.priorities.DEFAULT + 40
LMS_INIT_SCRIPT = PACKAGE / "templates" / "aspects" / "jobs" / "init" / "lms.sh"
hooks.Filters.CLI_DO_INIT_TASKS.add_item(
    ("lms", LMS_INIT_SCRIPT.read_text(encoding="utf-8")), priority=LMS_INIT_PRIORITY
)

JOB_ENVIRONMENT = {
    "ASPECTS_CLICKHOUSE_HOST": "{{ CLICKHOUSE_HOST }}",
    "ASPECTS_CLICKHOUSE_PORT": "{{ CLICKHOUSE_PORT }}",
    "ASPECTS_CLICKHOUSE_SECURE": "{{ CLICKHOUSE_SECURE_CONNECTION }}",
    "ASPECTS_CLICKHOUSE_USER": "{{ ASPECTS_CLICKHOUSE_MIGRATIONS_USER }}",
    "ASPECTS_CLICKHOUSE_RETIREMENT_USER": "{{ ASPECTS_CLICKHOUSE_RETIREMENT_USER }}",
    "ASPECTS_XAPI_DATABASE": "{{ ASPECTS_XAPI_DATABASE }}",
    "ASPECTS_RAW_XAPI_TABLE": "{{ ASPECTS_RAW_XAPI_TABLE }}",
    "ASPECTS_EVENT_SINK_DATABASE": "{{ ASPECTS_EVENT_SINK_DATABASE }}",
    "ASPECTS_REPORTING_DATABASE": "{{ DBT_PROFILE_TARGET_DATABASE }}",
    "ASPECTS_DATA_TTL_EXPRESSION": "{{ ASPECTS_DATA_TTL_EXPRESSION }}",
    "CLICKHOUSE_CLUSTER_NAME": "{{ CLICKHOUSE_CLUSTER_NAME }}",
    "RALPH_URL": "http{% if RALPH_RUN_HTTPS %}s{% endif %}://{{ RALPH_HOST }}:{{ RALPH_PORT }}",
    "RALPH_LMS_USERNAME": "{{ RALPH_LMS_USERNAME }}",
    "LMS_URL": "http{% if ENABLE_HTTPS %}s{% endif %}://{{ LMS_HOST }}",
    **{key: "{{ " + key + " }}" for key in AT_RISK_RANGES},
    "DBT_REPOSITORY": "{{ DBT_REPOSITORY }}",
    "DBT_BRANCH": "{{ DBT_BRANCH }}",
    "DBT_REPOSITORY_PATH": "{{ DBT_REPOSITORY_PATH }}",
    **reference.ADOPTION_ENVIRONMENT,
}


# Kept out of the job scripts (and so out of Tutor's output): the jobs read them from their
# environment, given by docker compose or by the aspects-job Kubernetes Secret.
JOB_SECRETS = {
    "ASPECTS_CLICKHOUSE_PASSWORD": "{{ ASPECTS_CLICKHOUSE_MIGRATIONS_PASSWORD }}",
    "ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD": "{{ ASPECTS_CLICKHOUSE_RETIREMENT_PASSWORD }}",
    "RALPH_LMS_PASSWORD": "{{ RALPH_LMS_PASSWORD }}",
}
# The scheduled dbt runs (aspects-dbt) log in as the schema owner: no other password reaches them.
DBT_SECRETS = ("ASPECTS_CLICKHOUSE_PASSWORD",)


@jinja2.pass_context
def aspects_job_environment(
    context: jinja2.runtime.Context, secrets: bool | t.Sequence[str] = False
) -> dict[str, str]:
    """The aspects jobs' settings, with their passwords (or those named) if `secrets`, rendered."""
    names = JOB_SECRETS if secrets is True else secrets or ()
    variables = {**JOB_ENVIRONMENT, **{name: JOB_SECRETS[name] for name in names}}
    values = context.get_all()
    return {
        name: compiled(context.environment, value).render(values)
        for name, value in variables.items()
    }


########################################
# DO COMMANDS
########################################


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def alembic(args: tuple[str, ...]) -> t.Iterator[tuple[str, str]]:
    """Run alembic, the ClickHouse schema migrations tool, e.g. `history` or `downgrade 0001`."""
    command = " ".join(shlex.quote(arg) for arg in args or ("current",))
    yield ("aspects", f"{ALEMBIC} {command}")


@click.command(name="load-xapi-test-data")
@click.option("--statements", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same statements.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--direct", is_flag=True, help="Insert into ClickHouse instead of going through Ralph."
)
def load_xapi_test_data(
    statements: int, seed: int, batch_size: int, direct: bool
) -> t.Iterator[tuple[str, str]]:
    """Load generated xAPI test statements, through Ralph as the LMS sends them."""
    options = f"--statements {statements} --seed {seed} --batch-size {batch_size}"
    yield (
        "aspects",
        f'python3 "{JOB_DIR}/load_xapi_test_data.py" {options}' + (" --direct" if direct else ""),
    )


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dbt(args: tuple[str, ...]) -> t.Iterator[tuple[str, str]]:
    """
    Run dbt on the Aspects models: by default only the models changed since the last complete
    run; or any dbt command, e.g. `run`, `test`, `build --select video_engagement`.
    """
    command = " ".join(shlex.quote(arg) for arg in args or ("changed",))
    yield ("aspects", f"{DBT} {command}")


@click.command(name="adopt-aspects-6")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
def adopt_aspects_6(dry_run: bool) -> t.Iterator[tuple[str, str]]:
    """
    Adopt the ClickHouse data of a tutor-contrib-aspects 6.x deployment: copy its statements
    into the raw table (each once), stop its materialized views and set aside its models that
    have the names of ours. Init does it too when it finds such a schema.
    """
    yield ("aspects", f"{ADOPT}" + (" --dry-run" if dry_run else ""))


@click.command(name="init-clickhouse")
def init_clickhouse() -> t.Iterator[tuple[str, str]]:
    """Create everything Aspects needs in ClickHouse: databases, users, schema and models."""
    for plugin in ("clickhouse", "aspects"):
        for service, script in hooks.Filters.CLI_DO_INIT_TASKS.iterate_from_context(
            hooks.Contexts.app(plugin).name
        ):
            # Not the LMS task of this plugin: it configures the LMS, not ClickHouse.
            if service in ("clickhouse", "aspects"):
                yield service, script


def _actor_ids(
    _context: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """Actor ids as statements carry them, checked as the job checks them."""
    # The job's module, imported by the one command that needs it.
    import argparse  # noqa: PLC0415

    from .delete_learner_data import actor_id  # noqa: PLC0415

    try:
        return tuple(actor_id(value) for value in values)
    except argparse.ArgumentTypeError as error:
        raise click.BadParameter(str(error)) from None


@click.command(name="delete-learner-data")
@click.option(
    "--user-id",
    "user_ids",
    type=click.IntRange(min=1),
    multiple=True,
    help="LMS user id of a learner (repeat for more); their actor ids are looked up in the "
    "event sink's external_id table.",
)
@click.option(
    "--actor-id",
    "actor_ids",
    multiple=True,
    callback=_actor_ids,
    help="Anonymous id that a learner's xAPI statements carry as actor, their external id of "
    "type xapi: a UUID, e.g. 2f1c9a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b (repeat for more).",
)
def delete_learner_data(
    user_ids: tuple[int, ...], actor_ids: tuple[str, ...]
) -> t.Iterator[tuple[str, str]]:
    """
    Delete every row of retired learners from ClickHouse: their xAPI statements, their rows in
    every reporting table and in the event sink tables. Returns once the rows are gone; safe to
    run again.
    """
    if not user_ids and not actor_ids:
        raise click.UsageError("give at least one --user-id or --actor-id")
    options = " ".join(
        [f"--user-id {user_id}" for user_id in user_ids]
        + [f"--actor-id {shlex.quote(actor)}" for actor in actor_ids]
    )
    yield ("aspects", f'python3 "{JOB_DIR}/delete_learner_data.py" {options}')


# Where Tutor's LMS writes its tracking logs, as a Libcloud LOCAL source: the folder `key`, its
# subfolder `container` and the start of the file names `prefix` (rotated logs included).
TRACKING_LOGS = {"key": "/openedx/data", "container": "logs", "prefix": "tracking.log"}


def _json_object(_context: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check that an option is a JSON object; give it back on one line."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise click.BadParameter('must be a JSON object, e.g. \'{"container": "logs"}\'')
    return json.dumps(parsed)


def _options(**options: t.Any) -> str:
    """Management command options, quoted for sh: flags when true, repeated values as a list."""
    words: list[str] = []
    for name, value in options.items():
        if value is None or value is False or value == ():
            continue
        words.append(f"--{name}")
        if isinstance(value, tuple):
            words += [shlex.quote(str(item)) for item in value]
        elif value is not True:
            words.append(shlex.quote(str(value)))
    return " ".join(words)


@click.command(name="transform-tracking-logs")
@click.option(
    "--source-provider",
    "--source_provider",
    default="LOCAL",
    show_default=True,
    help="Apache Libcloud storage provider holding the logs, e.g. LOCAL, S3, MINIO.",
)
@click.option(
    "--source-config",
    "--source_config",
    default=json.dumps(TRACKING_LOGS),
    show_default=True,
    callback=_json_object,
    help="JSON object: `container` (bucket, or subfolder of the folder `key` for LOCAL), "
    "`prefix` (start of the log file names) and the provider's credentials. Tutor prints the "
    "job, credentials included.",
)
@click.option(
    "--destination-provider",
    "--destination_provider",
    default="LRS",
    show_default=True,
    help="LRS: the LMS's enabled xAPI routers (Ralph); or a Libcloud provider to write files of "
    "statements to.",
)
@click.option(
    "--destination-config",
    "--destination_config",
    callback=_json_object,
    help="JSON object of the destination provider, like --source-config (not for LRS).",
)
@click.option(
    "--transformer-type",
    "--transformer_type",
    type=click.Choice(["xapi", "caliper"]),
    default="xapi",
    show_default=True,
)
@click.option(
    "--batch-size",
    "--batch_size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Statements per request to the LRS (or per file).",
)
@click.option(
    "--sleep-between-batches-secs",
    "--sleep_between_batches_secs",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Pause between batches, to spare the LMS and Ralph.",
)
@click.option("--dry-run", "--dry_run", is_flag=True, help="Transform every line but send nothing.")
@click.option(
    "--lrs-url",
    "lrs_urls",
    multiple=True,
    help="Send only to the router with this URL (repeat for more); default: every enabled one.",
)
def transform_tracking_logs(
    source_provider: str,
    source_config: str,
    destination_provider: str,
    destination_config: str | None,
    transformer_type: str,
    batch_size: int,
    sleep_between_batches_secs: float,
    dry_run: bool,
    lrs_urls: tuple[str, ...],
) -> t.Iterator[tuple[str, str]]:
    """
    Replay tracking log files through event-routing-backends: each event becomes an xAPI
    statement sent to Ralph, as if the LMS had just emitted it. Statements already stored are
    not stored twice.
    """
    if destination_provider != "LRS" and destination_config is None:
        raise click.UsageError("--destination-config is needed unless the destination is LRS")
    source = json.loads(source_config)
    where = f"{source.get('container', '')}/{source.get('prefix', '')}*"
    options = _options(
        source_provider=source_provider,
        source_config=source_config,
        destination_provider=destination_provider,
        destination_config=destination_config,
        transformer_type=transformer_type,
        batch_size=batch_size,
        sleep_between_batches_secs=sleep_between_batches_secs,
        dry_run=dry_run,
        **{"lrs-urls": lrs_urls},
    )
    target = "nowhere (dry run)" if dry_run else destination_provider
    message = (
        f"Transforming the tracking logs {where} ({source_provider}) into {transformer_type} "
        f"statements, sent to {target}"
    )
    yield (
        "lms",
        f"echo {shlex.quote(message)}\n"
        f"./manage.py lms transform_tracking_logs {options}\n"
        "echo 'Tracking logs transformed'",
    )


@click.command(name="dump-data-to-clickhouse")
@click.option(
    "--service",
    type=click.Choice(["lms", "cms"]),
    default="lms",
    show_default=True,
    help="Where to run the command.",
)
@click.option(
    "--object",
    "object_",
    type=click.Choice(EVENT_SINK_MODELS),
    default="course_overviews",
    show_default=True,
    help="What to send (it must be in EVENT_SINK_MODELS_ENABLED).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Send every object, not only those changed since they were last sent.",
)
@click.option("--ids", multiple=True, help="Send only this object (repeat for more).")
@click.option(
    "--ids-to-skip", "--ids_to_skip", multiple=True, help="Leave out this object (repeatable)."
)
@click.option("--limit", type=click.IntRange(min=1), help="Send at most this many objects.")
@click.option(
    "--batch-size", "--batch_size", type=click.IntRange(min=1), default=10_000, show_default=True
)
@click.option(
    "--sleep-time",
    "--sleep_time",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Seconds to pause between batches.",
)
def dump_data_to_clickhouse(
    service: str,
    object_: str,
    force: bool,
    ids: tuple[str, ...],
    ids_to_skip: tuple[str, ...],
    limit: int | None,
    batch_size: int,
    sleep_time: int,
) -> t.Iterator[tuple[str, str]]:
    """
    Backfill the event sink database: send existing courses (or another object) to ClickHouse
    with platform-plugin-aspects, e.g. after installing Aspects on a running platform.
    """
    if limit is not None and (ids or force):
        raise click.UsageError("--limit cannot be used with --ids or --force")
    options = _options(
        object=object_,
        batch_size=batch_size,
        sleep_time=sleep_time,
        force=force,
        ids=ids,
        ids_to_skip=ids_to_skip,
        limit=limit,
    )
    which = "every" if force else "new and changed"
    yield (
        service,
        f"echo 'Sending {which} {object_} to ClickHouse from the {service}'\n"
        f"./manage.py {service} dump_data_to_clickhouse {options}\n"
        f"echo 'Sent {object_} to ClickHouse'",
    )


hooks.Filters.CLI_DO_COMMANDS.add_items(
    [
        adopt_aspects_6,
        alembic,
        dbt,
        delete_learner_data,
        dump_data_to_clickhouse,
        init_clickhouse,
        load_xapi_test_data,
        transform_tracking_logs,
    ]
)

########################################
# COMMANDS
########################################


# Where the superset plugin renders asset bundles (not imported from it: importing its plugin
# module would register its settings even when it is not enabled).
SUPERSET_ASSETS = ("plugins", "superset", "build", "superset", "assets")


@click.group(name="aspects")
def aspects_command() -> None:
    """Open edX Aspects commands that run on this machine."""


@aspects_command.command(name="check-superset-assets")
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    help="A rendered asset bundle to check; by default the aspects bundle as Tutor last "
    "rendered it in this project (`tutor config save`).",
)
@click.option(
    "--dbt-models",
    type=click.Path(file_okay=False, path_type=Path),
    help="The dbt models folder whose .yml files document the tables' columns; by default the "
    "bundled dbt project's.",
)
@click.option(
    "--clickhouse-url",
    envvar="ASPECTS_CHECK_CLICKHOUSE_URL",
    help="Check the columns on this live ClickHouse server as well, e.g. "
    "http://user:password@localhost:8123 (or set ASPECTS_CHECK_CLICKHOUSE_URL, to keep the "
    "password out of the shell's history); never printed.",
)
@click.pass_obj
def check_superset_assets(
    context: t.Any, bundle: Path | None, dbt_models: Path | None, clickhouse_url: str | None
) -> None:
    """
    Check the Superset asset bundle against the ClickHouse schema: charts' datasets and
    columns, datasets' columns and SQL, dashboards' charts. Exits with 1 on a problem.
    """
    # Imported here: importing them with the plugin would register Tutor's own settings as ours.
    from tutor import config as tutor_config  # noqa: PLC0415
    from tutor import env as tutor_env  # noqa: PLC0415

    # Only this command uses the checker: every other `tutor` call is spared loading it.
    from . import assets_check  # noqa: PLC0415

    config = tutor_config.load(context.root)
    directory = bundle or Path(
        tutor_env.pathjoin(context.root, *SUPERSET_ASSETS, superset.BUNDLE.name)
    )
    if config["DBT_REPOSITORY"] and dbt_models is None:
        click.echo(
            "DBT_REPOSITORY is set: columns are checked against the bundled dbt project's "
            "documentation; give --dbt-models to check against yours."
        )
    try:
        schemas = [
            assets_check.dbt_schema(
                dbt_models or Path(str(PACKAGE / "dbt" / "models")),
                config["DBT_PROFILE_TARGET_DATABASE"],
                {
                    "ASPECTS_XAPI_DATABASE": config["ASPECTS_XAPI_DATABASE"],
                    "ASPECTS_RAW_XAPI_TABLE": config["ASPECTS_RAW_XAPI_TABLE"],
                },
            )
        ]
        if clickhouse_url:
            schemas.append(assets_check.clickhouse_schema(clickhouse_url))
        report = assets_check.check_bundle(directory, schemas, assets_check.default_parser(schemas))
    except assets_check.CheckError as error:
        raise exceptions.TutorError(str(error)) from error
    click.echo(assets_check.format_report(report, directory, schemas))
    if not report.ok:
        raise exceptions.TutorError(
            f"{len(report.problems)} problem(s) in the Superset asset bundle {directory}"
        )


hooks.Filters.CLI_COMMANDS.add_item(aspects_command)

########################################
# DOCKER IMAGES
########################################

hooks.Filters.IMAGES_BUILD.add_item(
    ("aspects", ("plugins", "aspects", "build", "aspects"), "{{ DOCKER_IMAGE_ASPECTS }}", ())
)
hooks.Filters.IMAGES_PULL.add_item(("aspects", "{{ DOCKER_IMAGE_ASPECTS }}"))
hooks.Filters.IMAGES_PUSH.add_item(("aspects", "{{ DOCKER_IMAGE_ASPECTS }}"))

########################################
# TEMPLATE RENDERING
########################################

hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(PACKAGE / "templates"))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_items(
    [
        ("aspects/build", "plugins"),
        ("aspects/k8s", "plugins"),
    ]
)
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("aspects_job_environment", aspects_job_environment),
        ("aspects_dbt_secrets", DBT_SECRETS),
        ("aspects_alembic", ALEMBIC),
        ("aspects_dbt", DBT),
        ("aspects_adopt", ADOPT),
        # The event sink tables of personal data: the LMS sends them while ASPECTS_ENABLE_PII is on.
        ("aspects_pii_sink_models", list(grants.PII_TABLES)),
    ]
)

# Job files that are not Tutor templates (their own Jinja or Mako must stay as it is): copied
# verbatim into the image's build context.
JOB_FILES = (
    "migrations",
    "dbt",
    "run_dbt.sh",
    "dbt_state.py",
    "xapi_generator.py",
    "load_xapi_test_data.py",
    "delete_learner_data.py",
    "adopt_aspects_6.py",
)
# What running dbt (or Python) leaves in the job folders.
NOT_JOB_FILES = frozenset({"__pycache__", "target", "logs", "dbt_packages", ".user.yml"})


def sync_tree(source: Path, target: Path) -> None:
    """
    Make `target` a copy of `source`, leaving out NOT_JOB_FILES, and write only the files that
    changed: `tutor config save` does this at every save.
    """
    wanted = set()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if NOT_JOB_FILES.intersection(relative.parts):
            continue
        wanted.add(relative)
        destination = target / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.is_file() or not filecmp.cmp(path, destination):
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    for path in sorted(target.rglob("*"), reverse=True):  # deepest first
        relative = path.relative_to(target)
        if relative not in wanted and not NOT_JOB_FILES.intersection(relative.parts):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


@hooks.Actions.ENV_SAVED.add()
def _copy_job_files(root_env: str, _config: Config) -> None:
    context = Path(root_env) / "plugins" / "aspects" / "build" / "aspects"
    for name in JOB_FILES:
        source = Path(str(PACKAGE / name))
        if source.is_dir():
            sync_tree(source, context / name)
        else:
            shutil.copy2(source, context / name)


# Rendered files holding passwords that only docker compose and kubectl read on this machine:
# readable by their owner only. So are the compose files, where services have passwords in
# their environment (the aspects job, the scheduled dbt runs, Tutor's own services) exactly as
# configured: an env_file would read $, # and quotes in a value as syntax. The job image's
# build context holds none: the jobs read theirs from the environment.
private_files("plugins/aspects/k8s/job-secret.yml", *COMPOSE_FILES)


########################################
# RALPH
########################################

RALPH_CLICKHOUSE = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
RALPH_SETTINGS.add_items(
    [
        ("RALPH_RUNSERVER_BACKEND", "clickhouse"),
        (RALPH_CLICKHOUSE + "HOST", "{{ CLICKHOUSE_HOST }}"),
        # clickhouse-connect switches to HTTPS on ports 443 and 8443.
        (RALPH_CLICKHOUSE + "PORT", "{{ CLICKHOUSE_PORT }}"),
        (RALPH_CLICKHOUSE + "DATABASE", "{{ ASPECTS_XAPI_DATABASE }}"),
        (RALPH_CLICKHOUSE + "EVENT_TABLE_NAME", "{{ ASPECTS_RAW_XAPI_TABLE }}"),
        (RALPH_CLICKHOUSE + "USERNAME", "{{ ASPECTS_CLICKHOUSE_LRS_USER }}"),
        (RALPH_CLICKHOUSE + "PASSWORD", "{{ ASPECTS_CLICKHOUSE_LRS_PASSWORD }}"),
        # One INSERT per request. Ralph's default writes 500 statements at a time: a statement
        # it cannot write in a later chunk left the earlier chunks stored behind a 500. Below
        # ClickHouse's max_insert_block_size, so the server too takes it as one block.
        (RALPH_CLICKHOUSE + "WRITE_CHUNK_SIZE", "1000000"),
    ]
)

########################################
# PATCH LOADING
########################################

for patch in (PACKAGE / "patches").iterdir():
    hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text(encoding="utf-8")))
