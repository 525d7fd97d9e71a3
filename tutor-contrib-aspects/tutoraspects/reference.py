"""
What becomes here of a config.yml written for the reference plugin, tutor-contrib-aspects 6.1.0
(one plugin that held what clickhouse, ralph, superset and aspects hold now).

One table, SETTINGS, gives every setting of the reference one fate:

- read: a plugin here reads it under the same name, with the same meaning;
- translated: its value moves to settings of another name or shape, owned by the plugin named;
  `tutor config save` writes them in config.yml and says so;
- unused: it means nothing here; `tutor config save` warns when config.yml sets it, naming what
  replaces it or why there is nothing to set.

PATCHES does the same for the patch names that the reference's templates render, which the
operators' own plugins may fill. The reference's list of settings, with their defaults, is
reference-6.1.0.json beside this module, generated from the reference's wheel by
tools/reference_settings.py. docs/upgrading-from-aspects.md is generated from both tables.

What `tutor config save` does with them is in tutoraspects.upgrade.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import typing as t
from importlib import resources

from tutor.types import Config

READ, TRANSLATED, UNUSED = "read", "translated", "unused"
# The default recorded for a value the reference draws when its plugin is imported.
RANDOM_MARKER = "<random, drawn when the plugin is imported>"
PLUGINS = ("clickhouse", "ralph", "superset", "aspects")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of the reference and its fate here."""

    name: str
    fate: str
    # The plugin that reads the setting, or owns the settings it is translated into.
    plugin: str = ""
    # translated: the settings it may become; `carry` gives their values from the setting's
    # value and the rest of config.yml, or None when the value cannot be carried.
    into: tuple[str, ...] = ()
    carry: t.Callable[[t.Any, Config], dict[str, t.Any] | None] | None = None
    # unused: what replaces it, or why it means nothing here. read: a caution, printed on
    # `config save` when config.yml sets a value for which `caution_when` holds.
    says: str = ""
    caution_when: t.Callable[[t.Any], bool] | None = None


def read(name: str, plugin: str, caution: str = "", when: t.Callable[[t.Any], bool] | None = None):
    return Setting(
        name,
        READ,
        plugin,
        says=caution,
        caution_when=(when or (lambda _: True)) if caution else None,
    )


def moved(name: str, plugin: str, into: str, convert: t.Callable[[t.Any], t.Any] = lambda v: v):
    """Translated to one setting, same meaning, another name."""
    return Setting(name, TRANSLATED, plugin, (into,), lambda value, _config: {into: convert(value)})


def unused(name: str, says: str) -> Setting:
    return Setting(name, UNUSED, says=says)


def port(value: t.Any) -> t.Any:
    """A port number as this project writes them; any other value is kept for the checks."""
    return int(value) if str(value).isdigit() else value


def clickhouse_port(value: t.Any, config: Config) -> dict[str, t.Any]:
    """The port clients use: HTTPS or HTTP, after CLICKHOUSE_SECURE_CONNECTION."""
    secure = config.get("CLICKHOUSE_SECURE_CONNECTION") is True
    return {"CLICKHOUSE_HTTPS_PORT" if secure else "CLICKHOUSE_HTTP_PORT": port(value)}


def clickhouse_url(value: t.Any, config: Config) -> dict[str, t.Any] | None:
    """host:port, as the reference's CLICKHOUSE_URL."""
    match = re.fullmatch(r"(?:https?://)?([A-Za-z0-9.-]+):(\d+)/?", str(value).strip())
    if not match:
        return None
    return {"CLICKHOUSE_HOST": match[1], **clickhouse_port(match[2], config)}


