"""
What the ClickHouse users of Aspects may reach: the Aspects databases, and the tables that the
report user may read, which come from the Superset bundle's datasets, so that it reads what the
dashboards read and nothing more. The users themselves are declared in clickhouse.py. Values are
Tutor templates.
"""

from __future__ import annotations

import functools
import re
import typing as t
from importlib import resources
from pathlib import Path

import jinja2
import yaml

from tutorcommon import speedups

XAPI_TABLE = "{{ ASPECTS_XAPI_DATABASE }}.{{ ASPECTS_RAW_XAPI_TABLE }}"
ASPECTS_DATABASES = (
    "{{ ASPECTS_XAPI_DATABASE }}",
    "{{ ASPECTS_EVENT_SINK_DATABASE }}",
    "{{ DBT_PROFILE_TARGET_DATABASE }}",
)
EVENT_SINK_DATABASE = "{{ ASPECTS_EVENT_SINK_DATABASE }}"
REPORTING_DATABASE = "{{ DBT_PROFILE_TARGET_DATABASE }}"
# The event sink tables that hold personal data (platform-plugin-aspects'
# EVENT_SINK_CLICKHOUSE_PII_MODELS), created by migration 0003.
PII_TABLES = ("user_profile", "external_id")
PII_SETTING = "ASPECTS_ENABLE_PII"
PACKAGE = Path(str(resources.files("tutoraspects")))
DATASETS = PACKAGE / "superset_assets" / "aspects" / "datasets"
# The job image's own files (dbt project, migrations, job scripts), copied whole into its
# build context (jobs.copy_job_files).
JOB_FOLDER = PACKAGE / "job"
DBT_MODELS = JOB_FOLDER / "dbt" / "models"


########################################
# WHAT THE DASHBOARDS READ
########################################

# Superset connects as the report user, so it may read what the bundle's datasets read and
# nothing else: not the parsed statements (one row per statement, every learner's actor id),
# nor a model added later. The datasets are Tutor templates; reading them here keeps each
# Tutor setting as the text "{{ NAME }}" for Tutor to render with the grants.
_SETTING = re.compile(r"__tutor_(\w+?)__")


class _TutorSetting(jinja2.Undefined):
    """A Tutor setting in a dataset template: kept as a placeholder; nothing may branch on it."""

    def __str__(self) -> str:
        return f"__tutor_{self._undefined_name}__"

    def __bool__(self) -> bool:
        raise ValueError(
            f"a dataset template tests {self._undefined_name}: only {PII_SETTING} is known to "
            "tutoraspects/grants.py, which must grant what each value of it reads"
        )


# Tables after FROM or JOIN, in SQL without comments. A table function (a name and "(") is
# refused: the report user may not use any. The suite checks these against what ClickHouse's
# parser reads (tests/aspects/test_report_user_access.py); Tutor's process has no ClickHouse.
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+((?:\w+\.)?\w+)\b(?!\s*\()", re.IGNORECASE)
_TABLE_FUNCTION = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)\s*\(", re.IGNORECASE)
_CTE = re.compile(r"\b(\w+)\s+AS\s*\(", re.IGNORECASE)
# ARRAY JOIN unfolds an array of the rows already read: what follows it is no table.
_ARRAY_JOIN = re.compile(r"\bARRAY\s+JOIN\b", re.IGNORECASE)


def _tutor_template(text: str) -> str:
    return _SETTING.sub(r"{{ \1 }}", text)


def sql_tables(sql: str, default_database: str) -> set[str]:
    """The tables `sql` reads, as database.table (unqualified ones in `default_database`)."""
    sql = _ARRAY_JOIN.sub(" ", _COMMENTS.sub(" ", sql))
    if function := _TABLE_FUNCTION.search(sql):
        raise ValueError(f"a dataset reads the table function {function.group(1)}()")
    subqueries = {name.lower() for name in _CTE.findall(sql)}
    return {
        name if "." in name else f"{default_database}.{name}"
        for name in _TABLE.findall(sql)
        if name.lower() not in subqueries
    }


# libyaml's loader where PyYAML has it: the same documents, parsed ten times faster.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _dataset_environment(templates_root: str) -> jinja2.Environment:
    # Includes are named from the folder that holds the bundle, as in Tutor
    # ("aspects/partials/...").
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_root),
        undefined=_TutorSetting,
        keep_trailing_newline=True,
    )


