"""
`tutor aspects check-superset-assets` (tutoraspects/assets_check.py): the asset bundle as Tutor
renders it passes, offline against the dbt models' documented columns and against a live
embedded ClickHouse with the migrated schema and the dbt models built; copies of it broken on
purpose each fail, with the file and the field named. Broken copies start from whatever the
bundle holds: each takes the first chart, dataset or dashboard it finds.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.tutor import TutorRoot
from tutoraspects import assets_check, query_context

REPOSITORY = Path(__file__).resolve().parents[2]
DBT_MODELS = REPOSITORY / "tutor-contrib-aspects" / "tutoraspects" / "job" / "dbt" / "models"
PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
BUNDLE = Path("env", "plugins", "superset", "build", "superset", "assets", "aspects")
UNKNOWN = "no_such_column"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> TutorRoot:
    return TutorRoot(tmp_path_factory.mktemp("rendered")).save(PLUGINS)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TutorRoot, ClickHouseServer]]:
    directory = tmp_path_factory.mktemp("live")
    with running_clickhouse(directory / "clickhouse") as server:
        root = TutorRoot(directory / "root").save(PLUGINS, server.tutor_settings())
        job_dir = str(root.path / "env" / "plugins" / "aspects" / "build" / "aspects")
        # The schema and the dbt models, over no statement: only columns matter here.
        init = root.run("local", "do", "init-clickhouse", ASPECTS_JOB_DIR=job_dir).stdout
        assert "Completed successfully" in init
        yield root, server


def server_url(server: ClickHouseServer) -> str:
    return f"http://{server.user}:{server.password}@{server.host}:{server.port}"


def check(bundle: Path, *schemas: assets_check.Schema) -> assets_check.Report:
    schemas = schemas or (assets_check.dbt_schema(DBT_MODELS, "reporting"),)
    return assets_check.check_bundle(bundle, schemas, assets_check.chdb_parser())


def problems(report: assets_check.Report) -> list[str]:
    return [str(problem) for problem in report.problems]


########################################
# THE BUNDLE AS IT IS
########################################


def test_the_rendered_bundle_passes_offline(rendered: TutorRoot) -> None:
    result = rendered.run("aspects", "check-superset-assets")
    assert "No problem found." in result.stdout, result.stdout
    assert "not parsed" not in result.stdout  # chDB parsed every expression
    assert "the dbt models' documentation" in result.stdout


def test_the_rendered_bundle_passes_on_the_live_schema(
    live: tuple[TutorRoot, ClickHouseServer],
) -> None:
    root, server = live
    result = root.run("aspects", "check-superset-assets", "--clickhouse-url", server_url(server))
    output = result.stdout + result.stderr
    assert "No problem found." in output, output
    assert f"ClickHouse at http://{server.host}:{server.port}" in output
    assert server.password not in output


def test_the_live_schema_holds_every_documented_model(
    live: tuple[TutorRoot, ClickHouseServer],
) -> None:
    # The offline check is only as good as the documentation: it must match the built models.
    root, server = live
    documented = assets_check.dbt_schema(DBT_MODELS, "reporting").tables
    built = assets_check.clickhouse_schema(server_url(server)).tables
    for key, table in documented.items():
        assert key in built, key
        assert table.columns <= built[key].columns, (key, table.columns - built[key].columns)


########################################
# BROKEN COPIES
########################################


@pytest.fixture
def bundle(rendered: TutorRoot, tmp_path: Path) -> Path:
    return Path(shutil.copytree(rendered.path / BUNDLE, tmp_path / "aspects"))


def files(bundle: Path, kind: str) -> list[Path]:
    return sorted((bundle / kind).rglob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = load(path)
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def first_chart(bundle: Path) -> tuple[Path, str]:
    path = files(bundle, "charts")[0]
    return path, path.relative_to(bundle).as_posix()


def dataset_file(bundle: Path, dataset_uuid: str) -> Path:
    return next(p for p in files(bundle, "datasets") if str(load(p)["uuid"]) == dataset_uuid)


def params(data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(data["params"], str):
        data["params"] = json.loads(data["params"])
    return data["params"]


def edit_params(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change a chart's params, and its query context with them (as the generator writes it)."""

    def both(data: dict[str, Any]) -> None:
        change(params(data))
        data["query_context"] = query_context.query_context_text(
            data["params"], str(data["dataset_uuid"])
        )

    edit(path, both)