VECTOR = (
    "Vector is not part of this project: the LMS sends xAPI statements to Ralph "
    "(event-routing-backends), which writes them to ClickHouse."
)
ADOPTED = (
    "Only `tutor local do adopt-aspects-6` reads it, to find the reference's {} in ClickHouse "
    "(see docs/upgrading-from-aspects.md)."
)
# Where the reference kept its raw statements (Ralph's table, Vector's) and its migrations'
# version table, for `do adopt-aspects-6`: its own settings when config.yml still has them,
# else its defaults.
VECTOR_XAPI_TABLE = "{{ ASPECTS_VECTOR_DATABASE|default('openedx') }}.{{ ASPECTS_RAW_XAPI_TABLE }}"
ADOPTION_ENVIRONMENT = {
    "ASPECTS_6_XAPI_TABLES": (
        "{{ RALPH_DATABASE|default('xapi') }}.{{ ASPECTS_RAW_XAPI_TABLE }} " + VECTOR_XAPI_TABLE
    ),
    "ASPECTS_6_VERSION_TABLE": (
        "{{ ASPECTS_ALEMBIC_MIGRATIONS_DATABASE|default(RALPH_DATABASE|default('xapi')) }}"
        ".alembic_version"
    ),
}
NATIVE = (
    "Every client here speaks ClickHouse's HTTP interface (CLICKHOUSE_HTTP_PORT, "
    "CLICKHOUSE_HTTPS_PORT); the native protocol's port is not configured."
)
HOST_PORT = (
    "ClickHouse is not published on the Docker host here: the platform's containers reach it "
    "at CLICKHOUSE_HOST:CLICKHOUSE_PORT. To publish it, add a `ports` entry to the clickhouse "
    "service in env/local/docker-compose.override.yml."
)
DERIVED = "Built here from {}; set those instead."
HELP = (
    "The dashboards' help is part of the dashboards bundled with the aspects plugin; "
    "a plugin may import its own dashboards through tutorsuperset.hooks.ASSETS."
)
REFRESH = (
    "Course structure and video watch tables are dbt models here, rebuilt by the scheduled dbt "
    "runs every ASPECTS_DBT_RUN_INTERVAL_MINUTES."
)
EVENT_BUS = (
    "The event bus is not used: platform-plugin-aspects sends course structure straight to "
    "ClickHouse (EVENT_SINK_MODELS_ENABLED)."
)
EMBEDDED = (
    "The LMS's Reports tab shows the bundled course dashboards, embedded in every language of "
    "SUPERSET_DASHBOARD_LOCALES; a plugin embeds more through "
    "tutorsuperset.hooks.EMBEDDED_DASHBOARDS."
)
IMAGE = (
    "must name an image built from this project (`tutor images build {}`): an image built for "
    "the reference holds the reference's code."
)
DBT_JOB = "The dbt project's files sit at fixed places in the aspects job image."

