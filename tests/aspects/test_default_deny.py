"""
Deny by default: every dataset that a role other than Admin can read carries a course filter
for that role. Derived from what Tutor renders with the four plugins (the roles and row-level
security filters the superset init job applies, the bundle's datasets as Superset imports
them), never from a list kept by hand; a dataset or a role that breaks the rule fails.
"""

from __future__ import annotations

import ast
import json
import re
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.aspects.test_report_user_access import copied_datasets
from tests.harness.tutor import TutorRoot
from tutoraspects import superset as aspects_superset
from tutoraspects.grants import DATASETS

# Permissions that open datasets beyond those a role's filters cover.
BROAD_ACCESS = {
    "all_datasource_access",
    "all_database_access",
    "database_access",
    "catalog_access",
    "schema_access",
    "datasource_access",
}
COURSE_FILTER = re.compile(r"""\{\{ can_view_courses\("(\w+)"\) \}\}""")
COURSE_COLUMN_LINE = re.compile(r'^extra: \{"course_column": (null|"\w+")\}$', re.MULTILINE)


def bundle_dataset_counts() -> tuple[int, int]:
    """Datasets of courses and of the platform, as the bundle's files say, read as text."""
    columns = [
        COURSE_COLUMN_LINE.search(path.read_text(encoding="utf-8")).group(1)
        for path in DATASETS.rglob("*.yaml")
    ]
    return sum(column != "null" for column in columns), columns.count("null")


class Rendered(t.NamedTuple):
    roles: list  # (name, base, [(permission, view), ...])
    rls_filters: list  # (name, roles, tables, clause)
    datasets: dict[str, str | None]  # "schema.table": course column, or None


def rendered(root: TutorRoot) -> Rendered:
    sync = root.env_file("plugins", "superset", "apps", "pythonpath", "superset_sync.py")
    values = {}
    for node in ast.parse(sync).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            name = getattr(node.targets[0], "id", "")
            if name in ("ROLES", "RLS_FILTERS"):
                values[name] = json.loads(ast.literal_eval(node.value.args[0]))
    assets = root.path / "env" / "plugins" / "superset" / "build" / "superset" / "assets"
    datasets = {}
    for path in sorted(assets.glob("*/datasets/**/*.yaml")):
        dataset = yaml.safe_load(path.read_text(encoding="utf-8"))
        extra = dataset.get("extra") or {}
        datasets[f"{dataset['schema']}.{dataset['table_name']}"] = extra.get("course_column")
    return Rendered(values["ROLES"], values["RLS_FILTERS"], datasets)


def unfiltered(rendered: Rendered) -> list[str]:
    """Datasets that a non-admin role can read without its course filter on them."""
    roles = {name for name, _, _ in rendered.roles} | {
        role for _, roles, _, _ in rendered.rls_filters for role in roles
    }
    found = []
    for role in sorted(roles - {"Admin"}):
        broad = [
            permission
            for name, _, permissions in rendered.roles
            if name == role
            for permission, _ in permissions
            if permission in BROAD_ACCESS
        ]
        # The superset plugin gives a role the datasets its filters cover.
        filters = [item for item in rendered.rls_filters if role in item[1]]
        readable = {table for _, _, tables, _ in filters for table in tables}
        if broad:
            found.append(f"{role}: {', '.join(broad)} opens every dataset")
            readable |= set(rendered.datasets)
        for table in sorted(readable):
            column = rendered.datasets.get(table)
            course_filtered = column and any(
                table in tables and COURSE_FILTER.fullmatch(clause)
                and COURSE_FILTER.fullmatch(clause).group(1) == column
                for _, _, tables, clause in filters
            )  # fmt: skip
            if not course_filtered:
                found.append(f"{role}: {table} without a filter on its course column")
    return found


@pytest.fixture(scope="module")
def four_plugins(make_root: t.Callable[..., TutorRoot]) -> TutorRoot:
    return make_root(["clickhouse", "ralph", "superset", "aspects"])


def test_every_dataset_course_staff_read_has_their_course_filter(four_plugins: TutorRoot) -> None:
    found = rendered(four_plugins)
    assert unfiltered(found) == []
    course_datasets = sorted(table for table, column in found.datasets.items() if column)
    platform_datasets = sorted(table for table, column in found.datasets.items() if not column)
    # What the bundle's files say: datasets of courses, and 2 of the platform (administrators
    # only).
    assert (len(course_datasets), len(platform_datasets)) == bundle_dataset_counts()
    assert len(platform_datasets) == 2, found.datasets
    [(name, roles, tables, clause)] = found.rls_filters
    assert (roles, tables, clause) == (
        ["Course Staff"],
        course_datasets,
        '{{ can_view_courses("course_key") }}',
    )


def test_an_unfiltered_dataset_or_a_broad_role_fails(four_plugins: TutorRoot) -> None:
    found = rendered(four_plugins)
    # A role given every dataset.
    broad = [*found.roles, ("Course Staff", "", [["all_datasource_access", "x"]])]
    assert unfiltered(found._replace(roles=broad)) == [
        "Course Staff: all_datasource_access opens every dataset",
        "Course Staff: reporting.ingestion_hourly without a filter on its course column",
        "Course Staff: reporting.storage_by_table without a filter on its course column",
    ]
    # A filter that lets every row through, on a dataset of no course.
    open_filter = ("open", ["Course Staff"], ["reporting.ingestion_hourly"], "1 = 1")
    assert unfiltered(found._replace(rls_filters=[*found.rls_filters, open_filter])) == [
        "Course Staff: reporting.ingestion_hourly without a filter on its course column"
    ]
    # A course dataset whose filter names another column.
    wrong = [
        (name, roles, tables, clause.replace("course_key", "org"))
        for name, roles, tables, clause in found.rls_filters
    ]
    assert len(unfiltered(found._replace(rls_filters=wrong))) == bundle_dataset_counts()[0]


def test_a_dataset_that_does_not_say_whether_it_has_a_course_is_refused(tmp_path: Path) -> None:
    datasets = copied_datasets(tmp_path)
    path = datasets / "reporting" / "ingestion_hourly.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"\nextra: .*\n", "\nextra: null\n", text), encoding="utf-8")
    with pytest.raises(ValueError, match="ingestion_hourly.yaml: its extra must name the column"):
        aspects_superset.course_columns(datasets)
    # A new course dataset is filtered as soon as it says so.
    (datasets / "reporting" / "extra.yaml").write_text(
        text.replace("ingestion_hourly", "new_course_table").replace(
            '{"course_column": null}', '{"course_column": "course_id"}'
        ),
        encoding="utf-8",
    )
    path.write_text(text, encoding="utf-8")
    filters = {
        name: (tables, clause)
        for name, _, tables, clause in aspects_superset.course_staff_filters(datasets)
    }
    assert filters["Aspects: course staff see their courses (course_id)"] == (
        ["{{ DBT_PROFILE_TARGET_DATABASE }}.new_course_table"],
        '{{ can_view_courses("course_id") }}',
    )
