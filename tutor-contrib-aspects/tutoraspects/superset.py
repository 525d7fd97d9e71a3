"""
What aspects gives Superset, through the superset plugin's extension points only: the
ClickHouse connection (the read-only reporting user), the asset bundle (datasets, charts and
dashboards of the reporting models), and row-level security: course staff read the datasets
of courses, and their own courses' rows only; nothing else.
"""

from __future__ import annotations

import json
import typing as t
import uuid
from importlib import resources
from pathlib import Path

from tutor import hooks

from tutoraspects.grants import DATASETS, bundle_datasets, dataset_name
from tutorsuperset.hooks import ASSETS, DATABASES, PYTHON_REQUIREMENTS, RLS_FILTERS

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


JOB_REQUIREMENTS = Path(str(resources.files("tutoraspects"))) / "migrations" / "requirements.txt"


def clickhouse_driver(requirements: Path = JOB_REQUIREMENTS) -> str:
    """The ClickHouse client of the job image (its `clickhouse-connect==` pin), for Superset too."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.startswith("clickhouse-connect=="):
            return line.strip()
    raise ValueError(f"{requirements} pins no clickhouse-connect")


# Superset's images ship no database driver: its `clickhousedb://` connections need this one.
PYTHON_REQUIREMENTS.add_item(clickhouse_driver())
RLS_FILTERS.add_items(course_staff_filters())


########################################
# DASHBOARDS, IN SEVERAL LANGUAGES
########################################

# Each dashboard: title and rows of charts (file names under charts/). Each is imported once per
# language of SUPERSET_DASHBOARD_LOCALES, with translated titles (Superset translates its own
# interface, not dashboards).
DASHBOARDS = {
    "course-overview": (
        "Course overview",
        [
            ["learners_passed", "average_progress"],
            ["enrollments_over_time", "weekly_active_learners"],
            ["learners_by_status"],
        ],
    ),
    "learner-progress": (
        "Learner progress",
        [["average_progress", "learners_by_status"], ["at_risk_learners"]],
    ),
    "problems-and-grades": (
        "Problems and grades",
        [["problem_performance"], ["score_distribution"]],
    ),
    "video-engagement": ("Video engagement", [["video_engagement"]]),
    "learners": ("Individual learners", [["learner_details"]]),
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
    "statements_per_hour": "Statements received per hour",
    "arrival_delay": "Average arrival delay (s)",
    "storage_by_table": "Storage by table",
}
# Dashboards about courses get filters by organisation, course and date.
COURSE_FILTERS_DATASET = "course_enrollments_daily"
COURSE_DASHBOARDS = (
    "course-overview",
    "learner-progress",
    "problems-and-grades",
    "video-engagement",
    "learners",
)
TRANSLATIONS = {
    "es": {
        "Course overview": "Resumen del curso",
        "Learner progress": "Progreso de los estudiantes",
        "Problems and grades": "Problemas y calificaciones",
        "Learners who passed": "Estudiantes aprobados",
        "Average course grade (%)": "Calificación media en el curso (%)",
        "Learners at risk": "Estudiantes en riesgo",
        "Learners per score": "Estudiantes por puntuación",
        "Average arrival delay (s)": "Retraso medio de llegada (s)",
        "Storage by table": "Almacenamiento por tabla",
        "Individual learners": "Estudiantes",
        "Operator view": "Vista de operación",
        "Enrolled learners over time": "Estudiantes inscritos a lo largo del tiempo",
        "Weekly active learners": "Estudiantes activos por semana",
        "Learners by enrollment status": "Estudiantes por estado de inscripción",
        "Video engagement": "Uso de los vídeos",
        "Problem performance": "Resultados de los problemas",
        "Learners": "Estudiantes",
        "Statements received per hour": "Declaraciones recibidas por hora",
        "Organisation": "Organización",
        "Course": "Curso",
        "Date": "Fecha",
    },
    "fr": {
        "Course overview": "Vue d'ensemble du cours",
        "Learner progress": "Progression des apprenants",
        "Problems and grades": "Exercices et notes",
        "Learners who passed": "Apprenants reçus",
        "Average course grade (%)": "Note moyenne dans le cours (%)",
        "Learners at risk": "Apprenants en difficulté",
        "Learners per score": "Apprenants par score",
        "Average arrival delay (s)": "Délai moyen d'arrivée (s)",
        "Storage by table": "Stockage par table",
        "Individual learners": "Apprenants",
        "Operator view": "Vue d'exploitation",
        "Enrolled learners over time": "Apprenants inscrits au fil du temps",
        "Weekly active learners": "Apprenants actifs par semaine",
        "Learners by enrollment status": "Apprenants par statut d'inscription",
        "Video engagement": "Visionnage des vidéos",
        "Problem performance": "Résultats des exercices",
        "Learners": "Apprenants",
        "Statements received per hour": "Déclarations reçues par heure",
        "Organisation": "Organisation",
        "Course": "Cours",
        "Date": "Date",
    },
}
LOCALES = ("en", *TRANSLATIONS)


def asset_uuid(kind: str, name: str) -> str:
    """The fixed uuid of a bundle object, so that every import updates the same one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://openedx.org/aspects/{kind}/{name}"))


def translated_uuid(slug: str, locale: str) -> str:
    """
    The uuid platform-plugin-aspects (the LMS's instructor dashboard) derives from a
    dashboard's English uuid for its copy in `locale`, whatever the case of `locale`.
    """
    namespace = uuid.uuid5(uuid.UUID(asset_uuid("dashboard", slug)), "superset")
    return str(uuid.uuid5(namespace, locale.lower().replace("-", "_")))


def dashboard_uuid(slug: str, locale: str) -> str:
    """A dashboard's uuid in a language: the English copy keeps the base uuid."""
    return asset_uuid("dashboard", slug) if locale == "en" else translated_uuid(slug, locale)


def translate(text: str, locale: str) -> str:
    return TRANSLATIONS.get(locale, {}).get(text, text)


def native_filters(locale: str) -> list[dict[str, t.Any]]:
    dataset = asset_uuid("dataset", COURSE_FILTERS_DATASET)
    filters = []
    for name, column, kind in (
        ("Organisation", "org", "filter_select"),
        ("Course", "course_key", "filter_select"),
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


def dashboard_yaml(slug: str, locale: str) -> str:
    """A dashboard in Superset's export format, in one language."""
    title, rows = DASHBOARDS[slug]
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
    export_id = 0  # ids of an export, which the import maps to the charts by uuid
    for row_index, charts in enumerate(rows):
        row = f"ROW-{row_index}"
        position["GRID_ID"]["children"].append(row)
        position[row] = {
            "type": "ROW",
            "id": row,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in charts:
            export_id += 1
            key = f"CHART-{chart}"
            position[row]["children"].append(key)
            position[key] = {
                "type": "CHART",
                "id": key,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row],
                "meta": {
                    "uuid": asset_uuid("chart", chart),
                    "chartId": export_id,
                    "width": 12 // len(charts),
                    "height": 50,
                    "sliceName": CHART_TITLES[chart],
                    "sliceNameOverride": translate(CHART_TITLES[chart], locale),
                },
            }
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


hooks.Filters.ENV_TEMPLATE_VARIABLES.add_item(("aspects_dashboard_yaml", dashboard_yaml))


# The dashboards course teams open, also from the LMS's instructor dashboard.
INSTRUCTOR_DASHBOARDS = COURSE_DASHBOARDS
