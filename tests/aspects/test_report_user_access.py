"""
What Superset's ClickHouse user (ch_report) may read, against what the dashboards read.

The four plugins are rendered and `tutor local do init-clickhouse` builds the schema and the dbt
models in the embedded ClickHouse, which records each access statement as the real parser
formatted it. What the dashboards read is asked of ClickHouse itself: every dataset of the
rendered Superset bundle is analysed by the engine (`EXPLAIN QUERY TREE` of the query Superset
sends), and a view's own query likewise, since a view runs with its reader's rights. The
grants must name exactly those tables. Grants are recorded, not enforced here: only a real
server enforces them (docs/reliability.md, "Access, secrets and refusals").
"""

from __future__ import annotations

import re
import shutil
import typing as t
from collections.abc import Iterable, Iterator
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.aspects.test_clickhouse_access import grants_of
from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.tutor import TutorRoot
from tutoraspects import grants
from tutoraspects.assets_schema import without_jinja

PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
BUNDLE = ("plugins", "superset", "build", "superset", "assets", "aspects")
REPORT_USER = "ch_report"
PII_TABLES = {"event_sink.user_profile", "event_sink.external_id"}
DEFAULT_DATABASES = {
    "ASPECTS_XAPI_DATABASE": "xapi",
    "ASPECTS_EVENT_SINK_DATABASE": "event_sink",
    "DBT_PROFILE_TARGET_DATABASE": "reporting",
}
# Privileges that open table functions and external sources: url, file, remote, cluster, s3,
# mysql, postgresql, jdbc, odbc, executable... (a source, most also CREATE TEMPORARY TABLE).
SOURCE_PRIVILEGES = {"CREATE TEMPORARY TABLE", "CREATE ARBITRARY TEMPORARY TABLE"}
SOURCE_PRIVILEGES |= {"SOURCES", "READ", "WRITE", "TABLE ENGINE", "FILE", "URL", "REMOTE", "S3"}
SOURCE_PRIVILEGES |= {"MYSQL", "POSTGRES", "SQLITE", "ODBC", "JDBC", "HDFS", "AZURE", "MONGO"}
# System tables every user may read, grants or not (ClickHouse's always accessible tables):
# a SELECT without FROM reads system.one.
READABLE_BY_ALL = {"system.one", "system.settings", "system.databases", "system.tables"}
READABLE_BY_ALL |= {"system.columns", "system.functions", "system.time_zones"}
TREE_TABLE = re.compile(r"\bTABLE id: \d+, (?:alias: \S+, )?table_name: (\S+)")
TREE_TABLE_FUNCTION = re.compile(r"\bTABLE_FUNCTION id: \d+, .*table_function_name: (\S+)")


