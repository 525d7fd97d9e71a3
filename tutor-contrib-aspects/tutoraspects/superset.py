"""
What aspects gives Superset, through the superset plugin's extension points only: the
ClickHouse connection (the read-only reporting user), the asset bundle (datasets, charts and
dashboards of the reporting models), and row-level security: course staff read the datasets
of courses, and their own courses' rows only; nothing else.
"""

from __future__ import annotations

import functools
import html
import json
import re
import typing as t
import uuid
from importlib import resources
from pathlib import Path

import yaml
from tutor import fmt, hooks
from tutor.types import Config

from tutoraspects.grants import (
    DATASETS,
    JOB_FOLDER,
    PACKAGE,
    YAML_LOADER,
    bundle_datasets,
    dataset_name,
)
from tutoraspects.hooks import DASHBOARD_CATALOGS
from tutoraspects.superset_value_labels import ASPECTS_ENGLISH_LABELS, aspects_locale_key
from tutorsuperset.hooks import (
    ASSETS,
    DATABASES,
    EXTRA_CONFIG,
    JINJA_MACROS,
    PYTHON_REQUIREMENTS,
    RLS_FILTERS,
)

DATABASE_NAME = "ClickHouse"
BUNDLE = resources.files("tutoraspects") / "superset_assets" / "aspects"
# Each dataset of the bundle says, in its `extra`, which of its columns holds the course key
# ("course_column"), or that it holds no course (null: administrators only).
COURSE_COLUMN = "course_column"


def course_columns(datasets: Path = DATASETS) -> dict[str, str | None]:
    """ "schema.table" of each dataset of the bundle: its course column, or None."""
    columns = {}
    for name, dataset in bundle_datasets(datasets):
        extra = dataset.get("extra") or {}
        if COURSE_COLUMN not in extra:
            raise ValueError(
                f"Superset dataset {name}: its extra must name the column of the course key "
                f'({{"{COURSE_COLUMN}": "course_key"}}), or say it holds no course '
                f'({{"{COURSE_COLUMN}": null}}: administrators only)'
            )
        columns[dataset_name(dataset)] = extra[COURSE_COLUMN]
    return columns


def course_staff_filters(datasets: Path = DATASETS) -> list[tuple[str, list[str], list[str], str]]:
    """
    Row-level security of the course datasets: course staff see their courses' rows, and read
    these datasets only (the superset plugin gives a role the datasets its filters cover).
    """
    columns = course_columns(datasets)
    filters = []
    for column in sorted({column for column in columns.values() if column}):
        tables = sorted(table for table, course in columns.items() if course == column)
        name = "Aspects: course staff see their courses"
        filters.append(
            (
                name if column == "course_key" else f"{name} ({column})",
                ["{{ SUPERSET_COURSE_STAFF_ROLE }}"],
                tables,
                "{{ can_view_courses(" + json.dumps(column) + ") }}",
            )
        )
    return filters


DATABASES.add_item(
    (
        DATABASE_NAME,
        "clickhousedb://{{ ASPECTS_CLICKHOUSE_REPORT_USER }}:"
        "{{ ASPECTS_CLICKHOUSE_REPORT_PASSWORD|urlencode }}@{{ CLICKHOUSE_HOST }}:"
        "{{ CLICKHOUSE_PORT }}/{{ DBT_PROFILE_TARGET_DATABASE }}"
        "{% if CLICKHOUSE_SECURE_CONNECTION %}?secure=true{% endif %}",
    )
)
ASSETS.add_item(str(BUNDLE))
# Superset learns the connection's default schema from its URI, not from a new connection.
# Read when Superset's settings are rendered, not on every `tutor` call.
_default_schema_code = functools.cache(
    lambda: (PACKAGE / "superset_default_schema.py").read_text(encoding="utf-8")
)
EXTRA_CONFIG.add()(
    lambda items: [
        *items,
        ("ClickHouse: the default schema, from the connection's URI", _default_schema_code()),
    ]
)


def _query_context(params: dict[str, t.Any], dataset_uuid: str) -> str:
    # Imported when a chart is rendered, not whenever Tutor loads the plugin.
    from tutoraspects import query_context  # noqa: PLC0415

    return query_context.template_filter(params, dataset_uuid)


