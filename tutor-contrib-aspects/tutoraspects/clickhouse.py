"""What the aspects plugin gives the clickhouse plugin: its databases, users and grants."""

from __future__ import annotations

from tutor import hooks

from tutorclickhouse.hooks import INIT_SQL, ON_CLUSTER, USERS

from . import grants

# Run by the clickhouse init job, the only use of the admin user; the databases before the
# users (tutorclickhouse.hooks.USERS_PRIORITY).
INIT_SQL.add_items(
    [
        (f"database {database}", f"CREATE DATABASE IF NOT EXISTS {database}{ON_CLUSTER}")
        for database in grants.ASPECTS_DATABASES
    ],
    priority=hooks.priorities.DEFAULT,
)
USERS.add_items(list(grants.USERS))