@functools.cache
def _dataset_template(templates_root: str, text: str) -> jinja2.Template:
    # Keyed by the text: a dataset changed on disk is compiled again.
    return _dataset_environment(templates_root).from_string(text)


def bundle_datasets(datasets: Path = DATASETS, pii: bool = False) -> t.Iterator[tuple[str, dict]]:
    """The bundle's datasets, with PII on or off: (file name, dataset), settings as placeholders."""
    files = [(path.name, path.read_bytes()) for path in sorted(datasets.rglob("*.yaml"))]
    partials = Path(datasets).parent / "partials"
    included = [(path.name, path.read_bytes()) for path in sorted(partials.glob("*"))]
    templates_root = str(Path(datasets).parent.parent)

    def parsed() -> list[tuple[str, dict]]:
        return [
            (
                name,
                yaml.load(
                    _dataset_template(templates_root, text.decode()).render({PII_SETTING: pii}),
                    YAML_LOADER,
                ),
            )
            for name, text in files
        ]

    # Parsed once per change of the files, not on every `tutor` command that renders them.
    key = repr((pii, jinja2.__version__, yaml.__version__, files, included)).encode()
    # JSON gives back each (name, dataset) pair as a list.
    yield from ((name, dataset) for name, dataset in speedups.cached_json("datasets", key, parsed))


def dataset_name(dataset: dict) -> str:
    """ "schema.table" of a dataset, as a Tutor template."""
    return _tutor_template(f"{dataset['schema']}.{dataset['table_name']}")


def dataset_tables(datasets: Path = DATASETS, pii: bool = False) -> set[str]:
    """The tables the bundle's datasets read, with PII on or off (Tutor templates)."""
    tables: set[str] = set()
    for _, dataset in bundle_datasets(datasets, pii):
        if dataset.get("sql"):
            tables |= sql_tables(dataset["sql"], dataset["schema"])
        else:
            tables.add(f"{dataset['schema']}.{dataset['table_name']}")
    return {_tutor_template(table) for table in tables}


_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_VIEW = re.compile(r"""\bmaterialized\s*=\s*["']view["']""")
_REF = re.compile(r"""\bref\(\s*["'](\w+)["']\s*\)""")
_SOURCE = re.compile(r"\bsource\(")


def view_tables(table: str, models: Path = DBT_MODELS) -> set[str]:
    """
    What reading `table` reads besides it: a dbt view runs with the rights of whoever reads it
    (ClickHouse's default SQL SECURITY INVOKER), so its reader needs the tables it reads too.
    """
    database, _, name = table.partition(".")
    if database != REPORTING_DATABASE:
        return set()
    model = next(iter(models.rglob(f"{name}.sql")), None)
    if model is None:
        return set()
    text = _JINJA_COMMENT.sub(" ", model.read_text(encoding="utf-8"))
    if not _VIEW.search(text):
        return set()
    if _SOURCE.search(text):
        raise ValueError(f"the dbt view {name} reads the raw statements")
    read = {f"{REPORTING_DATABASE}.{ref}" for ref in _REF.findall(text)}
    return read.union(*(view_tables(other, models) for other in read))


def report_tables(
    datasets: Path = DATASETS, models: Path = DBT_MODELS
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """
    (table, settings) the report user may read: what the datasets read, with PII off, then
    what they read only with PII on (granted while it is on); the views' tables included.
    """

    def with_views(tables: set[str]) -> set[str]:
        return tables.union(*(view_tables(table, models) for table in tables))

    always = with_views(dataset_tables(datasets, pii=False))
    with_pii = with_views(dataset_tables(datasets, pii=True)) - always
    return (
        *((table, ()) for table in sorted(always)),
        *((table, (PII_SETTING,)) for table in sorted(with_pii)),
    )