# Charts whose params are a template get their query context once the params are rendered.
hooks.Filters.ENV_TEMPLATE_FILTERS.add_item(("aspects_query_context", _query_context))


JOB_REQUIREMENTS = JOB_FOLDER / "migrations" / "requirements.txt"


def clickhouse_driver(requirements: Path = JOB_REQUIREMENTS) -> str:
    """The ClickHouse client of the job image (its `clickhouse-connect==` pin), for Superset too."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.startswith("clickhouse-connect=="):
            return line.strip()
    raise ValueError(f"{requirements} pins no clickhouse-connect")


# Superset's images ship no database driver: its `clickhousedb://` connections need this one.
PYTHON_REQUIREMENTS.add_item(clickhouse_driver())
# Read from the bundle's datasets when Superset's settings are rendered (once), not on every
# `tutor` call.
_course_staff_filters = functools.cache(course_staff_filters)
RLS_FILTERS.add()(lambda items: [*items, *_course_staff_filters()])


########################################
# DASHBOARDS, IN SEVERAL LANGUAGES
########################################

Rows = list[list[str]]  # rows of charts (file names under charts/), left to right
# A dashboard's layout: its rows, or its tabs in order (tab title -> rows).
Layout = Rows | dict[str, Rows]

# The course dashboard, one tab per question course teams ask: a tab is one entry here (its
# title goes in the catalogs like a chart's).
COURSE_TABS: dict[str, Rows] = {
    "At a glance": [
        ["learners_passed", "average_progress"],
        ["enrollments_over_time", "weekly_active_learners"],
        ["learners_by_status"],
    ],
    "Enrollment": [
        ["current_enrollees", "enrollments_by_track"],
        ["cumulative_enrollments_by_track"],
        ["enrollments_and_unenrollments"],
    ],
    "Grades": [["passing_learners", "course_grade_distribution"]],
    "Problems": [
        ["problem_attempts_and_results"],
        ["problem_engagement_by_section"],
        ["problem_engagement_by_subsection"],
    ],
    "Video": [
        ["video_views_per_video"],
        ["video_views_per_section"],
        ["video_views_across_length"],
    ],
    "Pages": [["page_visits_per_section", "page_visits_over_time"]],
    "Sections": [["section_summary"], ["subsection_summary"]],
    "Interactions": [["cumulative_interactions"]],
}
# Each dashboard: title and layout. Each is imported once per language of
# SUPERSET_DASHBOARD_LOCALES, with translated titles (Superset translates its own interface,
# not dashboards).
DASHBOARDS: dict[str, tuple[str, Layout]] = {
    # Its slug and uuid stay: the LMS embeds it by uuid.
    "course-overview": ("Course overview", COURSE_TABS),
    "learner-progress": (
        "Learner progress",
        [["average_progress", "learners_by_status"], ["at_risk_learners"]],
    ),
    "problems-and-grades": (
        "Problems and grades",
        [["problem_performance"], ["score_distribution"]],
    ),
    "video-engagement": ("Video engagement", [["video_engagement"]]),
    "problem-responses": ("Problem responses", [["problem_responses"]]),
    "forum-engagement": (
        "Forum engagement",
        [["forum_activity_over_time"], ["forum_threads", "forum_learners"]],
    ),
    "learners": (
        "Individual learners",
        [["learner_details"], ["learner_problem_results"], ["learner_section_engagement"]],
    ),
    "operator": (
        "Operator view",
        [["statements_per_hour", "arrival_delay"], ["storage_by_table"]],
    ),
}
CHART_TITLES = {
    "learners_passed": "Learners who passed",
    "average_progress": "Average course grade (%)",
    "enrollments_over_time": "Enrolled learners over time",
    "weekly_active_learners": "Weekly active learners",
    "learners_by_status": "Learners by enrollment status",
    "at_risk_learners": "Learners at risk",
    "video_engagement": "Video engagement",
    "problem_performance": "Problem performance",
    "score_distribution": "Learners per score",
    "learner_details": "Learners",
    "learner_problem_results": "Problem results against the course average",
    "learner_section_engagement": "Engagement per section and subsection",
    "statements_per_hour": "Statements received per hour",
    "arrival_delay": "Average arrival delay (s)",
    "storage_by_table": "Storage by table",
    "problem_responses": "Answers per problem, first and final attempt",
    "forum_activity_over_time": "Forum activity per week",
    "forum_threads": "Forum activity per thread",
    "forum_learners": "Forum activity per learner",
    "current_enrollees": "Learners enrolled now",
    "enrollments_by_track": "Enrolled learners by track",
    "cumulative_enrollments_by_track": "Enrolled learners by track over time",
    "enrollments_and_unenrollments": "Enrollments and unenrollments per day",
    "passing_learners": "Learners with a passing grade",
    "course_grade_distribution": "Learners per current course grade",
    "problem_attempts_and_results": "Attempts and results per problem",
    "problem_engagement_by_section": "Problem engagement per section",
    "problem_engagement_by_subsection": "Problem engagement per subsection",
    "cumulative_interactions": "Interactions over time, cumulative",
    "video_views_per_video": "Views per video",
    "video_views_per_section": "Video views per section and subsection",
    "video_views_across_length": "Views across each video's length",
    "page_visits_per_section": "Page visits per section and subsection",
    "page_visits_over_time": "Page visits per week",
    "section_summary": "Section summary",
    "subsection_summary": "Subsection summary",
}
# Dashboards about courses get filters by organisation, course and date.
COURSE_FILTERS_DATASET = "course_enrollments_daily"
COURSE_DASHBOARDS = (
    "course-overview",
    "learner-progress",
    "problems-and-grades",
    "video-engagement",
    "learners",
    "problem-responses",
    "forum-engagement",
)


def asset_uuid(kind: str, name: str) -> str:
    """The fixed uuid of a bundle object, so that every import updates the same one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://openedx.org/aspects/{kind}/{name}"))


