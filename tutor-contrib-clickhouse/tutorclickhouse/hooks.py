"""
Extension points that the clickhouse plugin offers to other plugins.

Other plugins import this module (never ``plugin.py``) and add items to the filters below.
"""

from __future__ import annotations

from tutor.core.hooks import Filter

#: SQL statements that the ``clickhouse`` init job runs with the admin user, after it has
#: checked that the server answers and that the admin login works. Each item is a pair
#: ``(name, sql)``: ``name`` is printed while the statement runs, ``sql`` is ONE statement
#: (the HTTP interface takes one per request). Both are rendered as Tutor templates, so they
#: may use ``{{ CONFIG_KEYS }}``; a statement that renders empty is skipped. Statements run in
#: filter order: by priority first (lower runs earlier, ``tutor.hooks.priorities``), then in the
#: order plugins added them. The init job
#: runs again on every ``tutor local do init``, so each statement must be idempotent
#: (``CREATE ... IF NOT EXISTS``, ``CREATE USER IF NOT EXISTS`` then ``ALTER USER``...).
#:
#: Example, in another plugin::
#:
#:     from tutorclickhouse.hooks import INIT_SQL
#:     INIT_SQL.add_item(
#:         ("xapi database", "CREATE DATABASE IF NOT EXISTS {{ ASPECTS_XAPI_DATABASE }}")
#:     )
INIT_SQL: Filter[list[tuple[str, str]], []] = Filter()
