"""
Check a rendered Superset asset bundle (Superset's export format) against the ClickHouse schema
before Superset imports it, which would accept a chart whose column does not exist and fail
only when someone opens it.

What is checked:

- every chart's dataset, and every dashboard's charts (and native filters' datasets), are in
  the bundle; every dataset's database is;
- every column and saved metric a chart uses (group-bys, x axis, metrics, filters, ...) is in
  its dataset, and so is every column named in an SQL expression (metrics, filters, calculated
  columns), found with ClickHouse's own parser;
- every column of a dataset on a table exists in that table, according to the schemas given:
  the dbt models' documented columns (their .yml files: works offline) and, optionally, a live
  ClickHouse server's ``system.columns``; on a live server, a virtual dataset's columns are
  those its query returns;
- every virtual dataset's SQL parses, with Superset's Jinja replaced by placeholders.

SQL is parsed by ClickHouse: chDB (ClickHouse as a Python library) when it is installed, else
the live server when one is given; otherwise SQL is reported as not checked.

The bundle is read by tutoraspects.assets_bundle; the schemas and the SQL parser come from
tutoraspects.assets_schema. This module is the check and its one entry point.
"""

from __future__ import annotations

import json
import typing as t
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from tutoraspects.assets_bundle import (
    Bundle,
    Document,
    Problem,
    Report,
    chart_references,
    json_field,
    load_bundle,
)
from tutoraspects.assets_schema import (
    CheckError,
    QueryError,
    Schema,
    SqlParser,
    chdb_parser,
    clickhouse_schema,
    dbt_schema,
    default_parser,
    first_line,
    without_jinja,
)
from tutoraspects.query_context import QueryContextError, query_context

# What the command uses, from here.
__all__ = [
    "CheckError",
    "Report",
    "Schema",
    "chdb_parser",
    "check_bundle",
    "clickhouse_schema",
    "dbt_schema",
    "default_parser",
    "format_report",
]

########################################
# THE CHECK
########################################


@dataclass
class DatasetColumns:
    """What a chart of a dataset may name."""

    label: str  # schema.table, for messages
    path: str
    columns: set[str]
    metrics: set[str]
    # Columns an SQL expression may read: the dataset's and, for a table, the table's.
    readable: set[str]


