"""What the aspects plugin gives the clickhouse plugin: its databases, users and grants."""

from __future__ import annotations

from tutor import hooks

from tutorclickhouse.hooks import INIT_SQL

from . import grants

# Databases, users and grants: run by the clickhouse init job, the only use of the admin user.
# Listed when the init script is rendered: the report user's grants read the bundle's datasets.
INIT_SQL.add(priority=hooks.priorities.DEFAULT)(lambda items: [*items, *grants.init_sql()])
