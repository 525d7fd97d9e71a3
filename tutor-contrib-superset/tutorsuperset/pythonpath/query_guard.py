"""
Only administrators send SQL to the database; everyone else picks from what a dataset offers.

Superset lets a chart carry SQL of its own: custom SQL columns, metrics and filters, WHERE and
HAVING clauses, and Jinja in any of them. Superset's parser and the database's do not read SQL
alike, so no check of that text can promise that it stays inside the row-level security clause
ANDed after it. Instead, for every person but an administrator (and always for guests of
embedded dashboards), a query may only name the dataset's own columns, saved metrics, simple
metrics (an aggregate of a column), simple filters (a column, an operator, values) and the
database's time grains; anything else is refused with a 400 that names it. The check runs in
Superset's access check of a chart data request and before a legacy chart's payload (so before
any cache is looked up or any of the request's SQL rendered), and again in
``get_sqla_query``, through which every query built from a dataset goes (the chart data API,
explore_json, samples, drill to detail, exports, embedded charts).

Database errors reach non-administrators as a generic message with an id: their text can show
values of rows that row-level security would have filtered out. The log holds the full error.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from superset.exceptions import QueryObjectValidationError
from superset.utils.core import DTTM_ALIAS, FilterOperator, is_adhoc_column

log = logging.getLogger(__name__)
# The start of a Jinja expression, statement or comment (written so that Tutor, which renders
# this file, does not read it as one).
JINJA = re.compile("\x7b[\x7b%#]")
FILTER_OPERATORS = {operator.value for operator in FilterOperator}
# Routes that read a dataset's rows without row-level security, for administrators only:
# "export as example" writes every row of a dashboard's datasets (Parquet) for anyone who may
# read the dashboard.
ADMIN_ONLY_ENDPOINTS = {"DashboardRestApi.export_as_example"}


class RefusedQuery(QueryObjectValidationError):
    """A query that only an administrator may send: a 400 naming what was refused."""


def sends_sql_freely() -> bool:
    """The current person is an administrator, signed in as such (not a guest)."""
    from superset import security_manager

    try:
        return not security_manager.is_guest_user() and security_manager.is_admin()
    except AttributeError:  # no one signed in (no g.user): deny
        return False


class DatasetChoices:
    """What a query of this dataset may name without writing SQL."""

    def __init__(self, dataset: Any) -> None:
        self.columns = {column.column_name for column in dataset.columns}
        # Drill to detail names columns by their label.
        self.labels = {column.verbose_name for column in dataset.columns if column.verbose_name}
        self.metrics = {metric.metric_name for metric in dataset.metrics}
        self.aggregates = set(dataset.sqla_aggregations)
        self.time_grains = set(dataset.db_engine_spec.get_time_grain_expressions())

    def column(self, reference: Any, place: str, metrics: bool = False) -> Iterator[str]:
        if isinstance(reference, str):
            known = self.columns | self.labels | {DTTM_ALIAS} | (self.metrics if metrics else set())
            if reference not in known:
                yield f"{place}: {reference!r} is not a column of the dataset"
        elif is_adhoc_column(reference):
            # Superset sends a chart's time axis as "custom SQL" that is a column's name.
            if reference["sqlExpression"] not in self.columns:
                yield f"{place}: custom SQL {reference['sqlExpression']!r}"
            yield from self.time_grain(reference.get("timeGrain"), place)
        else:
            yield f"{place}: {reference!r} is not a column of the dataset"

    def metric(self, metric: Any, place: str) -> Iterator[str]:
        if metric is None:
            return
        if isinstance(metric, str):
            if metric not in self.metrics:
                yield f"{place}: {metric!r} is not a metric of the dataset"
            return
        kind = metric.get("expressionType") if isinstance(metric, dict) else None
        if kind != "SIMPLE":
            sql = metric.get("sqlExpression") if isinstance(metric, dict) else metric
            yield f"{place}: custom SQL {sql!r}"
            return
        column = (metric.get("column") or {}).get("column_name")
        if column not in self.columns:
            yield f"{place}: {column!r} is not a column of the dataset"
        if metric.get("aggregate") not in self.aggregates:
            yield f"{place}: {metric.get('aggregate')!r} is not an aggregate"

    def time_grain(self, grain: Any, place: str) -> Iterator[str]:
        if grain not in self.time_grains:
            yield f"{place}: {grain!r} is not a time grain of the database"


def refusals(dataset: Any, query: dict[str, Any]) -> list[str]:
    """What of this query (get_sqla_query's arguments) only an administrator may send."""
    choices = DatasetChoices(dataset)
    found: list[str] = [f"Jinja in {text[:80]!r}" for text in strings(query) if JINJA.search(text)]
    for place in ("columns", "groupby", "series_columns"):
        for column in query.get(place) or []:
            found += choices.column(column, place)
    for metric in query.get("metrics") or []:
        found += choices.metric(metric, "metrics")
    for place in ("series_limit_metric", "timeseries_limit_metric"):
        found += choices.metric(query.get(place), place)
    for item in query.get("orderby") or []:
        by = item[0] if isinstance(item, (list, tuple)) and item else item
        if isinstance(by, dict):
            found += choices.metric(by, "orderby")
    for condition in query.get("filter") or []:
        if not isinstance(condition, dict):
            found.append(f"filter: {condition!r}")
            continue
        found += choices.column(condition.get("col"), "filter", metrics=True)
        operator = str(condition.get("op") or "").upper()
        if operator not in FILTER_OPERATORS:
            found.append(f"filter: {condition.get('op')!r} is not an operator")
        found += choices.time_grain(condition.get("grain"), "filter")
        value = condition.get("val")
        if not (scalar(value) or (isinstance(value, list) and all(map(scalar, value)))):
            found.append(f"filter: {value!r} is not a value or a list of values")
    extras = query.get("extras") or {}
    for clause in ("where", "having"):
        if str(extras.get(clause) or "").strip():
            found.append(f"{clause.upper()} clause {extras[clause]!r}")
    found += choices.time_grain(extras.get("time_grain_sqla"), "time grain")
    return found


def scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def strings(value: Any) -> Iterator[str]:
    """Every string in a query: keys and values, however deep."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from strings(item)


def generic_error(result: Any) -> None:
    """The database's error, logged under an id; the person gets the id only."""
    error_id = uuid.uuid4().hex[:12]
    log.warning("Query error %s (shown as a generic error): %s", error_id, result.error_message)
    message = (
        f"The query failed (error {error_id}). An administrator finds the database's message "
        "in Superset's log under this id."
    )
    result.error_message = message
    result.errors = [
        {
            "message": message,
            "error_type": "GENERIC_DB_ENGINE_ERROR",
            "level": "error",
            "extra": {"error_id": error_id},
        }
    ]


def refuse(dataset: Any, query: dict[str, Any]) -> None:
    if not sends_sql_freely() and (found := refusals(dataset, query)):
        raise RefusedQuery("Only administrators may send this: " + "; ".join(found))


def refuse_admin_only_routes(app: Any) -> None:
    from flask import jsonify, request

    @app.before_request
    def admin_only_routes():
        if request.endpoint in ADMIN_ONLY_ENDPOINTS and not sends_sql_freely():
            return jsonify(message="Only administrators may use this route"), 403
        return None


def only_administrators_send_sql(app: Any) -> None:
    """Put the checks and the generic errors in place around Superset's query code."""
    from superset.common.query_context import QueryContext
    from superset.models.helpers import ExploreMixin
    from superset.viz import BaseViz

    refuse_admin_only_routes(app)
    if getattr(ExploreMixin.get_sqla_query, "guarded", False):
        return
    get_sqla_query, run_query = ExploreMixin.get_sqla_query, ExploreMixin.query
    raise_for_access = QueryContext.raise_for_access

    def guarded_raise_for_access(self):
        # A refusal here is a 400 of the chart data API, before Superset's own checks render
        # any of the request's SQL and before any cache is read.
        for query in self.queries:
            refuse(self.datasource, query.to_dict())
        raise_for_access(self)

    legacy_payload = BaseViz.get_df_payload

    def guarded_legacy_payload(self, query_obj=None, **kwargs):
        # Likewise a 400 of explore_json (its CSV export fails on a refusal made later).
        query_obj = query_obj or self.query_obj()
        refuse(self.datasource, query_obj)
        return legacy_payload(self, query_obj, **kwargs)

    def guarded_get_sqla_query(self, **query):
        refuse(self, query)
        return get_sqla_query(self, **query)

    def query_with_generic_errors(self, query_obj):
        result = run_query(self, query_obj)
        if (result.errors or result.error_message) and not sends_sql_freely():
            generic_error(result)
        return result

    guarded_get_sqla_query.guarded = True
    QueryContext.raise_for_access = guarded_raise_for_access
    BaseViz.get_df_payload = guarded_legacy_payload
    ExploreMixin.get_sqla_query = guarded_get_sqla_query
    ExploreMixin.query = query_with_generic_errors