class Live:
    """A Tutor root and its ClickHouse server with the Aspects schema and models built."""

    def __init__(self, root: TutorRoot, server: ClickHouseServer) -> None:
        self.root, self.server = root, server
        self.client = server.client()

    def report_grants(self) -> set[tuple[str, str]]:
        recorded = [entry["statement"].replace("`", "") for entry in self.server.access_log()]
        return grants_of(recorded)[REPORT_USER]

    def datasets(self) -> list[dict[str, t.Any]]:
        folder = self.root.path / "env" / Path(*BUNDLE) / "datasets"
        return [yaml.safe_load(path.read_text()) for path in sorted(folder.rglob("*.yaml"))]

    def tables_read(self, sql: str) -> set[str]:
        """The tables ClickHouse reads for `sql`, and those each view among them reads."""
        explained = self.client.query(f"EXPLAIN QUERY TREE {sql}").result_rows
        tree = "\n".join(line for (line,) in explained)
        assert not TREE_TABLE_FUNCTION.findall(tree), sql
        tables = set(TREE_TABLE.findall(tree))
        for table in sorted(tables):
            database, name = table.split(".")
            [(engine, as_select)] = self.client.query(
                "SELECT engine, as_select FROM system.tables WHERE database = {d:String}"
                " AND name = {n:String}",
                parameters={"d": database, "n": name},
            ).result_rows
            if engine == "View":
                tables |= self.tables_read(as_select)
        return tables - READABLE_BY_ALL

    def dashboards_read(self) -> set[str]:
        """What the datasets of the rendered bundle read, each query run once as a check."""
        read: set[str] = set()
        for dataset in self.datasets():
            sql = dataset["sql"] or f"SELECT * FROM {dataset['schema']}.{dataset['table_name']}"
            sql = without_jinja(sql)  # Superset's macros, as Superset renders them
            self.client.query(f"SELECT * FROM ({sql}) LIMIT 1")
            read |= self.tables_read(sql)
        return read

    def init_with(self, **settings: t.Any) -> None:
        self.root.save(settings=settings)
        result = self.root.run("local", "do", "init", "--limit", "clickhouse")
        assert "ClickHouse is initialised." in result.stdout


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    directory = tmp_path_factory.mktemp("report-user")
    with running_clickhouse(directory / "clickhouse") as server:
        root = TutorRoot(directory / "root").save(PLUGINS, server.tutor_settings())
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        init = root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir).stdout
        assert "ClickHouse is initialised." in init
        yield Live(root, server)


def assert_reads_no_statement(tables: Iterable[str]) -> None:
    """Neither the raw statements nor the parsed ones: one row each, every learner's id."""
    for table in tables:
        database, _, name = table.partition(".")
        assert database != "xapi", table
        assert name != "xapi_events_parsed", table


def test_the_report_user_reads_exactly_what_the_dashboards_datasets_read(live: Live) -> None:
    read = live.dashboards_read()
    assert live.report_grants() == {("SELECT", table) for table in read}
    # The physical datasets, the Operator view's storage chart (system.parts) and the table
    # the at_risk_learners view reads; no personal data with PII off.
    assert "reporting.learner_course_status" in read
    assert "system.parts" in read
    assert not read & PII_TABLES
    assert_reads_no_statement(read)
    print(f"\n{len(live.datasets())} datasets read {len(read)} tables: {sorted(read)}")


def test_at_risk_learners_is_a_view_and_its_table_is_granted(live: Live) -> None:
    # A view runs with its reader's rights: reading it reads learner_course_status.
    engine = "SELECT engine FROM system.tables WHERE database = 'reporting' AND name = {n:String}"
    assert live.client.command(engine, parameters={"n": "at_risk_learners"}) == "View"
    read = live.tables_read("SELECT * FROM reporting.at_risk_learners")
    assert {"reporting.at_risk_learners", "reporting.learner_course_status"} <= read
    assert {("SELECT", table) for table in read} <= live.report_grants()


def test_with_pii_the_names_are_granted_and_taken_back_when_it_is_off(live: Live) -> None:
    without_pii = live.dashboards_read()
    try:
        live.init_with(ASPECTS_ENABLE_PII=True)
        with_pii = live.dashboards_read()
        assert with_pii - without_pii == PII_TABLES
        assert live.report_grants() == {("SELECT", table) for table in with_pii}
    finally:
        live.init_with(ASPECTS_ENABLE_PII=False)
    # WITH REPLACE OPTION: the next run takes back what is no longer granted.
    assert live.report_grants() == {("SELECT", table) for table in without_pii}


def test_the_report_user_has_no_privilege_opening_table_functions_or_sources(
    live: Live,
) -> None:
    parents = "SELECT toString(privilege), toString(parent_group) FROM system.privileges"
    privileges = dict(live.client.query(parents).result_rows)
    assert privileges.keys() >= SOURCE_PRIVILEGES  # names ClickHouse knows

    def with_parents(privilege: str) -> set[str]:
        parent = privileges.get(privilege)
        return {privilege} | (with_parents(parent) if parent and parent != "None" else set())

    # Granting a group (ALL, CREATE, SOURCES) grants what is under it.
    opening = set().union(*(with_parents(p) for p in SOURCE_PRIVILEGES))
    granted = {privilege for privilege, _ in live.report_grants()}
    assert granted == {"SELECT"}
    assert not granted & opening
    assert all("*" not in target for _, target in live.report_grants())