def test_a_chart_whose_dataset_is_missing_fails(bundle: Path) -> None:
    chart, name = first_chart(bundle)
    dataset_file(bundle, str(load(chart)["dataset_uuid"])).unlink()
    found = problems(check(bundle))
    assert any(p.startswith(f"{name}: dataset_uuid: no dataset of uuid") for p in found), found


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("groupby", [UNKNOWN], "params.groupby[0]"),
        ("x_axis", UNKNOWN, "params.x_axis"),
        (
            "metrics",
            [{"expressionType": "SIMPLE", "column": {"column_name": UNKNOWN}, "aggregate": "SUM"}],
            "params.metrics[0].column.column_name",
        ),
        (
            "metric",
            {"expressionType": "SQL", "sqlExpression": f"sum({UNKNOWN}) / count()"},
            "params.metric.sqlExpression",
        ),
        (
            "adhoc_filters",
            [{"expressionType": "SIMPLE", "subject": UNKNOWN, "operator": "==", "comparator": 1}],
            "params.adhoc_filters[0].subject",
        ),
        ("all_columns", [UNKNOWN], "params.all_columns[0]"),
        ("metrics", ["no_such_metric"], "params.metrics[0]"),
    ],
)
def test_a_chart_that_uses_an_unknown_column_fails(
    bundle: Path, key: str, value: Any, field: str
) -> None:
    chart, name = first_chart(bundle)
    edit_params(chart, lambda values: values.update({key: value}))
    found = problems(check(bundle))
    unknown = "no_such_metric" if key == "metrics" and isinstance(value[0], str) else UNKNOWN
    assert any(p.startswith(f"{name}: {field}: ") and repr(unknown) in p for p in found), found


def test_a_chart_with_custom_sql_fails_even_when_it_parses(bundle: Path) -> None:
    """Course staff and guests get a 400 for it: the query guard lets administrators alone."""
    chart, name = first_chart(bundle)
    metric = {"expressionType": "SQL", "sqlExpression": "count()", "label": "Rows"}
    edit_params(chart, lambda values: values.update(metric=metric))
    found = problems(check(bundle))
    expected = f"{name}: params.metric.sqlExpression: custom SQL 'count()': refused with a 400"
    assert any(p.startswith(expected) for p in found), found


def test_a_chart_without_a_query_context_fails(bundle: Path) -> None:
    chart, name = first_chart(bundle)
    title = load(chart)["slice_name"]
    edit(chart, lambda data: data.update(query_context=None))
    found = problems(check(bundle))
    assert f"{name}: query_context: chart {title!r} has none" in "\n".join(found), found


def test_a_chart_whose_query_context_disagrees_with_its_params_fails(bundle: Path) -> None:
    chart, name = first_chart(bundle)
    edit(chart, lambda data: params(data).update(row_limit=7))
    found = problems(check(bundle))
    assert [p for p in found if p.startswith(f"{name}: query_context.queries[0].row_limit: ")]
    assert all("disagrees with its params" in p for p in found if "query_context" in p), found


def test_a_query_context_naming_its_dataset_by_id_fails(bundle: Path) -> None:
    chart, name = first_chart(bundle)

    def by_id(data: dict[str, Any]) -> None:
        context = json.loads(data["query_context"])
        context["datasource"]["id"] = 12
        data["query_context"] = json.dumps(context)

    edit(chart, by_id)
    found = problems(check(bundle))
    assert any(p.startswith(f"{name}: query_context.datasource.id: ") for p in found), found


