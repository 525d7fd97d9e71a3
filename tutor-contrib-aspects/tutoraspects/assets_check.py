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
"""

from __future__ import annotations

import base64
import json
import re
import typing as t
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import jinja2.sandbox
import yaml

from tutoraspects.query_context import QueryContextError, query_context

# Chart parameters that name one column, or hold a list of columns, by viz type field names.
COLUMN_FIELDS = ("x_axis", "series", "entity", "granularity_sqla", "column", "all_columns_x")
COLUMN_FIELDS += ("all_columns_y",)
COLUMN_LIST_FIELDS = ("groupby", "groupby_b", "columns", "all_columns", "groupbyRows")
COLUMN_LIST_FIELDS += ("groupbyColumns",)
METRIC_FIELDS = ("metric", "metric_2", "secondary_metric", "timeseries_limit_metric", "x", "y")
METRIC_FIELDS += ("size", "series_limit_metric")
METRIC_LIST_FIELDS = ("metrics", "metrics_b", "percent_metrics")
FILTER_FIELDS = ("adhoc_filters", "adhoc_filters_b")
# Databases of ClickHouse itself, left out of a live server's schema.
SYSTEM_DATABASES = ("system", "information_schema", "INFORMATION_SCHEMA")


class CheckError(Exception):
    """The check itself cannot run (no bundle, unreachable server...); the message says why."""


@dataclass(frozen=True)
class Problem:
    path: str  # the file, relative to the bundle
    field: str  # where in the file
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


@dataclass
class Table:
    columns: set[str]
    origin: str  # where the columns were read, for messages


@dataclass
class Schema:
    """Tables by (database, table), from one source of truth."""

    name: str
    tables: dict[tuple[str, str], Table]
    # A live server, which also tells the columns a query returns.
    server: ClickHouseHttp | None = None


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


########################################
# SCHEMAS
########################################


def dbt_schema(models: Path, database: str, environment: Mapping[str, str] | None = None) -> Schema:
    """
    The columns documented in a dbt project's .yml files: models in `database` (the profile's
    schema, with a model's custom schema appended as dbt does), sources in theirs. dbt's
    `var()` and `env_var()` in source names take `environment` values, else their defaults.
    """
    models = Path(models)
    if not models.is_dir():
        raise CheckError(f"No dbt models folder at {models}")
    environment = dict(environment or {})
    render = _dbt_renderer(environment)
    tables: dict[tuple[str, str], Table] = {}
    files = sorted([*models.rglob("*.yml"), *models.rglob("*.yaml")])
    for path in files:
        origin = f"{models.name}/{path.relative_to(models).as_posix()}"
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise CheckError(f"{path} is not valid YAML: {error}") from error
        if not isinstance(document, dict):
            raise CheckError(f"{path} must be a mapping of dbt properties")
        try:
            for model in document.get("models") or []:
                config = model.get("config") or {}
                schema = f"{database}_{config['schema']}" if config.get("schema") else database
                name = config.get("alias") or model["name"]
                tables[(schema, name)] = Table(_column_names(model), origin)
            for source in document.get("sources") or []:
                schema = render(source.get("schema") or source["name"], origin)
                for table in source.get("tables") or []:
                    name = render(table.get("identifier") or table["name"], origin)
                    tables[(schema, name)] = Table(_column_names(table), origin)
        except (KeyError, TypeError, AttributeError) as error:
            raise CheckError(
                f"{path}: a model, source, table or column without a name ({error})"
            ) from error
    return Schema(f"the dbt models' documentation ({models})", tables)


def _column_names(properties: Mapping[str, t.Any]) -> set[str]:
    return {column["name"] for column in properties.get("columns") or []}


def _dbt_renderer(environment: Mapping[str, str]) -> Callable[[str, str], str]:
    def var(name: str, default: t.Any = None) -> t.Any:
        return default

    def env_var(name: str, default: str | None = None) -> str:
        return environment.get(name, default if default is not None else "")

    jinja = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)

    def render(value: str, origin: str) -> str:
        try:
            return jinja.from_string(str(value)).render(var=var, env_var=env_var).strip()
        except jinja2.TemplateError as error:
            raise CheckError(f"{origin}: cannot read {value!r}: {error}") from error

    return render


class ClickHouseHttp:
    """Queries over ClickHouse's HTTP interface; the URL's password is never shown."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urllib.parse.urlsplit(url)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            raise CheckError(
                "The ClickHouse URL must look like http[s]://user:password@host:port, not "
                f"{redact(url)!r}"
            )
        self.endpoint = f"{parts.scheme}://{parts.hostname}{port}/"
        self.shown = self.endpoint.rstrip("/")
        user = urllib.parse.unquote(parts.username or "default")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.timeout = timeout

    def query(self, sql: str) -> str:
        request = urllib.request.Request(
            self.endpoint, data=sql.encode(), headers=self.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            raise QueryError(error.read().decode(errors="replace").strip()) from error
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CheckError(f"ClickHouse at {self.shown} did not answer: {reason}") from error

    def rows(self, sql: str) -> list[dict[str, t.Any]]:
        text = self.query(f"{sql}\nFORMAT JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class QueryError(Exception):
    """ClickHouse refused a query; the message is its own."""


def clickhouse_schema(url: str, timeout: float = 30) -> Schema:
    """Every table's columns on a live server (system.columns), and its answer to DESCRIBE."""
    server = ClickHouseHttp(url, timeout)
    excluded = ", ".join(f"'{name}'" for name in SYSTEM_DATABASES)
    try:
        rows = server.rows(
            f"SELECT database, table, name FROM system.columns WHERE database NOT IN ({excluded})"
        )
    except QueryError as error:
        raise CheckError(
            f"ClickHouse at {server.shown} refused to list its columns: {first_line(error)}"
        ) from error
    tables: dict[tuple[str, str], Table] = {}
    origin = f"system.columns of {server.shown}"
    for row in rows:
        key = (row["database"], row["table"])
        tables.setdefault(key, Table(set(), origin)).columns.add(row["name"])
    return Schema(f"ClickHouse at {server.shown}", tables, server)


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    # ClickHouse echoes the whole statement after the reason: the reason is enough.
    return re.split(r"\s+In scope |: While executing ", line)[0][:400]


########################################
# SQL
########################################


class SqlParser:
    """ClickHouse's parser, reached through `run` (a query to text; raises on refusal)."""

    def __init__(self, run: Callable[[str], str], name: str) -> None:
        self.run, self.name = run, name

    def error(self, sql: str) -> str | None:
        """Why `sql` does not parse, or None."""
        try:
            self.run(f"SELECT formatQuery({literal(sql)})")
        except CheckError:
            raise
        except Exception as error:  # chDB raises RuntimeError; a server, QueryError
            return first_line(error)
        return None

    def identifiers(self, expression: str) -> set[str] | str | None:
        """
        The column names an SQL expression reads (the last part of qualified names; lambda
        parameters and aliases it defines left out); None when it holds a subquery, whose names
        belong to other tables; a string when it does not parse (why).
        """
        try:
            ast = self.run(f"EXPLAIN AST SELECT (\n{expression}\n)")
        except CheckError:
            raise
        except Exception as error:
            return first_line(error)
        return ast_identifiers(ast)


@dataclass
class _Node:
    text: str
    children: list[_Node] = field(default_factory=list)

    def walk(self) -> Iterator[_Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def ast_identifiers(ast: str) -> set[str] | None:
    """The column names in the output of `EXPLAIN AST SELECT (expression)`; None: subquery."""
    root = _Node("")
    stack: list[tuple[int, _Node]] = [(-1, root)]
    for line in ast.splitlines():
        if line.strip():
            depth = len(line) - len(line.lstrip(" "))
            node = _Node(line.strip())
            while stack[-1][0] >= depth:
                stack.pop()
            stack[-1][1].children.append(node)
            stack.append((depth, node))
    # SelectWithUnionQuery > ExpressionList > SelectQuery > ExpressionList > the expression
    expression = root
    for _ in range(5):
        if not expression.children:
            return set()
        expression = expression.children[0]
    names: set[str] = set()
    bound: set[str] = set()
    for node in expression.walk():
        if node.text.startswith(("SelectWithUnionQuery", "SelectQuery")):
            return None
        if alias := re.search(r"\(alias (\S+)\)", node.text):
            bound.add(alias.group(1))
        if node.text.startswith("Identifier "):
            names.add(node.text.split()[1].rpartition(".")[2])
        if node.text.startswith("Function lambda") and node.children:
            # Its arguments: the tuple of parameters, then the body.
            parameters = node.children[0].children[:1]
            for parameter in (n for p in parameters for n in p.walk()):
                if parameter.text.startswith("Identifier "):
                    bound.add(parameter.text.split()[1])
    return names - bound


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def chdb_parser() -> SqlParser | None:
    try:
        import chdb  # noqa: PLC0415 (optional: the check works without it)
    except ImportError:
        return None
    return SqlParser(lambda sql: str(chdb.query(sql, "TSVRaw")), "chDB")


class _Placeholder(jinja2.ChainableUndefined):
    """Any of Superset's template variables or macros: renders as 1, iterates as empty."""

    def __str__(self) -> str:
        return "1"

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> _Placeholder:
        return self

    def __iter__(self) -> Iterator[t.Any]:
        return iter(())


_SUPERSET_JINJA = jinja2.sandbox.SandboxedEnvironment(undefined=_Placeholder)


def without_jinja(sql: str) -> str:
    """Superset's SQL with its template variables and macros replaced by placeholders."""
    return _SUPERSET_JINJA.from_string(sql).render()


########################################
# THE BUNDLE
########################################


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


def as_list(value: t.Any) -> list[t.Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def as_mapping(value: t.Any) -> Iterable[str]:
    return value.keys() if isinstance(value, dict) else ()


def check_bundle(
    directory: Path, schemas: Iterable[Schema], parser: SqlParser | None = None
) -> Report:
    """Check the bundle in `directory` against `schemas`; SQL parsed by `parser` if given."""
    report = Report()
    bundle = load_bundle(Path(directory), report)
    Checker(bundle, list(schemas), parser, report).run()
    return report


def default_parser(schemas: Iterable[Schema]) -> SqlParser | None:
    """chDB when installed, else a live server among `schemas`, else none."""
    if parser := chdb_parser():
        return parser
    for schema in schemas:
        if schema.server is not None:
            return SqlParser(schema.server.query, schema.name)
    return None


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
