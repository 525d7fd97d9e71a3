"""
The query context of a chart: what Superset saves with a chart when someone saves it in the
browser, and what its export writes as `query_context`. It is the request that the chart's
front-end plugin (its buildQuery) sends to /api/v1/chart/data. Superset answers
/api/v1/chart/<id>/data, runs scheduled reports and warms its cache from it; a chart without
one answers 400 there. The bundle's charts are written as files, so their query contexts are
built here, from each chart's params, the way the front end builds them.

The datasource is named by the dataset's uuid, which Superset 6 accepts in place of its id:
the query context then holds on every instance the bundle is imported into (an export from
Superset holds the exporting instance's id, which another instance does not have).

`python -m tutoraspects.query_context [--check] [BUNDLE]` writes each chart file's
`query_context` line from its `params` line (--check: writes nothing, fails when one is stale).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing as t
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import yaml

QueryObject = dict[str, t.Any]
# The x axis label of a time series chart without an x axis (Superset's DTTM_ALIAS).
TIMESTAMP = "__timestamp"
# Options whose queries the builders below do not reproduce (time comparison, rolling
# windows, resampling, forecasts, totals, server-side paging): a chart with one of them set
# is refused rather than given a query context that answers other figures than the chart.
UNSUPPORTED = (
    "time_compare",
    "rolling_type",
    "resample_rule",
    "resample_method",
    "contributionMode",
    "forecastEnabled",
    "show_totals",
    "server_pagination",
    "extra_form_data",
)
NOT_SET = (None, "", [], {}, False, "None", "null")


class QueryContextError(ValueError):
    """A chart whose query context cannot be built; the message says why."""


########################################
# WHAT EVERY VIZ TYPE SHARES (superset-ui-core's buildQueryObject)
########################################


def metric_label(metric: t.Any) -> str:
    if isinstance(metric, str):
        return metric
    if metric.get("label"):
        return str(metric["label"])
    if metric.get("expressionType") == "SQL":
        return str(metric.get("sqlExpression"))
    return f"{metric.get('aggregate')}({(metric.get('column') or {}).get('column_name')})"


def column_label(column: t.Any) -> str:
    if isinstance(column, str):
        return column
    return str(column.get("label") or column.get("sqlExpression"))


def unique(values: list[t.Any], label: Callable[[t.Any], str]) -> list[t.Any]:
    seen: set[str] = set()
    kept = []
    for value in values:
        if label(value) not in seen:
            seen.add(label(value))
            kept.append(value)
    return kept


# Parameters that the front end reads as metrics or columns under another name.
ALIASES = {
    "metric": "metrics",
    "metric_2": "metrics",
    "secondary_metric": "metrics",
    "x": "metrics",
    "y": "metrics",
    "size": "metrics",
    "all_columns": "columns",
    "series": "groupby",
    "order_by_cols": "orderby",
}
# Taken out of the form data before metrics and columns are gathered from the rest.
OWN_FIELDS = ("annotation_layers", "extra_form_data", "time_range", "since", "until")
OWN_FIELDS += ("row_limit", "row_offset", "order_desc", "limit", "timeseries_limit_metric")
OWN_FIELDS += ("granularity", "url_params", "custom_params", "series_columns", "series_limit")
OWN_FIELDS += ("series_limit_metric",)


def query_fields(form_data: dict[str, t.Any]) -> tuple[list, list | None, list | None]:
    """Columns, metrics and order of the form data (the front end's extractQueryFields)."""
    mode = form_data.get("query_mode")
    columns: list[t.Any] = []
    metrics: list[t.Any] = []
    orderby: list[t.Any] = []
    for key, value in form_data.items():
        if key in OWN_FIELDS or key == "query_mode" or value is None:
            continue
        kind = ALIASES.get(key, key)
        # Tables keep both modes' fields, so that switching mode keeps them: one is ignored.
        if (mode == "aggregate" and kind == "columns") or (
            mode == "raw" and kind in ("groupby", "metrics")
        ):
            continue
        kind = "columns" if kind == "groupby" else kind
        values = value if isinstance(value, list) else [value]
        if kind == "metrics":
            metrics += values
        elif kind == "columns":
            columns += values
        elif kind == "orderby":
            orderby += [json.loads(item) if isinstance(item, str) else item for item in values]
    return (
        unique([column for column in columns if column != ""], column_label),
        None if mode == "raw" else unique(metrics, metric_label),
        orderby or None,
    )


def wrapped(clause: str) -> str:
    # A trailing SQL comment would swallow what follows it.
    return f"({clause}\n)" if "--" in clause else f"({clause})"


def filters_and_extras(form_data: dict[str, t.Any]) -> tuple[list[dict[str, t.Any]], dict]:
    """Simple filters as query filters; SQL ones as the WHERE and HAVING extras."""
    filters: list[dict[str, t.Any]] = []
    where: list[str] = []
    having: list[str] = []
    for adhoc in form_data.get("adhoc_filters") or []:
        clause = adhoc.get("clause")
        if adhoc.get("expressionType") == "SIMPLE":
            if clause == "WHERE":
                operator = adhoc.get("operator")
                converted = {"col": adhoc.get("subject"), "op": operator}
                if operator not in ("IS NULL", "IS NOT NULL", "IS TRUE", "IS FALSE"):
                    converted["val"] = adhoc.get("comparator")
                filters.append(converted)
        else:
            (where if clause == "WHERE" else having).append(adhoc.get("sqlExpression") or "")
    extras: dict[str, t.Any] = {}
    if form_data.get("time_grain_sqla"):
        extras["time_grain_sqla"] = form_data["time_grain_sqla"]
    extras["having"] = " AND ".join(map(wrapped, having))
    extras["where"] = " AND ".join(map(wrapped, where))
    return filters, extras


def base_query(form_data: dict[str, t.Any]) -> QueryObject:
    """The query object every viz type starts from (the front end's buildQueryObject)."""
    columns, metrics, orderby = query_fields(form_data)
    filters, extras = filters_and_extras(form_data)
    granularity = form_data.get("granularity") or form_data.get("granularity_sqla")
    query: QueryObject = {}
    for key in ("time_range", "since", "until"):
        if form_data.get(key):
            query[key] = form_data[key]
    if granularity:
        query["granularity"] = granularity
    query.update(
        {
            "filters": filters,
            "extras": extras,
            "applied_time_extras": {},
            "columns": columns,
        }
    )
    if metrics is not None:
        query["metrics"] = metrics
    if orderby is not None:
        query["orderby"] = orderby
    query["annotation_layers"] = form_data.get("annotation_layers") or []
    for key in ("row_limit", "row_offset"):
        if form_data.get(key) is not None:
            query[key] = int(form_data[key])
    for key in ("series_columns", "series_limit"):
        if form_data.get(key) is not None:
            query[key] = form_data[key]
    if form_data.get("series_limit_metric"):
        query["series_limit_metric"] = form_data["series_limit_metric"]
    query["timeseries_limit"] = int(form_data["limit"]) if form_data.get("limit") else 0
    if form_data.get("timeseries_limit_metric"):
        query["timeseries_limit_metric"] = form_data["timeseries_limit_metric"]
    query["order_desc"] = form_data.get("order_desc", True)
    query["url_params"] = form_data.get("url_params") or {}
    query["custom_params"] = form_data.get("custom_params") or {}
    query["custom_form_data"] = {}
    return query


def base_axis(form_data: dict[str, t.Any], query: QueryObject) -> QueryObject:
    """The x axis as Superset's base axis column, with the time grain (normalizeTimeColumn)."""
    x_axis = form_data.get("x_axis")
    if not x_axis:
        return query
    columns = list(query.get("columns") or [])
    for index, column in enumerate(columns):
        if isinstance(x_axis, str) and column == x_axis:
            axis = {"sqlExpression": x_axis, "label": x_axis, "expressionType": "SQL"}
            axis["isColumnReference"] = True
        elif isinstance(x_axis, dict) and isinstance(column, dict):
            if column.get("sqlExpression") != x_axis.get("sqlExpression"):
                continue
            axis = column
        else:
            continue
        grain = (query.get("extras") or {}).get("time_grain_sqla")
        columns[index] = {
            **({"timeGrain": grain} if grain else {}),
            "columnType": "BASE_AXIS",
            **axis,
        }
        query = {key: value for key, value in query.items() if key != "is_timeseries"}
        return {**query, "columns": columns}
    return query


########################################
# EACH VIZ TYPE (its plugin's buildQuery)
########################################


def table_queries(form_data: dict[str, t.Any]) -> list[QueryObject]:
    """plugin-chart-table: raw records, or aggregates ordered by the sort metric or the first."""
    mode = form_data.get("query_mode")
    if mode not in ("aggregate", "raw"):
        mode = "raw" if form_data.get("all_columns") else "aggregate"
    query = base_query(form_data)
    columns = query["columns"]
    orderby = query.get("orderby") or []
    metrics = query.get("metrics")
    post_processing: list[dict[str, t.Any]] = []
    if mode == "aggregate":
        metrics = metrics or []
        sort_by = form_data.get("timeseries_limit_metric")
        sort_by = sort_by[0] if isinstance(sort_by, list) and sort_by else sort_by
        if sort_by:
            orderby = [[sort_by, not form_data.get("order_desc", False)]]
        elif metrics:
            orderby = [[metrics[0], False]]
        percent = form_data.get("percent_metrics") or []
        if percent:
            labels = list(dict.fromkeys(map(metric_label, percent)))
            metrics = unique(metrics + percent, metric_label)
            post_processing.append(
                {
                    "operation": "contribution",
                    "options": {"columns": labels, "rename_columns": [f"%{m}" for m in labels]},
                }
            )
        grain = form_data.get("time_grain_sqla")
        temporal = form_data.get("temporal_columns_lookup") or {}
        axis = next((c for c in columns if isinstance(c, str) and grain and temporal.get(c)), None)
        if axis is not None:
            columns = [
                {
                    "timeGrain": grain,
                    "columnType": "BASE_AXIS",
                    "sqlExpression": axis,
                    "label": axis,
                    "expressionType": "SQL",
                },
                *(column for column in columns if column != axis),
            ]
    query.update(columns=columns, orderby=orderby, post_processing=post_processing)
    query["time_offsets"] = []
    if metrics is not None:
        query["metrics"] = metrics
    return [query]


def table_form_data(form_data: dict[str, t.Any]) -> dict[str, t.Any]:
    # Raw records never group by time: the front end says so in the form data it sends.
    mode = form_data.get("query_mode")
    raw = mode == "raw" or (mode != "aggregate" and form_data.get("all_columns"))
    return {**form_data, "include_time": False} if raw else form_data


def big_number_total_queries(form_data: dict[str, t.Any]) -> list[QueryObject]:
    """plugin-chart-echarts BigNumberTotal: the metric over every row."""
    return [base_query(form_data)]


def pie_queries(form_data: dict[str, t.Any]) -> list[QueryObject]:
    """plugin-chart-echarts Pie: the metric per group, ordered by it when asked."""
    query = base_query(form_data)
    if form_data.get("sort_by_metric"):
        query["orderby"] = [[form_data.get("metric"), False]]
    return [query]


def timeseries_queries(form_data: dict[str, t.Any]) -> list[QueryObject]:
    """
    plugin-chart-echarts Timeseries (line, bar, area, scatter, smooth, step): the metrics per
    x-axis value and series, pivoted to one column per series and metric, then flattened.
    """
    x_axis = form_data.get("x_axis")
    groupby = form_data.get("groupby") or []
    groupby = groupby if isinstance(groupby, list) else [groupby]
    query = base_query(form_data)
    labels = [metric_label(metric) for metric in query.get("metrics") or []]
    post_processing: list[dict[str, t.Any]] = []
    if labels:
        post_processing.append(
            {
                "operation": "pivot",
                "options": {
                    "index": [column_label(x_axis) if x_axis else TIMESTAMP],
                    "columns": [column_label(column) for column in query["columns"]],
                    "aggregates": {label: {"operator": "mean"} for label in labels},
                    "drop_missing_columns": False,
                },
            }
        )
    if labels and x_axis and len(labels) == 1 and groupby and form_data.get("truncate_metric"):
        post_processing.append(
            {
                "operation": "rename",
                "options": {"columns": {labels[0]: None}, "level": 0, "inplace": True},
            }
        )
    post_processing.append({"operation": "flatten"})
    metrics = query.get("metrics") or []
    orderby = query.get("orderby") or []
    valid = orderby and isinstance(orderby[0], list) and len(orderby[0]) == 2 and orderby[0][0]
    if not valid:
        query.pop("orderby", None)
        ascending = not query.get("order_desc", True)
        if query.get("series_limit_metric"):
            query["orderby"] = [[query["series_limit_metric"], ascending]]
        elif metrics:
            query["orderby"] = [[metrics[0], ascending]]
        for key in ("series_limit_metric", "order_desc"):
            query.pop(key, None)
    query.update(
        columns=[*([x_axis] if x_axis else []), *groupby],
        series_columns=groupby,
        is_timeseries=x_axis == TIMESTAMP or not x_axis,
        time_offsets=[],
        post_processing=post_processing,
    )
    return [query]


def mixed_timeseries_queries(form_data: dict[str, t.Any]) -> list[QueryObject]:
    """
    plugin-chart-echarts MixedTimeseries: two time series queries on one x axis, the second
    of the `_b` params (metrics_b, groupby_b, adhoc_filters_b...).
    """
    first = {key: value for key, value in form_data.items() if not key.endswith("_b")}
    second = {**first, **{key[:-2]: v for key, v in form_data.items() if key.endswith("_b")}}
    return timeseries_queries(first) + timeseries_queries(second)


def pivot_table_queries(form_data: dict[str, t.Any]) -> list[QueryObject]:
    """
    plugin-chart-pivot-table: the metrics per group of its rows and columns, ordered by the
    sort metric or the first (the browser pivots them); a time column at the chart's grain.
    """
    grain = form_data.get("time_grain_sqla")
    temporal = form_data.get("temporal_columns_lookup") or form_data.get("isDTTMLookup") or {}
    columns: list[t.Any] = []
    for key in ("groupbyColumns", "groupbyRows"):
        value = form_data.get(key) or []
        for column in value if isinstance(value, list) else [value]:
            if column in columns:
                continue
            columns.append(column)
    columns = [
        {
            "timeGrain": grain,
            "columnType": "BASE_AXIS",
            "sqlExpression": column,
            "label": column,
            "expressionType": "SQL",
        }
        if isinstance(column, str) and grain and temporal.get(column)
        else column
        for column in columns
    ]
    query = base_query(form_data)
    query["extras"].pop("time_grain_sqla", None)
    sort = query.get("series_limit_metric") or next(iter(query.get("metrics") or []), None)
    query.pop("orderby", None)
    if sort:
        query["orderby"] = [[sort, not query["order_desc"]]]
    query["columns"] = columns
    return [query]


# Viz type: (its queries, the form data its front end sends with them).
BUILDERS: dict[str, tuple[Callable[[dict], list[QueryObject]], Callable[[dict], dict]]] = {
    "table": (table_queries, table_form_data),
    "big_number_total": (big_number_total_queries, dict),
    "pie": (pie_queries, dict),
    "pivot_table_v2": (pivot_table_queries, dict),
    "mixed_timeseries": (mixed_timeseries_queries, dict),
    **{
        viz_type: (timeseries_queries, dict)
        for viz_type in (
            "echarts_timeseries",
            "echarts_timeseries_line",
            "echarts_timeseries_bar",
            "echarts_timeseries_scatter",
            "echarts_timeseries_smooth",
            "echarts_timeseries_step",
            "echarts_area",
        )
    },
}


def query_context(params: dict[str, t.Any], dataset_uuid: str) -> dict[str, t.Any]:
    """The query context Superset's front end builds from a chart's params."""
    viz_type = params.get("viz_type")
    if viz_type not in BUILDERS:
        raise QueryContextError(
            f"the query-context generator does not know the viz type {viz_type!r} "
            f"(it knows {', '.join(sorted(BUILDERS))}): add its buildQuery to "
            "tutoraspects/query_context.py"
        )
    # The second query of a mixed chart has the same options, suffixed.
    options = [*UNSUPPORTED, *(f"{key}_b" for key in UNSUPPORTED)]
    if unsupported := [key for key in options if params.get(key) not in NOT_SET]:
        raise QueryContextError(
            f"the query-context generator does not build the queries of {', '.join(unsupported)}"
        )
    build, send = BUILDERS[viz_type]
    # A slice_id in exported params is the exporting instance's: Superset would read that chart.
    kept = {key: value for key, value in params.items() if key != "slice_id"}
    form_data = send({**kept, "datasource": f"{dataset_uuid}__table"})
    queries = [base_axis(form_data, query) for query in build(form_data)]
    return {
        "datasource": {"id": dataset_uuid, "type": "table"},
        "force": False,
        "queries": queries,
        "form_data": form_data,
        "result_format": "json",
        "result_type": "full",
    }


def query_context_text(params: dict[str, t.Any], dataset_uuid: str) -> str:
    """The query context as Superset stores and exports it: JSON text."""
    return json.dumps(query_context(params, dataset_uuid), ensure_ascii=False)


def template_filter(params: dict[str, t.Any], dataset_uuid: str) -> str:
    """
    For a chart whose params are a template: its query context, rendered with the params, as a
    YAML (JSON) string.
    """
    return json.dumps(query_context_text(params, dataset_uuid), ensure_ascii=False)


########################################
# THE BUNDLE'S CHART FILES
########################################

BUNDLE = Path(str(resources.files("tutoraspects"))) / "superset_assets" / "aspects"
# A params line that is one template expression, rendered to JSON: `{{ value|tojson }}`.
TEMPLATED_PARAMS = re.compile(r"\{\{-?\s*(?P<value>.*?)\s*\|\s*tojson\s*-?\}\}")


def chart_file_query_context(text: str, name: str) -> str:
    """The `query_context` line a chart file should have, given its other lines."""
    lines = {}
    for line in text.splitlines():
        key, separator, value = line.partition(": ")
        if separator and not line.startswith((" ", "\t")):
            lines[key] = value
    dataset_uuid = lines.get("dataset_uuid", "").strip()
    if not dataset_uuid or "{" in dataset_uuid:
        raise QueryContextError(f"{name}: its dataset_uuid line must be a plain uuid")
    params = lines.get("params", "").strip()
    if templated := TEMPLATED_PARAMS.fullmatch(params):
        # Known once the template is rendered (a setting changes the params): the query context
        # is rendered with them, by the same code.
        value = templated.group("value")
        return (
            f"query_context: {{{{ ({value})|aspects_query_context({json.dumps(dataset_uuid)}) }}}}"
        )
    if "{{" in params or "{%" in params:
        raise QueryContextError(
            f"{name}: its params are a template that the query-context generator cannot read; "
            "write them as one expression, `params: {{ value|tojson }}`"
        )
    try:
        values = json.loads(params)
    except json.JSONDecodeError as error:
        raise QueryContextError(f"{name}: its params line is not JSON: {error}") from error
    try:
        context = query_context_text(values, dataset_uuid)
    except QueryContextError as error:
        raise QueryContextError(f"{name}: {error}") from error
    return yaml.safe_dump(
        {"query_context": context}, allow_unicode=True, width=float("inf")
    ).rstrip("\n")


def updated_chart_file(text: str, name: str) -> str:
    """The chart file with its `query_context` line written from its params."""
    wanted = chart_file_query_context(text, name)
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("query_context:"):
            lines[index] = wanted + "\n"
            return "".join(lines)
    for index, line in enumerate(lines):
        if line.startswith("params:"):
            lines.insert(index + 1, wanted + "\n")
            return "".join(lines)
    raise QueryContextError(f"{name}: no params line")


def stale_charts(bundle: Path = BUNDLE, write: bool = False) -> list[str]:
    """The chart files whose query context is not what their params give (written if asked)."""
    stale = []
    for path in sorted((Path(bundle) / "charts").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        updated = updated_chart_file(text, f"charts/{path.name}")
        if updated != text:
            stale.append(f"charts/{path.name}")
            if write:
                path.write_text(updated, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=BUNDLE)
    parser.add_argument("--check", action="store_true", help="write nothing; fail when stale")
    options = parser.parse_args(argv)
    try:
        stale = stale_charts(options.bundle, write=not options.check)
    except QueryContextError as error:
        print(error, file=sys.stderr)
        return 1
    for name in stale:
        print(f"{name}: query_context {'is stale' if options.check else 'written'}")
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