class Checker:
    def __init__(
        self, bundle: Bundle, schemas: list[Schema], parser: SqlParser | None, report: Report
    ) -> None:
        self.bundle, self.schemas, self.parser, self.report = bundle, schemas, parser, report
        self.datasets: dict[str, DatasetColumns] = {}

    def problem(self, document: Document, where: str, message: str) -> None:
        self.report.problems.append(Problem(document.path, where, message))

    def unchecked(self, document: Document, where: str, message: str) -> None:
        self.report.unchecked.append(Problem(document.path, where, message))

    def run(self) -> None:
        for dataset in self.bundle.datasets.values():
            self.check_dataset(dataset)
        for chart in self.bundle.charts.values():
            self.check_chart(chart)
        for dashboard in self.bundle.dashboards.values():
            self.check_dashboard(dashboard)

    # Datasets

    def check_dataset(self, document: Document) -> None:
        data = document.data
        table_name = data.get("table_name")
        if not table_name:
            self.problem(document, "table_name", "missing")
            return
        database = self.bundle.databases.get(str(data.get("database_uuid")))
        if database is None:
            self.problem(
                document,
                "database_uuid",
                f"no database of uuid {data.get('database_uuid')} in the bundle (databases/)",
            )
        schema = data.get("schema") or (database and default_schema(database.data))
        for where, value in (("schema", schema), ("table_name", table_name)):
            if value and ("{{" in str(value) or "{%" in str(value)):
                self.problem(
                    document,
                    where,
                    f"{value!r} is an unrendered template: check the bundle that Tutor "
                    "rendered (tutor config save), not its source",
                )
                return
        columns, calculated = self.dataset_columns(document)
        metrics = {}
        for index, metric in enumerate(data.get("metrics") or []):
            if not isinstance(metric, dict) or not metric.get("metric_name"):
                self.problem(document, f"metrics[{index}].metric_name", "missing")
                continue
            metrics[metric["metric_name"]] = (index, metric.get("expression") or "")
        label = f"{schema}.{table_name}" if schema else str(table_name)
        readable = set(columns)
        sql = data.get("sql")
        if sql:
            self.check_virtual_dataset(document, str(sql), columns)
        elif schema:
            readable |= self.check_physical_dataset(document, str(schema), table_name, columns)
        else:
            self.problem(document, "schema", "missing, and the database names none")
        readable |= set(calculated)
        for index, expression in calculated.values():
            self.check_expression(
                document, f"columns[{index}].expression", expression, readable, label
            )
        for index, expression in metrics.values():
            self.check_expression(
                document, f"metrics[{index}].expression", expression, readable, label
            )
        self.datasets[str(data["uuid"])] = DatasetColumns(
            label, document.path, set(columns) | set(calculated), set(metrics), readable
        )

    def dataset_columns(
        self, document: Document
    ) -> tuple[dict[str, int], dict[str, tuple[int, str]]]:
        """Columns by name: read from the table (their index), and calculated (expression)."""
        plain: dict[str, int] = {}
        calculated: dict[str, tuple[int, str]] = {}
        for index, column in enumerate(document.data.get("columns") or []):
            name = isinstance(column, dict) and column.get("column_name")
            if not name:
                self.problem(document, f"columns[{index}].column_name", "missing")
                continue
            if name in plain or name in calculated:
                self.problem(document, f"columns[{index}].column_name", f"{name!r} twice")
            elif column.get("expression"):
                calculated[name] = (index, str(column["expression"]))
            else:
                plain[name] = index
        return plain, calculated

    def check_physical_dataset(
        self, document: Document, schema: str, table_name: str, columns: dict[str, int]
    ) -> set[str]:
        """Problems with the table's columns; returns the columns the schemas know of."""
        known: set[str] = set()
        for source in self.schemas:
            table = source.tables.get((schema, table_name))
            if table is None:
                self.problem(
                    document, "table_name", f"{source.name} has no table {schema}.{table_name}"
                )
                continue
            known |= table.columns
            for name, index in columns.items():
                if name not in table.columns:
                    self.problem(
                        document,
                        f"columns[{index}].column_name",
                        f"{name!r} is not a column of {schema}.{table_name} in {source.name} "
                        f"({table.origin})",
                    )
        return known

    def check_virtual_dataset(self, document: Document, sql: str, columns: dict[str, int]) -> None:
        try:
            query = without_jinja(sql).strip().rstrip(";")
        except jinja2.TemplateError as error:
            self.problem(document, "sql", f"its Superset template does not render: {error}")
            return
        if self.parser is None:
            self.unchecked(document, "sql", "not parsed: neither chDB nor a server to parse it")
        elif error := self.parser.error(query):
            self.problem(document, "sql", f"does not parse ({self.parser.name}): {error}")
            return
        servers = [source for source in self.schemas if source.server]
        if not servers:
            self.unchecked(
                document, "columns", "a query's columns are checked on a live server only"
            )
        for source in servers:
            assert source.server is not None
            try:
                rows = source.server.rows(f"DESCRIBE TABLE (\n{query}\n)")
                returned = {row["name"] for row in rows}
            except QueryError as error:
                self.problem(document, "sql", f"{source.name} refuses it: {first_line(error)}")
                continue
            for name, index in columns.items():
                if name not in returned:
                    self.problem(
                        document,
                        f"columns[{index}].column_name",
                        f"{name!r} is not a column that the dataset's query returns on "
                        f"{source.name}",
                    )

    def check_expression(
        self, document: Document, where: str, expression: str, readable: set[str], label: str
    ) -> None:
        if not expression.strip():
            self.problem(document, where, "empty")
            return
        if self.parser is None:
            self.unchecked(document, where, "not parsed: neither chDB nor a server to parse it")
            return
        try:
            names = self.parser.identifiers(without_jinja(expression))
        except jinja2.TemplateError as error:
            self.problem(document, where, f"its Superset template does not render: {error}")
            return
        if isinstance(names, str):
            self.problem(document, where, f"does not parse ({self.parser.name}): {names}")
        elif names is None:
            self.unchecked(document, where, "holds a subquery: its columns are not checked")
        else:
            for name in sorted(names - readable):
                self.problem(document, where, f"reads {name!r}, which is not a column of {label}")

    # Charts

    def check_chart(self, document: Document) -> None:
        params = json_field(document, "params", self.report)
        dataset_uuid = str(document.data.get("dataset_uuid"))
        if dataset_uuid not in self.bundle.datasets:
            self.problem(
                document,
                "dataset_uuid",
                f"no dataset of uuid {document.data.get('dataset_uuid')} in the bundle (datasets/)",
            )
            return
        dataset = self.datasets.get(dataset_uuid)
        if params is None or dataset is None:
            return  # already reported
        viz_type = document.data.get("viz_type")
        if viz_type and params.get("viz_type") not in (None, viz_type):
            self.problem(
                document, "params.viz_type", f"{params['viz_type']!r}, but viz_type is {viz_type!r}"
            )
        for where, kind, value in chart_references(params):
            self.check_reference(document, f"params.{where}", kind, value, dataset)
        self.check_query_context(document, params, dataset_uuid)

    def check_query_context(
        self, document: Document, params: dict[str, t.Any], dataset_uuid: str
    ) -> None:
        """
        The saved query context, which /api/v1/chart/<id>/data, reports and cache warm-up
        run, must be there and ask what the params show.
        """
        chart = f"chart {document.data.get('slice_name')!r}"
        stored = json_field(document, "query_context", self.report)
        if stored is None:
            return  # already reported
        try:
            wanted = query_context(params, dataset_uuid)
        except QueryContextError as error:
            self.problem(document, "query_context", f"{chart}: cannot check it: {error}")
            return
        if not stored:
            self.problem(
                document,
                "query_context",
                f"{chart} has none: Superset's /api/v1/chart/<id>/data, scheduled reports and "
                "cache warm-up answer only from a saved query context; write it from the "
                "params with `python -m tutoraspects.query_context`",
            )
            return
        datasource = (stored.get("datasource") or {}).get("id")
        if str(datasource) != dataset_uuid:
            self.problem(
                document,
                "query_context.datasource.id",
                f"{chart}: {datasource!r}, not its dataset's uuid {dataset_uuid} (an id is one "
                "Superset's own, which the instance it is imported into does not share)",
            )
        asked = {key: stored.get(key) for key in ("queries", "form_data")}
        if difference := first_difference(asked, {key: wanted[key] for key in asked}, ""):
            where, found, expected = difference
            self.problem(
                document,
                f"query_context{where}",
                f"{chart}: disagrees with its params: {found}, where the params give "
                f"{expected} (write it again with `python -m tutoraspects.query_context`)",
            )

    def check_reference(
        self, document: Document, where: str, kind: str, value: t.Any, dataset: DatasetColumns
    ) -> None:
        of = f"dataset {dataset.label} ({dataset.path})"
        if kind == "column" and isinstance(value, str):
            if value not in dataset.columns:
                self.problem(document, where, f"column {value!r} is not in {of}")
        elif kind == "metric" and isinstance(value, str):
            if value not in dataset.metrics:
                self.problem(document, where, f"metric {value!r} is not a saved metric of {of}")
        elif kind == "sql":
            # The superset plugin's query guard lets administrators alone send SQL.
            self.problem(
                document,
                where,
                f"custom SQL {value!r}: refused with a 400 to everyone but administrators "
                f"(course staff, embedded dashboards' guests); name a column or a saved metric "
                f"of {of} instead",
            )
            self.check_expression(document, where, str(value), dataset.readable, dataset.label)
        else:
            self.problem(document, where, f"cannot read {value!r} as a {kind}")

    # Dashboards

    def check_dashboard(self, document: Document) -> None:
        position = json_field(document, "position", self.report)
        for key, node in (position or {}).items():
            if not isinstance(node, dict) or node.get("type") != "CHART":
                continue
            uuid = (node.get("meta") or {}).get("uuid")
            if not uuid:
                self.problem(document, f"position.{key}.meta.uuid", "missing")
            elif str(uuid) not in self.bundle.charts:
                self.problem(
                    document,
                    f"position.{key}.meta.uuid",
                    f"no chart of uuid {uuid} in the bundle (charts/)",
                )
        metadata = json_field(document, "metadata", self.report)
        filters = (metadata or {}).get("native_filter_configuration") or []
        for index, native_filter in enumerate(filters):
            targets = (native_filter or {}).get("targets") or []
            for number, target in enumerate(targets):
                where = f"metadata.native_filter_configuration[{index}].targets[{number}]"
                uuid = (target or {}).get("datasetUuid")
                if uuid is None:
                    continue  # filters of another kind (e.g. divider) have no dataset
                dataset = self.datasets.get(str(uuid))
                if dataset is None:
                    self.problem(
                        document, f"{where}.datasetUuid", f"no dataset of uuid {uuid} in the bundle"
                    )
                    continue
                column = ((target or {}).get("column") or {}).get("name")
                if column and column not in dataset.columns:
                    self.problem(
                        document,
                        f"{where}.column.name",
                        f"column {column!r} is not in dataset {dataset.label} ({dataset.path})",
                    )