def test_a_chart_of_a_viz_type_the_generator_does_not_know_fails(bundle: Path) -> None:
    chart, name = first_chart(bundle)

    def sunburst(data: dict[str, Any]) -> None:
        data["viz_type"] = "sunburst_v2"
        params(data)["viz_type"] = "sunburst_v2"

    edit(chart, sunburst)
    found = problems(check(bundle))
    title = load(chart)["slice_name"]
    assert any(
        p.startswith(f"{name}: query_context: chart {title!r}: cannot check it: ")
        and "does not know the viz type 'sunburst_v2'" in p
        for p in found
    ), found


def physical_dataset(bundle: Path) -> tuple[Path, str]:
    path = next(p for p in files(bundle, "datasets") if not load(p).get("sql"))
    return path, path.relative_to(bundle).as_posix()


def test_a_dataset_column_missing_from_the_schema_fails(bundle: Path) -> None:
    dataset, name = physical_dataset(bundle)
    columns = load(dataset)["columns"]
    edit(dataset, lambda data: data["columns"].append({"column_name": UNKNOWN, "type": "String"}))
    found = problems(check(bundle))
    field = f"columns[{len(columns)}].column_name"
    expected = f"{name}: {field}: {UNKNOWN!r} is not a column of reporting."
    assert any(p.startswith(expected) and ".yml" in p for p in found), found


def test_a_dataset_metric_reading_an_unknown_column_fails(bundle: Path) -> None:
    dataset, name = physical_dataset(bundle)
    metric = {"metric_name": "broken", "expression": f"sum({UNKNOWN})"}
    edit(dataset, lambda data: data.setdefault("metrics", []).insert(0, metric))
    found = problems(check(bundle))
    assert any(p.startswith(f"{name}: metrics[0].expression: reads {UNKNOWN!r}") for p in found)


def test_a_dataset_on_a_table_that_does_not_exist_fails(bundle: Path) -> None:
    dataset, name = physical_dataset(bundle)
    edit(dataset, lambda data: data.update(table_name="no_such_table"))
    found = problems(check(bundle))
    assert f"{name}: table_name: " in "\n".join(found) and "no_such_table" in "\n".join(found)


def test_a_virtual_dataset_whose_sql_does_not_parse_fails(bundle: Path) -> None:
    dataset, name = physical_dataset(bundle)
    sql = "SELECT course_key, FROM reporting.x WHERE {{ can_view_courses('course_key') }} AND"
    edit(dataset, lambda data: data.update(sql=sql))
    found = problems(check(bundle))
    assert any(p.startswith(f"{name}: sql: does not parse (chDB): Code: 62.") for p in found)


def test_a_virtual_dataset_that_parses_is_checked_for_columns_on_a_live_server_only(
    bundle: Path,
) -> None:
    dataset, name = physical_dataset(bundle)
    data = load(dataset)
    table = f"{data['schema']}.{data['table_name']}"
    sql = f"SELECT * FROM {table} WHERE {{{{ can_view_courses('course_key') }}}}"
    edit(dataset, lambda data: data.update(sql=sql))
    report = check(bundle)
    assert report.ok, problems(report)
    unchecked = [str(p) for p in report.unchecked]
    assert f"{name}: columns: a query's columns are checked on a live server only" in unchecked


def test_a_dashboard_with_a_missing_chart_fails(bundle: Path) -> None:
    # A dashboard's file holds a document per language (#0, #1...): the first one is broken.
    dashboard = files(bundle, "dashboards")[0]
    documents = list(yaml.safe_load_all(dashboard.read_text(encoding="utf-8")))
    name = dashboard.relative_to(bundle).as_posix() + ("#0" if len(documents) > 1 else "")
    position = documents[0]["position"]
    position = json.loads(position) if isinstance(position, str) else position
    key = next(
        k for k, node in position.items() if isinstance(node, dict) and node.get("type") == "CHART"
    )
    missing = str(uuid.uuid4())
    position[key]["meta"]["uuid"] = missing
    documents[0]["position"] = position
    dashboard.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    expected = f"{name}: position.{key}.meta.uuid: no chart of uuid {missing} in the bundle"
    assert any(p.startswith(expected) for p in problems(check(bundle)))


