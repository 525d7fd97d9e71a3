"""
The aspects plugin's settings: one table (name, default, description, check) from which Tutor's
defaults, docs/configuration.md and the checks of values come; then the checks that involve
several settings or other plugins.
"""

from __future__ import annotations

import re
import typing as t

from tutor.types import Config

from tutorcommon import checks
from tutorcommon.settings import Setting, plugin_rows, value_errors

from . import clickhouse, superset
from .__about__ import __version__

# What git accepts for the dbt project's place.
GIT_URL = re.compile(r"^((https?|ssh|git|file)://\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$")
GIT_REF = re.compile(r"^[A-Za-z0-9._/-]+$")
RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/-]*$")
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

git_url = checks.matching(GIT_URL, "a git URL such as https://host/org/project.git", optional=True)
git_ref = checks.matching(GIT_REF, "a git branch or tag")
relative_path = checks.matching(RELATIVE_PATH, "a folder inside DBT_REPOSITORY (relative, no ..)")
at_least_1 = checks.whole_number(1)


def whole_number_from(lowest: int, highest: int) -> checks.Check:
    """A YAML integer from `lowest` to `highest`."""

    def check(key: str, value: t.Any) -> t.Iterator[str]:
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            yield f"{key} must be a whole number from {lowest} to {highest}, not {value!r}"

    return check


def pip_requirement(key: str, value: t.Any) -> t.Iterator[str]:
    # Installed with `pip install '<requirement>'` in the Open edX Dockerfile.
    if not isinstance(value, str) or not value.strip() or "'" in value:
        yield f"{key} must be a pip requirement without quotes, not {value!r}"
    elif "\n" in value:
        yield f"{key} must be a pip requirement on one line, not {value!r}"


def pip_packages(key: str, value: t.Any) -> t.Iterator[str]:
    if not isinstance(value, list) or not all(
        isinstance(p, str) and p.strip() and "\n" not in p for p in value
    ):
        yield f"{key} must be a list of pip requirements, not {value!r}"


def dashboard_locales(_key: str, value: t.Any) -> t.Iterator[str]:
    # Any language: one without a catalog gets English dashboards and a warning, no error.
    if error := superset.locales_error(value):
        yield error


def event_sink_models(key: str, value: t.Any) -> t.Iterator[str]:
    if not isinstance(value, list) or not all(model in EVENT_SINK_MODELS for model in value):
        yield f"{key} must be a list of {', '.join(EVENT_SINK_MODELS)}; not {value!r}"


