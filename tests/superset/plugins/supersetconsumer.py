"""
A stand-in for a plugin that builds on Superset, such as aspects: through the superset
plugin's hooks only, it adds a database connection (a ClickHouse database of enrollments), an
asset bundle (its dataset, a chart and a dashboard that the LMS may embed), a row-level
security filter that shows course staff their courses' rows only, a permission for the
course-staff role and an SQL macro.
"""

from pathlib import Path

from tutor import hooks

from tutorsuperset.hooks import (
    ASSETS,
    DATABASES,
    EMBEDDED_DASHBOARDS,
    JINJA_MACROS,
    RLS_FILTERS,
    ROLES,
)

hooks.Filters.CONFIG_DEFAULTS.add_items(
    [
        ("SUPERSETCONSUMER_DB_HOST", "clickhouse"),
        ("SUPERSETCONSUMER_DB_PORT", 8123),
        ("SUPERSETCONSUMER_DB_USER", "courses_reader"),
        ("SUPERSETCONSUMER_DB_PASSWORD", ""),
    ]
)
DATABASES.add_item(
    (
        "courses_demo",
        "clickhousedb://{{ SUPERSETCONSUMER_DB_USER }}:{{ SUPERSETCONSUMER_DB_PASSWORD }}"
        "@{{ SUPERSETCONSUMER_DB_HOST }}:{{ SUPERSETCONSUMER_DB_PORT }}/courses_demo",
    )
)
ASSETS.add_item(str(Path(__file__).parent / "courses_demo"))
# A permission Gamma lacks (the filter below gives the dataset's).
ROLES.add_item(("{{ SUPERSET_COURSE_STAFF_ROLE }}", "", [("can_read", "Annotation")]))
RLS_FILTERS.add_item(
    (
        "courses_demo: course staff see their courses",
        ["{{ SUPERSET_COURSE_STAFF_ROLE }}"],
        ["courses_demo.enrollments"],
        '{{ can_view_courses("course_key") }}',
    )
)
# The dashboard, embeddable by the LMS (guests see it with the rows their token allows).
EMBEDDED_DASHBOARDS.add_item(
    ("courses", "6a1d3c52-95b0-5bd5-8a3e-0f7c2d9e4b61", ["http://{{ LMS_HOST }}"])
)
JINJA_MACROS.add_item(
    ("shout", 'def shout(text):\n    """Upper case, for tests."""\n    return text.upper()')
)