########################################
# THE GRANTS FOLLOW THE BUNDLE
########################################


def rendered(tables: Iterable[tuple[str, tuple[str, ...]]]) -> set[str]:
    return {jinja2.Template(table).render(DEFAULT_DATABASES) for table, _ in tables}


@pytest.fixture
def bundle_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The package's datasets and dbt models, copied to be changed."""
    models = tmp_path / "models"
    shutil.copytree(grants.DBT_MODELS, models)
    return copied_datasets(tmp_path), models


def copied_datasets(folder: Path) -> Path:
    """A copy of the bundle's datasets in `folder`, with the partials they include."""
    datasets = folder / "aspects" / "datasets"
    shutil.copytree(grants.DATASETS, datasets)
    shutil.copytree(grants.DATASETS.parent / "partials", datasets.parent / "partials")
    return datasets


def add_dataset(datasets: Path, name: str, sql: str | None = None) -> None:
    """A dataset file as the bundle's are written: its schema a Tutor template, unquoted."""
    text = yaml.safe_dump({"table_name": name, "schema": "SCHEMA", "sql": sql})
    text = text.replace("schema: SCHEMA", "schema: {{ DBT_PROFILE_TARGET_DATABASE }}")
    (datasets / "reporting" / f"{name}.yaml").write_text(text)


def test_a_dataset_added_to_the_bundle_is_granted_with_what_it_reads(bundle_copy) -> None:
    datasets, models = bundle_copy
    before = rendered(grants.report_tables(datasets, models))
    add_dataset(datasets, "weekly_summary")
    (models / "learners" / "weekly_summary.sql").write_text(
        '{{ config(materialized="view") }}\nselect * from {{ ref("course_active_learners") }}'
        ' join {{ ref("navigation_daily") }} using (course_key)\n'
    )
    add_dataset(
        datasets,
        "course_titles",
        "SELECT c.course_key, o.display_name -- FROM reporting.not_read\n"
        "FROM reporting.course_enrollments_daily AS c\n"
        "JOIN {{ ASPECTS_EVENT_SINK_DATABASE }}.course_overviews AS o USING (course_key)",
    )
    # What follows ARRAY JOIN is a column of the rows read: no table to grant.
    add_dataset(
        datasets,
        "course_parts",
        "SELECT c.course_key, part FROM reporting.course_enrollments_daily AS c\n"
        "LEFT ARRAY JOIN c.parts AS part, arrayEnumerate(c.parts) AS part_index",
    )
    after = rendered(grants.report_tables(datasets, models))
    assert after - before == {
        "reporting.weekly_summary",
        "reporting.navigation_daily",  # read by the new view
        "event_sink.course_overviews",
    }


def test_a_dataset_on_the_parsed_statements_would_be_granted_and_fails_the_check(
    bundle_copy,
) -> None:
    datasets, models = bundle_copy
    assert_reads_no_statement(rendered(grants.report_tables(datasets, models)))
    add_dataset(datasets, "xapi_events_parsed")
    tables = rendered(grants.report_tables(datasets, models))
    assert "reporting.xapi_events_parsed" in tables
    with pytest.raises(AssertionError, match="xapi_events_parsed"):
        assert_reads_no_statement(tables)


def test_a_dataset_reading_a_table_function_is_refused(bundle_copy) -> None:
    datasets, models = bundle_copy
    add_dataset(datasets, "remote_rows", "SELECT * FROM url('http://example.com/rows.csv')")
    with pytest.raises(ValueError, match=r"table function url\(\)"):
        grants.report_tables(datasets, models)