def translated_uuid(slug: str, locale: str) -> str:
    """
    The uuid platform-plugin-aspects (the LMS's instructor dashboard) derives from a
    dashboard's English uuid for its copy in `locale`, whatever the case of `locale`.
    """
    namespace = uuid.uuid5(uuid.UUID(asset_uuid("dashboard", slug)), "superset")
    return str(uuid.uuid5(namespace, locale_key(locale)))


def dashboard_uuid(slug: str, locale: str) -> str:
    """A dashboard's uuid in a language: the English copy keeps the base uuid."""
    return asset_uuid("dashboard", slug) if locale == "en" else translated_uuid(slug, locale)


# Dashboard strings live in message catalogs, one file per language, in the format that
# openedx-translations ships for Aspects (Transifex's YAML: conf/locale/<locale>/locale.yaml):
# translators and operators know it, and a catalog pulled from there works here as it is.
CATALOGS = Path(str(resources.files("tutoraspects"))) / "conf" / "locale"
# First, so that a plugin's catalog of the same language corrects the bundled one.
DASHBOARD_CATALOGS.add_items(
    [(path.parent.name, str(path)) for path in sorted(CATALOGS.glob("*/locale.yaml"))],
    priority=hooks.priorities.HIGH,
)
# A language code, with a region or script (pt_BR, zh-Hans): locales end up in slugs, uuids
# and templates, so nothing else is let through.
LOCALE = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*")


# A locale as platform-plugin-aspects compares them, and as the value-label tables are keyed:
# one rule for both, in the code that Superset runs.
locale_key = aspects_locale_key


def locales_error(locales: t.Any) -> str | None:
    """What is wrong with a value of SUPERSET_DASHBOARD_LOCALES, if anything."""
    expected = "SUPERSET_DASHBOARD_LOCALES must be a list of language codes such as en, es, pt_BR"
    if not isinstance(locales, list) or not locales:
        return f"{expected}, not {locales!r}"
    for locale in locales:
        if not isinstance(locale, str) or not LOCALE.fullmatch(locale):
            return f"{expected}, not {locales!r} ({locale!r} is not one)"
    keys = [locale_key(locale) for locale in locales]
    if twice := sorted({locale for locale in locales if keys.count(locale_key(locale)) > 1}):
        # Two copies of a dashboard would get one uuid.
        return f"SUPERSET_DASHBOARD_LOCALES lists a language twice: {', '.join(twice)}"
    return None


