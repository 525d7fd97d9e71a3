"""
The asset bundle as Superset exports it, read for tutoraspects.assets_check: its documents by
kind and uuid, and the columns, metrics and SQL expressions a chart's parameters name.
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tutoraspects.assets_schema import CheckError

# Chart parameters that name one column, or hold a list of columns, by viz type field names.
COLUMN_FIELDS = ("x_axis", "series", "entity", "granularity_sqla", "column", "all_columns_x")
COLUMN_FIELDS += ("all_columns_y",)
COLUMN_LIST_FIELDS = ("groupby", "groupby_b", "columns", "all_columns", "groupbyRows")
COLUMN_LIST_FIELDS += ("groupbyColumns",)
METRIC_FIELDS = ("metric", "metric_2", "secondary_metric", "timeseries_limit_metric", "x", "y")
METRIC_FIELDS += ("size", "series_limit_metric")
METRIC_LIST_FIELDS = ("metrics", "metrics_b", "percent_metrics")
FILTER_FIELDS = ("adhoc_filters", "adhoc_filters_b")


@dataclass(frozen=True)
class Problem:
    path: str  # the file, relative to the bundle
    field: str  # where in the file
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Document:
    path: str
    data: dict[str, t.Any]


@dataclass
class Bundle:
    directory: Path
    databases: dict[str, Document] = field(default_factory=dict)
    datasets: dict[str, Document] = field(default_factory=dict)
    charts: dict[str, Document] = field(default_factory=dict)
    dashboards: dict[str, Document] = field(default_factory=dict)


def load_bundle(directory: Path, report: Report) -> Bundle:
    directory = Path(directory)
    if not (directory / "metadata.yaml").is_file():
        raise CheckError(
            f"No asset bundle at {directory}: metadata.yaml is missing (render the bundle with "
            "`tutor config save`)"
        )
    bundle = Bundle(directory)
    kinds = {
        "databases": bundle.databases,
        "datasets": bundle.datasets,
        "charts": bundle.charts,
        "dashboards": bundle.dashboards,
    }
    for file in sorted(directory.rglob("*")):
        relative = file.relative_to(directory).as_posix()
        kind = relative.split("/", 1)[0]
        if file.suffix not in (".yaml", ".yml") or kind not in kinds:
            continue
        text = file.read_text(encoding="utf-8")
        try:
            documents = [data for data in yaml.safe_load_all(text) if data is not None]
        except yaml.YAMLError as error:
            hint = (
                " (an unrendered template? Check the bundle Tutor rendered)" if "{{" in text else ""
            )
            report.problems.append(Problem(relative, "(file)", f"not valid YAML{hint}: {error}"))
            continue
        # A file of several documents holds as many objects, named as Superset's import names
        # them (the superset plugin's superset_sync).
        for index, data in enumerate(documents):
            path = f"{relative}#{index}" if len(documents) > 1 else relative
            if not isinstance(data, dict):
                report.problems.append(Problem(path, "(file)", "must be a YAML mapping"))
                continue
            uuid = data.get("uuid")
            if not uuid:
                report.problems.append(Problem(path, "uuid", "missing"))
                continue
            if str(uuid) in kinds[kind]:
                other = kinds[kind][str(uuid)].path
                report.problems.append(Problem(path, "uuid", f"{uuid} is also that of {other}"))
                continue
            kinds[kind][str(uuid)] = Document(path, data)
    report.counts = {kind: len(documents) for kind, documents in kinds.items()}
    return bundle


def json_field(document: Document, key: str, report: Report) -> dict[str, t.Any] | None:
    """A field that the export holds as a mapping or as JSON text; None (reported) if bad."""
    value = document.data.get(key)
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as error:
            report.problems.append(Problem(document.path, key, f"not valid JSON: {error}"))
            return None
    if not isinstance(value, dict):
        report.problems.append(Problem(document.path, key, "must be a mapping"))
        return None
    return value


def chart_references(params: Mapping[str, t.Any]) -> Iterator[tuple[str, str, t.Any]]:
    """(where, "column" | "metric" | "sql", value) for each column or metric a chart uses."""
    for key in COLUMN_FIELDS:
        if params.get(key):
            yield from column_reference(key, params[key])
    for key in COLUMN_LIST_FIELDS:
        for index, value in enumerate(as_list(params.get(key))):
            yield from column_reference(f"{key}[{index}]", value)
    for key in METRIC_FIELDS:
        if params.get(key):
            yield from metric_reference(key, params[key])
    for key in METRIC_LIST_FIELDS:
        for index, value in enumerate(as_list(params.get(key))):
            yield from metric_reference(f"{key}[{index}]", value)
    for key in FILTER_FIELDS:
        for index, value in enumerate(as_list(params.get(key))):
            yield from filter_reference(f"{key}[{index}]", value)
    for index, value in enumerate(as_list(params.get("order_by_cols"))):
        # Each is JSON text: ["column", ascending].
        try:
            column = json.loads(value)[0] if isinstance(value, str) else value[0]
        except (ValueError, IndexError, TypeError, KeyError):
            yield (f"order_by_cols[{index}]", "column", value)
            continue
        yield from column_reference(f"order_by_cols[{index}]", column)
    for column in as_mapping(params.get("temporal_columns_lookup")):
        yield ("temporal_columns_lookup", "column", column)


def column_reference(where: str, value: t.Any) -> Iterator[tuple[str, str, t.Any]]:
    if isinstance(value, dict):
        if value.get("expressionType") == "SQL" or "sqlExpression" in value:
            yield (f"{where}.sqlExpression", "sql", value.get("sqlExpression") or "")
        elif value.get("column_name"):
            yield (f"{where}.column_name", "column", value["column_name"])
        else:
            yield (where, "column", value)
    else:
        yield (where, "column", value)


def metric_reference(where: str, value: t.Any) -> Iterator[tuple[str, str, t.Any]]:
    if not isinstance(value, dict):
        yield (where, "metric", value)
    elif value.get("expressionType") == "SQL":
        yield (f"{where}.sqlExpression", "sql", value.get("sqlExpression") or "")
    else:
        column = value.get("column") or {}
        name = column.get("column_name") if isinstance(column, dict) else None
        yield (f"{where}.column.column_name", "column", name)


def filter_reference(where: str, value: t.Any) -> Iterator[tuple[str, str, t.Any]]:
    if not isinstance(value, dict):
        yield (where, "filter", value)
    elif value.get("expressionType") == "SQL":
        yield (f"{where}.sqlExpression", "sql", value.get("sqlExpression") or "")
    else:
        yield from column_reference(f"{where}.subject", value.get("subject"))


def as_list(value: t.Any) -> list[t.Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def as_mapping(value: t.Any) -> Iterable[str]:
    return value.keys() if isinstance(value, dict) else ()