SETTINGS: tuple[Setting, ...] = (
    # ClickHouse
    read("RUN_CLICKHOUSE", "clickhouse"),
    read("DOCKER_IMAGE_CLICKHOUSE", "clickhouse"),
    read("CLICKHOUSE_HOST", "clickhouse"),
    read("CLICKHOUSE_CLUSTER_NAME", "clickhouse"),
    read("CLICKHOUSE_K8S_VOLUME_SIZE", "clickhouse"),
    read("CLICKHOUSE_ADMIN_USER", "clickhouse"),
    read("CLICKHOUSE_ADMIN_PASSWORD", "clickhouse"),
    read("CLICKHOUSE_SECURE_CONNECTION", "clickhouse"),
    moved("CLICKHOUSE_INTERNAL_INSECURE_HTTP_PORT", "clickhouse", "CLICKHOUSE_HTTP_PORT", port),
    moved("CLICKHOUSE_INTERNAL_TLS_HTTP_PORT", "clickhouse", "CLICKHOUSE_HTTPS_PORT", port),
    Setting(
        "CLICKHOUSE_INTERNAL_HTTP_PORT",
        TRANSLATED,
        "clickhouse",
        ("CLICKHOUSE_HTTP_PORT", "CLICKHOUSE_HTTPS_PORT"),
        clickhouse_port,
        "CLICKHOUSE_HTTPS_PORT when CLICKHOUSE_SECURE_CONNECTION is true, CLICKHOUSE_HTTP_PORT "
        "otherwise.",
    ),
    Setting(
        "CLICKHOUSE_URL",
        TRANSLATED,
        "clickhouse",
        ("CLICKHOUSE_HOST", "CLICKHOUSE_HTTP_PORT", "CLICKHOUSE_HTTPS_PORT"),
        clickhouse_url,
        "host:port is split into CLICKHOUSE_HOST and the port (HTTPS or HTTP, after "
        "CLICKHOUSE_SECURE_CONNECTION).",
    ),
    unused("CLICKHOUSE_HOST_HTTP_PORT", HOST_PORT),
    unused("CLICKHOUSE_HOST_INSECURE_HTTP_PORT", HOST_PORT),
    unused("CLICKHOUSE_HOST_TLS_HTTP_PORT", HOST_PORT),
    unused("CLICKHOUSE_HOST_NATIVE_PORT", HOST_PORT),
    unused("CLICKHOUSE_HOST_INSECURE_NATIVE_PORT", HOST_PORT),
    unused("CLICKHOUSE_HOST_TLS_NATIVE_PORT", HOST_PORT),
    unused("CLICKHOUSE_INTERNAL_NATIVE_PORT", NATIVE),
    unused("CLICKHOUSE_INTERNAL_INSECURE_NATIVE_PORT", NATIVE),
    unused("CLICKHOUSE_INTERNAL_TLS_NATIVE_PORT", NATIVE),
    unused(
        "CLICKHOUSE_CLUSTER_DDL_NODE_HOST",
        "Schema migrations and dbt send their DDL to CLICKHOUSE_HOST, ON CLUSTER "
        "CLICKHOUSE_CLUSTER_NAME when it is set.",
    ),
    unused(
        "CLICKHOUSE_REPORT_URL",
        DERIVED.format("CLICKHOUSE_HOST, CLICKHOUSE_PORT and ASPECTS_CLICKHOUSE_REPORT_USER"),
    ),
    unused(
        "CLICKHOUSE_REPORT_SQLALCHEMY_URI",
        DERIVED.format("CLICKHOUSE_HOST, CLICKHOUSE_PORT and ASPECTS_CLICKHOUSE_REPORT_USER"),
    ),
    unused(
        "CLICKHOUSE_ADMIN_SQLALCHEMY_URI",
        DERIVED.format("CLICKHOUSE_HOST, CLICKHOUSE_PORT and CLICKHOUSE_ADMIN_USER")
        + " Migrations log in as ASPECTS_CLICKHOUSE_MIGRATIONS_USER.",
    ),
    # Ralph
    read(
        "RUN_RALPH",
        "ralph",
        "RUN_RALPH is false: here that means a Ralph server run elsewhere, at RALPH_HOST; every "
        "statement goes through Ralph (there is no Vector). Unset it to run Ralph.",
        when=lambda value: value is False,
    ),
    read("DOCKER_IMAGE_RALPH", "ralph"),
    read("RALPH_HOST", "ralph"),
    read("RALPH_PORT", "ralph"),
    read("RALPH_ENABLE_PUBLIC_URL", "ralph"),
    read("RALPH_RUN_HTTPS", "ralph"),
    read("RALPH_EXTRA_SETTINGS", "ralph"),
    read("RALPH_ADMIN_USERNAME", "ralph"),
    read("RALPH_ADMIN_PASSWORD", "ralph"),
    read("RALPH_ADMIN_HASHED_PASSWORD", "ralph"),
    read("RALPH_LMS_USERNAME", "ralph"),
    read("RALPH_LMS_PASSWORD", "ralph"),
    read("RALPH_LMS_HASHED_PASSWORD", "ralph"),
    moved("RALPH_DATABASE", "aspects", "ASPECTS_XAPI_DATABASE"),
    # Superset
    read("RUN_SUPERSET", "superset"),
    read("DOCKER_IMAGE_SUPERSET", "superset", "DOCKER_IMAGE_SUPERSET " + IMAGE.format("superset")),
    read("SUPERSET_HOST", "superset"),
    read("SUPERSET_PORT", "superset"),
    read("SUPERSET_DB_HOST", "superset"),
    read("SUPERSET_DB_PORT", "superset"),
    read("SUPERSET_DB_NAME", "superset"),
    read("SUPERSET_DB_USERNAME", "superset"),
    read("SUPERSET_DB_PASSWORD", "superset"),
    read("SUPERSET_EXTRA_REQUIREMENTS", "superset"),
    read("SUPERSET_OAUTH2_ACCESS_TOKEN_PATH", "superset"),
    read("SUPERSET_OAUTH2_AUTHORIZE_PATH", "superset"),
    read("SUPERSET_OAUTH2_CLIENT_ID", "superset"),
    read("SUPERSET_OAUTH2_CLIENT_ID_DEV", "superset"),
    read("SUPERSET_OAUTH2_CLIENT_SECRET", "superset"),
    read("SUPERSET_ADMIN_EMAIL", "superset"),
    read("SUPERSET_ADMIN_USERNAME", "superset"),
    read("SUPERSET_ADMIN_PASSWORD", "superset"),
    read("SUPERSET_LMS_USERNAME", "superset"),
    read("SUPERSET_LMS_PASSWORD", "superset"),
    read("SUPERSET_SECRET_KEY", "superset"),
    read("SUPERSET_SUPPORTED_LANGUAGES", "superset"),
    read("SUPERSET_SENTRY_DSN", "superset"),
    moved("SUPERSET_DB_METADATA_NAME", "superset", "SUPERSET_DB_NAME"),
    moved(
        "SUPERSET_USER_PERMISSIONS_CACHE_TIMEOUT", "superset", "SUPERSET_USER_COURSES_CACHE_TIMEOUT"
    ),
    unused("SUPERSET_DB_DIALECT", "Superset's metadata database is MySQL (SUPERSET_DB_*)."),
    unused(
        "SUPERSET_METADATA_SQLALCHEMY_URI",
        DERIVED.format("SUPERSET_DB_HOST, SUPERSET_DB_PORT, SUPERSET_DB_NAME and SUPERSET_DB_*"),
    ),
    unused(
        "SUPERSET_DATABASES",
        "Plugins connect Superset to their databases through tutorsuperset.hooks.DATABASES "
        "(aspects adds its ClickHouse connection).",
    ),
    unused(
        "SUPERSET_CELERY_WORKER_EXTRA_ARGS",
        "The Celery worker's command is fixed; scale it with SUPERSET_WORKER_REPLICAS and "
        "SUPERSET_WORKER_K8S_RESOURCES.",
    ),
    unused(
        "SUPERSET_OPENEDX_COURSES_LIST_PATH",
        "Superset asks the LMS at SUPERSET_LMS_INTERNAL_URL through fixed API paths.",
    ),
    unused(
        "SUPERSET_OPENEDX_PREFERENCE_PATH",
        "Superset asks the LMS at SUPERSET_LMS_INTERNAL_URL through fixed API paths; the "
        "interface's language is SUPERSET_DEFAULT_LOCALE.",
    ),
    unused(
        "SUPERSET_ROLES_MAPPING",
        "Roles come from the LMS: global staff get Admin, course staff SUPERSET_COURSE_STAFF_ROLE; "
        "plugins add roles through tutorsuperset.hooks.ROLES.",
    ),
    unused(
        "SUPERSET_BLOCK_STUDENT_ACCESS",
        "Learners without a course role never get into Superset; course staff get "
        "SUPERSET_COURSE_STAFF_ROLE.",
    ),
    unused(
        "SUPERSET_BLOCK_INSTRUCTOR_ACCESS",
        "Course staff always get SUPERSET_COURSE_STAFF_ROLE, limited to their courses; to keep "
        "them out, leave the superset plugin disabled.",
    ),
    unused(
        "SUPERSET_LMS_EMAIL",
        "The LMS's Superset user (SUPERSET_LMS_USERNAME) gets the address "
        "SUPERSET_LMS_USERNAME@LMS_HOST.",
    ),
    unused(
        "SUPERSET_OWNERS",
        "The owners of the imported dashboards are not configured; Admin users edit them.",
    ),
    unused(
        "SUPERSET_ENABLE_PROXY_FIX",
        "Superset always trusts the forwarded headers of the platform's reverse proxy.",
    ),
    unused(
        "SUPERSET_EXTRA_JINJA_FILTERS",
        "Plugins add functions to Superset's SQL templates through "
        "tutorsuperset.hooks.JINJA_MACROS.",
    ),
    unused(
        "SUPERSET_REFRESH_DATASETS",
        "The bundled datasets are imported again, with their columns, by every init of the "
        "superset plugin (`tutor local do init --limit superset`).",
    ),
    unused(
        "SUPERSET_ROW_LEVEL_SECURITY_XAPI_GROUP_KEY",
        "Row-level security clauses come from tutorsuperset.hooks.RLS_FILTERS (aspects filters "
        "every dataset by course).",
    ),
    unused(
        "SUPERSET_SHOW_INSTRUCTOR_DASHBOARD_LINK",
        "The LMS's Reports tab shows the embedded dashboards without a link to Superset.",
    ),
    unused("SUPERSET_DASHBOARDS", EMBEDDED),
    unused("SUPERSET_EMBEDDABLE_DASHBOARDS", EMBEDDED),
    # Aspects
    read("ASPECTS_VERSION", "aspects"),
    read("DOCKER_IMAGE_ASPECTS", "aspects", "DOCKER_IMAGE_ASPECTS " + IMAGE.format("aspects")),
    read("ASPECTS_ENABLE_PII", "aspects"),
    read("EVENT_SINK_MODELS_ENABLED", "aspects"),
    read("EVENT_ROUTING_BACKEND_BATCHING_ENABLED", "aspects"),
    read("EVENT_ROUTING_BACKEND_BATCH_SIZE", "aspects"),
    read("EVENT_ROUTING_BACKEND_BATCH_INTERVAL", "aspects"),
    read("ASPECTS_XAPI_DATABASE", "aspects"),
    read("ASPECTS_RAW_XAPI_TABLE", "aspects"),
    read("ASPECTS_EVENT_SINK_DATABASE", "aspects"),
    read("ASPECTS_EVENT_SINK_CLICKHOUSE_TIMEOUT_SECS", "aspects"),
    read("ASPECTS_DATA_TTL_EXPRESSION", "aspects"),
    read("DBT_REPOSITORY", "aspects"),
    read("DBT_BRANCH", "aspects"),
    read("DBT_PROFILE_TARGET_DATABASE", "aspects"),
    read("SUPERSET_DASHBOARD_LOCALES", "aspects"),
    read("ASPECTS_CLICKHOUSE_LRS_USER", "aspects"),
    read("ASPECTS_CLICKHOUSE_LRS_PASSWORD", "aspects"),
    read("ASPECTS_CLICKHOUSE_REPORT_USER", "aspects"),
    read("ASPECTS_CLICKHOUSE_REPORT_PASSWORD", "aspects"),
    read("ASPECTS_CLICKHOUSE_CMS_USER", "aspects"),
    read("ASPECTS_CLICKHOUSE_CMS_PASSWORD", "aspects"),
    unused(
        "ASPECTS_XAPI_SOURCE",
        "Ralph is the only source of statements: it writes them to ASPECTS_RAW_XAPI_TABLE in "
        "ASPECTS_XAPI_DATABASE.",
    ),
    unused(
        "ASPECTS_ALEMBIC_MIGRATIONS_DATABASE",
        "Schema migrations keep their version table in ASPECTS_XAPI_DATABASE. "
        + ADOPTED.format("version table"),
    ),
    unused(
        "EVENT_SINK_PII_MODELS",
        "ASPECTS_ENABLE_PII decides: on, the LMS also sends user_profile and external_id.",
    ),
    unused(
        "ASPECTS_PII_CHART_UUIDS",
        "Without ASPECTS_ENABLE_PII the report user cannot read personal data: no chart is hidden.",
    ),
    unused(
        "ASPECTS_PII_CACHE_LIFETIME",
        "Dashboards read learners' names from ClickHouse tables, not from a cache.",
    ),
    unused("ASPECTS_COURSE_OVERVIEW_HELP_MARKDOWN", HELP),
    unused("ASPECTS_LEARNER_GROUPS_HELP_MARKDOWN", HELP),
    unused("ASPECTS_OPERATOR_HELP_MARKDOWN", HELP),
    unused("ASPECTS_INDIVIDUAL_LEARNER_HELP_MARKDOWN", HELP),
    unused("ASPECTS_COURSE_COMPARISON_HELP_MARKDOWN", HELP),
    unused(
        "ASPECTS_ENABLE_INSTRUCTOR_DASHBOARD_PLUGIN",
        "The Reports tab is on whenever the superset and aspects plugins are enabled.",
    ),
    unused("ASPECTS_INSTRUCTOR_DASHBOARDS", EMBEDDED),
    unused("ASPECTS_PII_INSTRUCTOR_DASHBOARDS", EMBEDDED),
    unused(
        "ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS",
        "Studio's in-context metrics (frontend-plugin-aspects) are not offered.",
    ),
    unused("ASPECTS_ENABLE_EVENT_BUS_CONSUMER", EVENT_BUS),
    unused("ASPECTS_ENABLE_EVENT_BUS_PRODUCER", EVENT_BUS),
    unused("ASPECTS_EVENT_BUS_CONSUMER_REPLICAS", EVENT_BUS),
    unused("ASPECTS_COURSE_STRUCTURE_REFRESH", REFRESH),
    unused("ASPECTS_COURSE_STRUCTURE_REFRESH_RANDOMIZE", REFRESH),
    unused("ASPECTS_VIDEO_WATCH_INTERVALS_REFRESH", REFRESH),
    unused("ASPECTS_VIDEO_WATCH_INTERVALS_REFRESH_RANDOMIZE", REFRESH),
    unused(
        "DBT_SSH_KEY",
        "git gets no SSH key: DBT_REPOSITORY must be reachable without one (https, with a token "
        "in the URL for a private repository).",
    ),
    unused("DBT_STATE_DIR", DBT_JOB),
    unused("DBT_PROFILES_DIR", DBT_JOB),
    unused("RUN_ASPECTS_DOCS", "dbt's documentation site is not served."),
    unused("DBT_HOST", "dbt's documentation site is not served."),
    # Vector and its S3 copy
    unused("RUN_VECTOR", VECTOR),
    unused("DOCKER_IMAGE_VECTOR", VECTOR),
    unused("ASPECTS_DOCKER_HOST_SOCK_PATH", VECTOR),
    unused("ASPECTS_VECTOR_STORE_TRACKING_LOGS", VECTOR),
    unused("ASPECTS_VECTOR_STORE_XAPI", VECTOR),
    unused("ASPECTS_VECTOR_DATABASE", f"{VECTOR} {ADOPTED.format('statements from Vector')}"),
    unused("ASPECTS_VECTOR_RAW_TRACKING_LOGS_TABLE", VECTOR),
    unused("ASPECTS_VECTOR_AGGREGATOR_PORT", VECTOR),
    unused("ASPECTS_VECTOR_AGGREGATOR_REPLICAS", VECTOR),
    unused("ASPECTS_VECTOR_AGGREGATOR_BUFFER_MAX_SIZE", VECTOR),
    unused("ASPECTS_VECTOR_AGGREGATOR_STORAGE_SIZE", VECTOR),
    unused("ASPECTS_CLICKHOUSE_VECTOR_USER", VECTOR),
    unused("ASPECTS_CLICKHOUSE_VECTOR_PASSWORD", VECTOR),
    unused("ASPECTS_XAPI_S3_BUCKET", VECTOR),
    unused("ASPECTS_XAPI_S3_REGION", VECTOR),
    unused("ASPECTS_XAPI_S3_ENDPOINT", VECTOR),
    unused("ASPECTS_XAPI_S3_SINK_MAX_EVENTS", VECTOR),
    unused("ASPECTS_XAPI_S3_SINK_TIMEOUT_SECS", VECTOR),
    unused("ASPECTS_XAPI_S3_ACCESS_KEY", VECTOR),
    unused("ASPECTS_XAPI_S3_SECRET_KEY", VECTOR),
)