DEFAULTS: list[Setting] = [
    *plugin_rows(
        "ASPECTS",
        __version__,
        image="{{ DOCKER_REGISTRY }}openedx/aspects-jobs:{{ ASPECTS_VERSION }}",
        image_says="Image of the Aspects jobs (migrations, dbt, test data), built by `tutor "
        "images build aspects`.",
    ),
    Setting(
        "ASPECTS_XAPI_DATABASE",
        "xapi",
        "ClickHouse database of the raw xAPI statements.",
        checks.identifier,
    ),
    Setting(
        "ASPECTS_RAW_XAPI_TABLE",
        "xapi_events_all",
        "Table that Ralph writes statements to.",
        checks.identifier,
    ),
    Setting(
        "ASPECTS_DATA_TTL_EXPRESSION",
        "",
        "How long raw statements are kept, as a ClickHouse TTL expression, e.g. "
        "`toDateTime(emission_time) + INTERVAL 5 YEAR`; empty keeps them forever. Applies when "
        "the table is created.",
    ),
    Setting(
        "ASPECTS_EVENT_SINK_DATABASE",
        "event_sink",
        "ClickHouse database of the course structure and names sent by the CMS.",
        checks.identifier,
    ),
    Setting(
        "DBT_PROFILE_TARGET_DATABASE",
        "reporting",
        "ClickHouse database of the dbt models that dashboards read.",
        checks.identifier,
    ),
    Setting(
        "DBT_REPOSITORY",
        "",
        "Git repository of a dbt project to run instead of the bundled one (its profile must be "
        "named `aspects`); empty for the bundled project.",
        git_url,
    ),
    Setting("DBT_BRANCH", "main", "Branch or tag of DBT_REPOSITORY.", git_ref),
    Setting(
        "DBT_REPOSITORY_PATH", "", "Folder of the dbt project inside DBT_REPOSITORY.", relative_path
    ),
    Setting(
        "EXTRA_DBT_PACKAGES",
        [],
        "More pip packages for the job image, e.g. dbt packages' Python needs "
        "(`tutor images build aspects` after a change).",
        pip_packages,
    ),
    Setting(
        "ASPECTS_DBT_RUN_INTERVAL_MINUTES",
        5,
        "Minutes between the dbt runs that bring new statements into the reporting models "
        "(1-59); 0 runs dbt only when asked (`tutor local do dbt`).",
        whole_number_from(0, 59),
    ),
    Setting(
        "ASPECTS_AT_RISK_INACTIVE_DAYS",
        14,
        "Learners at risk: days without a visit (learning activity, not grades) after which "
        "an enrolled learner is at risk; 0 turns this criterion off.",
        whole_number_from(0, 3650),
    ),
    Setting(
        "ASPECTS_AT_RISK_GRADE_BELOW_PERCENT",
        50,
        "Learners at risk: a course grade below this percent, for a learner who has not "
        "passed, is failing; 0 turns this criterion off.",
        whole_number_from(0, 100),
    ),
    Setting(
        "ASPECTS_AT_RISK_PROGRESS_BELOW_PERCENT",
        25,
        "Learners at risk: completing fewer than this percent of the course's blocks (those "
        "of its outline the CMS sent) is low progress; 0 turns this criterion off.",
        whole_number_from(0, 100),
    ),
    Setting(
        "ASPECTS_K8S_RESOURCES",
        {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "Kubernetes resource requests and limits of the aspects job and of the scheduled dbt "
        "runs (the CronJob aspects-dbt): cpu and memory requested, memory limited.",
        checks.kubernetes_resources,
    ),
    Setting(
        "ASPECTS_CLICKHOUSE_LRS_USER",
        "ch_lrs",
        "ClickHouse user of Ralph (the raw table only).",
        checks.identifier,
    ),
    Setting(
        "ASPECTS_CLICKHOUSE_REPORT_USER",
        "ch_report",
        "ClickHouse user of Superset: reads the reporting database, read-only and bounded.",
        checks.identifier,
    ),
    Setting(
        "ASPECTS_CLICKHOUSE_MIGRATIONS_USER",
        "ch_migrations",
        "ClickHouse user of schema migrations and dbt: DDL on the Aspects databases only.",
        checks.identifier,
    ),
    Setting(
        "ASPECTS_CLICKHOUSE_CMS_USER",
        "ch_cms",
        "ClickHouse user of the CMS: writes course structure to the event sink database.",
        checks.identifier,
    ),
    Setting(
        "ASPECTS_CLICKHOUSE_RETIREMENT_USER",
        "ch_retirement",
        "ClickHouse user of `tutor local do delete-learner-data`: reads and deletes rows in the "
        "Aspects databases, nothing else.",
        checks.identifier,
    ),
    Setting(
        "SUPERSET_DASHBOARD_LOCALES",
        ["en", "es", "fr"],
        "Languages the Aspects dashboards are imported in, one copy each: any language code "
        "(pt_BR, de...); one without a catalog (bundled: es, fr) gets English titles and a "
        "warning on `tutor config save`.",
        dashboard_locales,
    ),
    Setting(
        "ASPECTS_ENABLE_PII",
        False,
        "Show learners' usernames, names and emails in Superset (the individual learner view); "
        "on, the LMS also sends them (the user_profile and external_id event sinks); "
        "off, dashboards show anonymous ids only and the report user cannot read personal data.",
        checks.boolean,
    ),
    Setting(
        "ASPECTS_REPORT_MAX_EXECUTION_TIME",
        60,
        "Seconds a query of the report user may run.",
        at_least_1,
    ),
    Setting(
        "ASPECTS_REPORT_MAX_MEMORY_USAGE",
        4_000_000_000,
        "Bytes of memory a query of the report user may use.",
        at_least_1,
    ),
    Setting(
        "ASPECTS_REPORT_MAX_RESULT_ROWS",
        1_000_000,
        "Rows a query of the report user may return (more are cut off).",
        at_least_1,
    ),
    Setting(
        "ASPECTS_EVENT_ROUTING_BACKENDS_REQUIREMENT",
        # Releases: https://pypi.org/project/edx-event-routing-backends/#history
        "edx-event-routing-backends==10.1.0",
        "pip requirement of event-routing-backends, which turns the LMS and CMS tracking events "
        "into xAPI statements and sends them to Ralph; installed in the Open edX image "
        "(`tutor images build openedx` after a change).",
        pip_requirement,
    ),
    Setting(
        "ASPECTS_PLATFORM_PLUGIN_REQUIREMENT",
        # Releases: https://pypi.org/project/platform-plugin-aspects/#history
        "platform-plugin-aspects==2.1.0",
        "pip requirement of platform-plugin-aspects, which sends course structure to ClickHouse "
        "and backfills it (`tutor local do dump-data-to-clickhouse`); installed in the Open edX "
        "image.",
        pip_requirement,
    ),
    Setting(
        "EVENT_ROUTING_BACKEND_BATCHING_ENABLED",
        True,
        "Send xAPI statements to Ralph in batches (kept in the platform's Redis) rather than one "
        "request per event; much lighter on the LMS and Ralph.",
        checks.boolean,
    ),
    Setting(
        "EVENT_ROUTING_BACKEND_BATCH_SIZE",
        100,
        "Statements in a batch: it is sent as soon as it is full, or after "
        "EVENT_ROUTING_BACKEND_BATCH_INTERVAL.",
        at_least_1,
    ),
    Setting(
        "EVENT_ROUTING_BACKEND_BATCH_INTERVAL",
        5,
        "Seconds after the last batch was sent when the next one is sent, full or not.",
        at_least_1,
    ),
    Setting(
        "EVENT_SINK_MODELS_ENABLED",
        ["course_overviews"],
        "What platform-plugin-aspects sends to the event sink database when it changes, e.g. "
        "`course_overviews` (course names, dates and blocks, sent when a course is published).",
        event_sink_models,
    ),
    Setting(
        "ASPECTS_EVENT_SINK_CLICKHOUSE_TIMEOUT_SECS",
        5,
        "Seconds the LMS and CMS wait for ClickHouse when sending course structure.",
        at_least_1,
    ),
]

UNIQUE: list[Setting] = [
    Setting(
        user.password_setting,
        "{{ 24|random_string }}",
        f"Password of {user.name_setting}.",
        checks.not_empty,
    )
    for user in clickhouse.ASPECTS_USERS
]

# The criteria of learners at risk (0 turns one off), passed to dbt by the job environment.
AT_RISK_KEYS = [s.name for s in DEFAULTS if s.name.startswith("ASPECTS_AT_RISK_")]

NEEDED_PLUGINS = ("clickhouse", "ralph")
# Ralph's settings give clickhouse-connect a host and a port only: it speaks HTTPS on these.
RALPH_HTTPS_PORTS = ("443", "8443")
DATABASE_KEYS = (
    "ASPECTS_XAPI_DATABASE",
    "ASPECTS_EVENT_SINK_DATABASE",
    "DBT_PROFILE_TARGET_DATABASE",
)


def config_errors(config: Config) -> t.Iterator[str]:
    """Say what is wrong with the aspects settings, one message per offending key."""
    for plugin in NEEDED_PLUGINS:
        if plugin not in config.get("PLUGINS", []):
            yield f"aspects needs the {plugin} plugin: run `tutor plugins enable {plugin}`"
    yield from value_errors(DEFAULTS + UNIQUE, config)
    https_port = config["CLICKHOUSE_HTTPS_PORT"]
    if config["CLICKHOUSE_SECURE_CONNECTION"] is True and str(https_port) not in RALPH_HTTPS_PORTS:
        yield (
            "CLICKHOUSE_HTTPS_PORT must be 8443 or 443 with CLICKHOUSE_SECURE_CONNECTION: Ralph's "
            "ClickHouse client (clickhouse-connect) uses HTTPS on those ports only, and would "
            f"speak plain HTTP to port {https_port!r}"
        )
    databases = [str(config[key]) for key in DATABASE_KEYS]
    if len(set(databases)) < len(databases):
        # Each user's grants are per database: a shared one would open the raw statements to
        # the report user.
        yield f"{', '.join(DATABASE_KEYS)} must be three different databases, not {databases!r}"
    user_keys = ("CLICKHOUSE_ADMIN_USER", *(user.name_setting for user in clickhouse.ASPECTS_USERS))
    users = {key: str(config[key]) for key in user_keys}
    for name in sorted({name for name in users.values() if list(users.values()).count(name) > 1}):
        keys = [key for key, value in users.items() if value == name]
        yield f"{' and '.join(keys)} must be different ClickHouse users, not both {name!r}"
