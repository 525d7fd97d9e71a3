"""
What aspects gives Superset, through the superset plugin's extension points only: the
ClickHouse connection (the read-only reporting user), the asset bundle (datasets, charts and
dashboards of the reporting models), the course-staff role's access to those datasets, and
row-level security: course staff see the rows of their own courses only.
"""

from __future__ import annotations

from importlib import resources

from tutorsuperset.hooks import ASSETS, DATABASES, RLS_FILTERS, ROLES

DATABASE_NAME = "ClickHouse"
BUNDLE = resources.files("tutoraspects") / "superset_assets" / "aspects"
# Reporting models with a course, shown to course staff for their courses only.
COURSE_DATASETS = [
    "course_enrollments_daily",
    "course_active_learners",
    "learner_course_status",
    "video_engagement",
    "problem_performance",
]

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
# Datasets are shared; rows are not (below). Dashboards stay those Gamma may see.
ROLES.add_item(
    ("{{ SUPERSET_COURSE_STAFF_ROLE }}", "", [("all_datasource_access", "all_datasource_access")])
)
RLS_FILTERS.add_item(
    (
        "Aspects: course staff see their courses",
        ["{{ SUPERSET_COURSE_STAFF_ROLE }}"],
        ["{{ DBT_PROFILE_TARGET_DATABASE }}." + name for name in COURSE_DATASETS],
        '{{ can_view_courses("course_key") }}',
    )
)
# Platform-wide figures are for administrators (who have no row-level security filters).
RLS_FILTERS.add_item(
    (
        "Aspects: operator data for administrators",
        ["{{ SUPERSET_COURSE_STAFF_ROLE }}"],
        ["{{ DBT_PROFILE_TARGET_DATABASE }}.ingestion_hourly"],
        "1 = 0",
    )
)
