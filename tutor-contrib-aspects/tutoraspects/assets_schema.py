"""
What the asset bundle is checked against (tutoraspects.assets_check): the tables' columns, from
the dbt models' documentation or a live ClickHouse server, and ClickHouse's own SQL parser (chDB,
else that server).
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

from tutoraspects.superset_value_labels import (
    ASPECTS_ENGLISH_LABELS,
    aspects_labelled,
)
from tutoraspects.superset_value_labels import aspects_sql_string as literal

# Databases of ClickHouse itself, left out of a live server's schema.
SYSTEM_DATABASES = ("system", "information_schema", "INFORMATION_SCHEMA")


class CheckError(Exception):
    """The check itself cannot run (no bundle, unreachable server...); the message says why."""


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
# The plugin's own macro, as Superset renders it for English readers.
_SUPERSET_JINJA.globals["aspects_label"] = lambda expression: aspects_labelled(
    expression, ASPECTS_ENGLISH_LABELS
)


def without_jinja(sql: str) -> str:
    """Superset's SQL with its template variables and macros replaced by placeholders."""
    return _SUPERSET_JINJA.from_string(sql).render()


def default_parser(schemas: Iterable[Schema]) -> SqlParser | None:
    """chDB when installed, else a live server among `schemas`, else none."""
    if parser := chdb_parser():
        return parser
    for schema in schemas:
        if schema.server is not None:
            return SqlParser(schema.server.query, schema.name)
    return None