def test_unreadable_files_are_named(bundle: Path) -> None:
    chart, name = first_chart(bundle)
    chart.write_text("slice_name: [unclosed\n", encoding="utf-8")
    found = problems(check(bundle))
    assert any(p.startswith(f"{name}: (file): not valid YAML") for p in found), found


def test_an_unrendered_bundle_is_refused_with_a_hint(bundle: Path) -> None:
    dataset, name = physical_dataset(bundle)
    edit(dataset, lambda data: data.update(schema="{{ DBT_PROFILE_TARGET_DATABASE }}"))
    found = problems(check(bundle))
    assert any(p.startswith(f"{name}: schema: ") and "unrendered" in p for p in found), found


def test_the_command_exits_with_1_and_lists_the_problems(rendered: TutorRoot, bundle: Path) -> None:
    chart, name = first_chart(bundle)
    edit_params(chart, lambda values: values.update(groupby=[UNKNOWN]))
    result = rendered.run("aspects", "check-superset-assets", "--bundle", str(bundle), check=False)
    assert result.returncode == 1
    assert f"- {name}: params.groupby[0]: column {UNKNOWN!r} is not in dataset" in result.stdout
    assert "1 problem(s) in the Superset asset bundle" in result.stderr + result.stdout


def test_a_missing_bundle_or_a_bad_url_is_a_clear_error(
    rendered: TutorRoot, tmp_path: Path
) -> None:
    result = rendered.run(
        "aspects", "check-superset-assets", "--bundle", str(tmp_path / "none"), check=False
    )
    assert result.returncode == 1
    assert "metadata.yaml is missing" in result.stdout + result.stderr
    result = rendered.run(
        "aspects",
        "check-superset-assets",
        check=False,
        ASPECTS_CHECK_CLICKHOUSE_URL="http://someone:s3cret-pass@127.0.0.1:9",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "ClickHouse at http://127.0.0.1:9 did not answer" in output
    assert "s3cret-pass" not in output


def test_the_virtual_dataset_columns_are_checked_on_the_live_server(
    live: tuple[TutorRoot, ClickHouseServer], bundle: Path
) -> None:
    _, server = live
    dataset, name = physical_dataset(bundle)
    data = load(dataset)
    first, *_ = (column["column_name"] for column in data["columns"])
    sql = f"SELECT {first} FROM {data['schema']}.{data['table_name']}"
    edit(dataset, lambda data: data.update(sql=sql))
    schema = assets_check.clickhouse_schema(server_url(server))
    found = problems(check(bundle, schema))
    assert found, "the query returns one column of the dataset's several"
    assert all(p.startswith(f"{name}: columns[") for p in found), found
    assert all("is not a column that the dataset's query returns" in p for p in found), found


@pytest.mark.parametrize(
    "url", ["ftp://someone:s3cret-pass@host", "http://someone:s3cret-pass@h:x"]
)
def test_a_url_that_is_not_http_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(assets_check.CheckError, match="must look like http") as error:
        assets_check.clickhouse_schema(url)
    assert "s3cret-pass" not in str(error.value)


def test_without_a_parser_sql_is_reported_as_not_checked(bundle: Path) -> None:
    dataset, name = physical_dataset(bundle)
    edit(dataset, lambda data: data.update(sql="SELECT broken FROM"))
    schema = assets_check.dbt_schema(DBT_MODELS, "reporting")
    report = assets_check.check_bundle(bundle, [schema], parser=None)
    assert f"{name}: sql: not parsed: neither chDB nor a server to parse it" in [
        str(p) for p in report.unchecked
    ]