@dataclasses.dataclass(frozen=True)
class Patch:
    """A patch name that the reference's templates render, and its fate here."""

    name: str
    # Honoured: the plugin whose templates render `into`, where its content goes here (the same
    # name, or another one the reference's content fits in as it is).
    plugin: str = ""
    into: str = ""
    # Not honoured: what replaces it.
    says: str = ""


PATCHES: tuple[Patch, ...] = (
    Patch("clickhouse-server-config", "clickhouse", "clickhouse-server-config"),
    Patch("clickhouse-user-config", "clickhouse", "clickhouse-users-config"),
    Patch("superset-config", "superset", "superset-config"),
    # The reference's superset_config_docker.py ran at the end of superset_config.py.
    Patch("superset-config-docker", "superset", "superset-config"),
    Patch(
        "clickhouse-extra-sql",
        says="SQL statements for the clickhouse init job go to tutorclickhouse.hooks.INIT_SQL, one "
        "statement per item (the reference's patch held shell lines).",
    ),
    Patch(
        "dbt-profiles",
        says="The dbt profile is written by the aspects job; a dbt project of your own comes from "
        "DBT_REPOSITORY.",
    ),
    Patch(
        "superset-dockerfile",
        says="Python packages for the Superset image go to tutorsuperset.hooks.PYTHON_REQUIREMENTS "
        "(or SUPERSET_EXTRA_REQUIREMENTS).",
    ),
    Patch("superset-extra-assets", says="Asset bundles go to tutorsuperset.hooks.ASSETS."),
    Patch(
        "superset-extra-asset-translations",
        says="Dashboards in another language are bundles of their own in "
        "tutorsuperset.hooks.ASSETS.",
    ),
    Patch("superset-extra-roles", says="Roles go to tutorsuperset.hooks.ROLES."),
    Patch(
        "superset-jinja-filters",
        says="Functions for SQL templates go to tutorsuperset.hooks.JINJA_MACROS.",
    ),
    Patch(
        "superset-row-level-security",
        says="Row-level security filters go to tutorsuperset.hooks.RLS_FILTERS.",
    ),
    Patch(
        "superset-sso-assignment-rules",
        says="Roles come from the LMS (Admin for global staff, SUPERSET_COURSE_STAFF_ROLE for "
        "course staff); other roles go to tutorsuperset.hooks.ROLES.",
    ),
    Patch(
        "xapi-db-load-config-yaml",
        says="Test data comes from `tutor local do load-xapi-test-data`, set by its options.",
    ),
    Patch(
        "xapi-db-load-journeys-yaml",
        says="Test data comes from `tutor local do load-xapi-test-data`, set by its options.",
    ),
    Patch("vector-common-toml", says=VECTOR),
)
# Reference patches whose content this project renders under another name.
RENAMED_PATCHES = {p.name: p.into for p in PATCHES if p.into and p.into != p.name}


@functools.cache
def snapshot() -> dict[str, t.Any]:
    """The reference's settings and patch names, read from its wheel (reference-6.1.0.json)."""
    text = resources.files("tutoraspects").joinpath("reference-6.1.0.json").read_text("utf-8")
    return json.loads(text)
