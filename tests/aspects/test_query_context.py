"""
The query contexts of the bundle's charts (tutoraspects/query_context.py): each chart file holds
the one its params give, as the generator writes it; a chart whose params are a template gets
its own once rendered, whatever the settings; the queries are those Superset's front end
builds for each viz type. Superset answering them is tested in test_superset_assets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tutoraspects import query_context

CHARTS = sorted((query_context.BUNDLE / "charts").glob("*.yaml"))


def test_every_chart_file_holds_the_query_context_its_params_give() -> None:
    stale = query_context.stale_charts()
    assert not stale, f"run `python -m tutoraspects.query_context`: stale {stale}"
    assert query_context.main(["--check"]) == 0


def render(path: Path, **settings: Any) -> dict[str, Any]:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters["aspects_query_context"] = query_context.template_filter
    text = environment.from_string(path.read_text(encoding="utf-8")).render(**settings)
    return yaml.safe_load(text)


@pytest.mark.parametrize("pii", [False, True])
def test_a_templated_chart_gets_the_query_context_of_its_rendered_params(pii: bool) -> None:
    templated = [path for path in CHARTS if "{{" in path.read_text(encoding="utf-8")]
    assert templated
    for path in templated:
        chart = render(path, ASPECTS_ENABLE_PII=pii)
        params = chart["params"]
        saved = json.loads(chart["query_context"])
        assert saved == query_context.query_context(params, chart["dataset_uuid"]), path.name
        if "all_columns" in params:
            assert saved["queries"][0]["columns"] == params["all_columns"]
            assert ("username" in saved["queries"][0]["columns"]) is pii


def test_the_stale_check_finds_a_chart_without_one(tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    [source] = [path for path in CHARTS if path.name == "learners_passed.yaml"]
    text = source.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True) if "query_context" not in line]
    (charts / source.name).write_text("".join(lines), encoding="utf-8")
    assert query_context.stale_charts(tmp_path) == ["charts/learners_passed.yaml"]
    assert query_context.main(["--check", str(tmp_path)]) == 1
    assert query_context.main([str(tmp_path)]) == 0
    assert (charts / source.name).read_text(encoding="utf-8") == text


def test_an_unknown_viz_type_is_named_with_its_chart(tmp_path: Path) -> None:
    with pytest.raises(query_context.QueryContextError, match="viz type 'sunburst_v2'"):
        query_context.query_context({"viz_type": "sunburst_v2"}, "uuid")
    (tmp_path / "charts").mkdir()
    chart = 'params: {"viz_type": "sunburst_v2"}\ndataset_uuid: 1\n'
    (tmp_path / "charts" / "sun.yaml").write_text(chart, encoding="utf-8")
    with pytest.raises(query_context.QueryContextError, match="^charts/sun.yaml: .*sunburst_v2"):
        query_context.stale_charts(tmp_path)


def test_options_whose_queries_are_not_built_are_refused() -> None:
    params = {
        "viz_type": "echarts_timeseries_line",
        "x_axis": "day",
        "time_compare": ["1 week ago"],
    }
    with pytest.raises(query_context.QueryContextError, match="time_compare"):
        query_context.query_context(params, "uuid")


METRIC = {"expressionType": "SIMPLE", "column": {"column_name": "n"}, "aggregate": "SUM"}


def test_queries_as_the_front_end_builds_them() -> None:
    dataset = "d981570a-b157-5586-827a-4fd5c7670c72"
    line = query_context.query_context(
        {
            "viz_type": "echarts_timeseries_line",
            "x_axis": "day",
            "time_grain_sqla": "P1D",
            "metrics": [{**METRIC, "label": "Learners"}],
            "groupby": ["course"],
            "adhoc_filters": [
                {
                    "expressionType": "SIMPLE",
                    "subject": "period",
                    "operator": "==",
                    "comparator": "week",
                    "clause": "WHERE",
                },
                {"expressionType": "SQL", "sqlExpression": "n > 1", "clause": "WHERE"},
            ],
        },
        dataset,
    )
    assert line["datasource"] == {"id": dataset, "type": "table"}
    [query] = line["queries"]
    assert query["columns"] == [
        {
            "timeGrain": "P1D",
            "columnType": "BASE_AXIS",
            "sqlExpression": "day",
            "label": "day",
            "expressionType": "SQL",
            "isColumnReference": True,
        },
        "course",
    ]
    assert query["filters"] == [{"col": "period", "op": "==", "val": "week"}]
    assert query["extras"] == {"time_grain_sqla": "P1D", "having": "", "where": "(n > 1)"}
    assert query["series_columns"] == ["course"]
    assert query["orderby"] == [[{**METRIC, "label": "Learners"}, False]]
    assert [step["operation"] for step in query["post_processing"]] == ["pivot", "flatten"]
    assert query["post_processing"][0]["options"]["index"] == ["day"]
    assert query["post_processing"][0]["options"]["columns"] == ["course"]
    assert "is_timeseries" not in query

    table = query_context.query_context(
        {
            "viz_type": "table",
            "query_mode": "aggregate",
            "groupby": ["course"],
            "all_columns": ["ignored"],
            "metrics": [METRIC],
            "row_limit": 10,
        },
        dataset,
    )
    [query] = table["queries"]
    assert query["columns"] == ["course"]
    assert query["orderby"] == [[METRIC, False]]
    assert query["row_limit"] == 10

    raw = query_context.query_context(
        {"viz_type": "table", "query_mode": "raw", "all_columns": ["a", "b"], "metrics": [METRIC]},
        dataset,
    )
    [query] = raw["queries"]
    assert query["columns"] == ["a", "b"] and "metrics" not in query
    assert raw["form_data"]["include_time"] is False

    pie = query_context.query_context(
        {"viz_type": "pie", "groupby": ["status"], "metric": METRIC, "sort_by_metric": True},
        dataset,
    )
    [query] = pie["queries"]
    assert query["metrics"] == [METRIC] and query["columns"] == ["status"]
    assert query["orderby"] == [[METRIC, False]]


def test_pivot_tables_and_mixed_time_series() -> None:
    dataset = "d981570a-b157-5586-827a-4fd5c7670c72"
    pivot = query_context.query_context(
        {
            "viz_type": "pivot_table_v2",
            "groupbyRows": ["course", "day"],
            "groupbyColumns": ["status", "course"],
            "metrics": [METRIC],
            "time_grain_sqla": "P1W",
            "temporal_columns_lookup": {"day": True},
            "order_desc": True,
        },
        dataset,
    )
    [query] = pivot["queries"]
    assert query["columns"] == [
        "status",
        "course",
        {
            "timeGrain": "P1W",
            "columnType": "BASE_AXIS",
            "sqlExpression": "day",
            "label": "day",
            "expressionType": "SQL",
        },
    ]
    assert query["metrics"] == [METRIC]
    assert query["orderby"] == [[METRIC, False]]
    assert "time_grain_sqla" not in query["extras"]

    other = {**METRIC, "aggregate": "MAX"}
    mixed = query_context.query_context(
        {
            "viz_type": "mixed_timeseries",
            "x_axis": "day",
            "metrics": [METRIC],
            "groupby": ["course"],
            "metrics_b": [other],
            "groupby_b": [],
            "adhoc_filters_b": [
                {"expressionType": "SQL", "sqlExpression": "n > 1", "clause": "WHERE"}
            ],
        },
        dataset,
    )
    first, second = mixed["queries"]
    assert first["metrics"] == [METRIC] and first["columns"][1:] == ["course"]
    assert second["metrics"] == [other] and second["columns"][1:] == []
    assert first["extras"]["where"] == "" and second["extras"]["where"] == "(n > 1)"
    assert first["columns"][0]["columnType"] == second["columns"][0]["columnType"] == "BASE_AXIS"
    with pytest.raises(query_context.QueryContextError, match="rolling_type_b"):
        query_context.query_context(
            {"viz_type": "mixed_timeseries", "x_axis": "day", "rolling_type_b": "sum"}, dataset
        )