def read_catalog(path: str | Path) -> dict[str, str]:
    """A catalog file: English text -> translation, without the texts left untranslated."""
    # libyaml's loader: catalogs are read on every `tutor config save`.
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
    # Transifex puts the mapping under the source language's key.
    if isinstance(data, dict) and len(data) == 1 and isinstance([*data.values()][0], dict):
        [data] = data.values()
    if not isinstance(data, dict):
        raise ValueError(f"Dashboard catalog {path}: not a mapping of English text to translation")
    # Transifex writes some characters as HTML entities (' as &#39;); its files also hold
    # texts that YAML reads as other types (null): those are not dashboard strings.
    return {
        text: html.unescape(translation)
        for text, translation in data.items()
        if isinstance(text, str) and isinstance(translation, str) and translation
    }


@functools.cache
def _merged_catalogs(paths: tuple[str, ...]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in paths:
        merged.update(read_catalog(path))
    return merged


def catalog_paths(locale: str) -> tuple[str, ...]:
    """
    The catalogs for `locale`, in the order they apply: its language's first (es for es_419,
    as gettext falls back), then its own, which win where both translate a text.
    """
    key = locale_key(locale)
    language = key.split("_", 1)[0]
    catalogs = list(DASHBOARD_CATALOGS.iterate())
    return tuple(
        path
        for wanted in dict.fromkeys((language, key))
        for name, path in catalogs
        if locale_key(name) == wanted
    )


def untranslated_locales(locales: list[str]) -> list[str]:
    """The locales, English apart, that no catalog translates."""
    return [
        locale for locale in locales if locale_key(locale) != "en" and not catalog_paths(locale)
    ]


def translate(text: str, locale: str) -> str:
    return _merged_catalogs(catalog_paths(locale)).get(text, text)


def native_filters(locale: str) -> list[dict[str, t.Any]]:
    dataset = asset_uuid("dataset", COURSE_FILTERS_DATASET)
    filters = []
    # Courses by name, and by run where a course is given more than once; every dataset of
    # the course dashboards has these columns (keys only in a secondary column).
    for name, column, kind in (
        ("Organisation", "org", "filter_select"),
        ("Course", "course_name", "filter_select"),
        ("Run", "course_run", "filter_select"),
        ("Date", "enrollment_date", "filter_time"),
    ):
        target = (
            {"column": {"name": column}, "datasetUuid": dataset} if kind != "filter_time" else {}
        )
        filters.append(
            {
                "id": f"NATIVE_FILTER-{column}",
                "name": translate(name, locale),
                "filterType": kind,
                "type": "NATIVE_FILTER",
                "targets": [target],
                "controlValues": {"multiSelect": True, "enableEmptyFilter": False},
                "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                "cascadeParentIds": [],
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                "description": "",
            }
        )
    return filters


def dashboard_tabs(slug: str) -> dict[str | None, Rows]:
    """A dashboard's rows per tab title, in order; one untitled tab when it has none."""
    _, layout = DASHBOARDS[slug]
    return dict(layout) if isinstance(layout, dict) else {None: layout}


def dashboard_charts(slug: str) -> list[str]:
    """The charts of a dashboard, tab after tab, row after row."""
    return [chart for rows in dashboard_tabs(slug).values() for row in rows for chart in row]


def tab_id(title: str) -> str:
    """A tab's id in the position, from its English title: the same in every language."""
    return "TAB-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def dashboard_position(slug: str, locale: str) -> dict[str, t.Any]:
    """
    A dashboard's layout in Superset's position format: rows of charts in its grid, or, for
    a dashboard in tabs, a TABS component in its grid holding a TAB per tab, each with its rows.
    """
    title, _ = DASHBOARDS[slug]
    position: dict[str, t.Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {
            "type": "HEADER",
            "id": "HEADER_ID",
            "meta": {"text": translate(title, locale)},
        },
    }

    def add(node_id: str, kind: str, parents: list[str], **meta: t.Any) -> list[str]:
        """Add a component under the last of `parents`; its own parents, for its children."""
        position[node_id] = {"type": kind, "id": node_id, "children": [], "parents": parents}
        if meta:
            position[node_id]["meta"] = meta
        position[parents[-1]]["children"].append(node_id)
        return [*parents, node_id]

    tabs = dashboard_tabs(slug)
    grid = ["ROOT_ID", "GRID_ID"]
    if None not in tabs:
        grid = add("TABS-" + slug, "TABS", grid)
    export_id = 0  # ids of an export, which the import maps to the charts by uuid
    row_index = 0
    for tab_title, rows in tabs.items():
        parents = grid
        if tab_title is not None:
            text = translate(tab_title, locale)
            parents = add(tab_id(tab_title), "TAB", grid, text=text, defaultText=text)
        for charts in rows:
            row = add(f"ROW-{row_index}", "ROW", parents, background="BACKGROUND_TRANSPARENT")
            row_index += 1
            for chart in charts:
                export_id += 1
                key = f"CHART-{chart}"
                add(
                    key if key not in position else f"{key}-{export_id}",  # a chart shown twice
                    "CHART",
                    row,
                    uuid=asset_uuid("chart", chart),
                    chartId=export_id,
                    width=12 // len(charts),
                    height=50,
                    sliceName=CHART_TITLES[chart],
                    sliceNameOverride=translate(CHART_TITLES[chart], locale),
                )
    return position


def dashboard_yaml(slug: str, locale: str) -> str:
    """A dashboard in Superset's export format, in one language."""
    title, _ = DASHBOARDS[slug]
    position = dashboard_position(slug, locale)
    metadata = {
        "color_scheme": "",
        "refresh_frequency": 0,
        "native_filter_configuration": native_filters(locale) if slug in COURSE_DASHBOARDS else [],
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "label_colors": {},
    }
    suffix = "" if locale == "en" else f"-{locale}"
    fields = {
        "dashboard_title": translate(title, locale),
        "description": None,
        "css": "",
        "slug": slug + suffix,
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": dashboard_uuid(slug, locale),
        "position": position,
        "metadata": metadata,
        "version": "1.0.0",
    }
    return (
        "\n".join(
            f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()
        )
        + "\n"
    )


def dashboards_yaml(slug: str, locales: list[str]) -> str:
    """
    A dashboard in each language of `locales`, one YAML document each: a bundle file holds
    them all, whatever the languages (the superset plugin imports each document).
    """
    return "---\n".join(dashboard_yaml(slug, locale) for locale in locales)


hooks.Filters.ENV_TEMPLATE_VARIABLES.add_item(("aspects_dashboards_yaml", dashboards_yaml))


def value_labels(locale: str) -> dict[str, str]:
    """The datasets' words in `locale`: key -> label."""
    return {key: translate(label, locale) for key, label in ASPECTS_ENGLISH_LABELS.items()}


def value_label_tables(dashboard_locales: t.Any, interface_languages: t.Any) -> str:
    """
    Python that sets the tables of superset_value_labels.py: the labels in each language of
    the dashboards and of Superset's interface, and the language of each dashboard's copy.
    """
    dashboard_locales = [] if locales_error(dashboard_locales) else dashboard_locales
    locales = [*dashboard_locales, *(interface_languages or {})]
    labels = {locale_key(locale): value_labels(locale) for locale in ["en", *locales]}
    copies = {
        dashboard_uuid(slug, locale): locale_key(locale)
        for slug in DASHBOARDS
        for locale in dashboard_locales
    }
    return f"ASPECTS_VALUE_LABELS = {labels!r}\nASPECTS_DASHBOARD_LOCALES = {copies!r}"


hooks.Filters.ENV_TEMPLATE_VARIABLES.add_item(("aspects_value_label_tables", value_label_tables))
_value_labels_code = functools.cache(
    lambda: (
        "{% raw %}"
        + (PACKAGE / "superset_value_labels.py").read_text(encoding="utf-8")
        + "{% endraw %}\n{{ aspects_value_label_tables(SUPERSET_DASHBOARD_LOCALES, "
        "SUPERSET_SUPPORTED_LANGUAGES) }}"
    )
)
JINJA_MACROS.add()(lambda items: [*items, ("aspects_label", _value_labels_code())])


@hooks.Actions.ENV_SAVED.add()
def _warn_of_untranslated_locales(_root_env: str, config: Config) -> None:
    locales = config["SUPERSET_DASHBOARD_LOCALES"]
    for locale in untranslated_locales(locales if not locales_error(locales) else []):
        fmt.echo_alert(
            f"SUPERSET_DASHBOARD_LOCALES: no dashboard catalog for {locale}: its dashboards are "
            "in English. A plugin adds one through tutoraspects.hooks.DASHBOARD_CATALOGS."
        )


# The dashboards course teams open, also from the LMS's instructor dashboard.
INSTRUCTOR_DASHBOARDS = COURSE_DASHBOARDS