def default_schema(database: Mapping[str, t.Any]) -> str | None:
    """The database a connection opens on: the path of its URI."""
    path = urllib.parse.urlsplit(str(database.get("sqlalchemy_uri") or "")).path
    return path.strip("/") or None


def first_difference(found: t.Any, expected: t.Any, where: str) -> tuple[str, str, str] | None:
    """Where two JSON values first differ, and the two values there (as JSON)."""
    if isinstance(found, dict) and isinstance(expected, dict):
        for key in [*expected, *(key for key in found if key not in expected)]:
            if key not in found:
                return (f"{where}.{key}", "missing", json.dumps(expected[key]))
            if key not in expected:
                return (f"{where}.{key}", json.dumps(found[key]), "none")
            if difference := first_difference(found[key], expected[key], f"{where}.{key}"):
                return difference
        return None
    if isinstance(found, list) and isinstance(expected, list) and len(found) == len(expected):
        for index, (one, other) in enumerate(zip(found, expected, strict=True)):
            if difference := first_difference(one, other, f"{where}[{index}]"):
                return difference
        return None
    if found == expected and type(found) is type(expected):
        return None
    return (where, json.dumps(found), json.dumps(expected))


def check_bundle(
    directory: Path, schemas: Iterable[Schema], parser: SqlParser | None = None
) -> Report:
    """Check the bundle in `directory` against `schemas`; SQL parsed by `parser` if given."""
    report = Report()
    bundle = load_bundle(Path(directory), report)
    Checker(bundle, list(schemas), parser, report).run()
    return report


def format_report(report: Report, directory: Path, schemas: Iterable[Schema]) -> str:
    counts = ", ".join(f"{kind}: {count}" for kind, count in report.counts.items())
    against = "; ".join(schema.name for schema in schemas) or "no schema"
    lines = [f"Checked the asset bundle {directory} ({counts}) against {against}."]
    if report.unchecked:
        lines.append(f"Not checked ({len(report.unchecked)}):")
        lines.extend(f"- {item}" for item in report.unchecked)
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines.extend(f"- {problem}" for problem in report.problems)
    else:
        lines.append("No problem found.")
    return "\n".join(lines)
