"""
Extension points that the clickhouse plugin offers to other plugins.

Other plugins import this module (never ``plugin.py``) and add items to the filters below.
"""

from __future__ import annotations

import re
import typing as t

from tutor.core.hooks import Filter, priorities

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

#: `` ON CLUSTER '<name>'`` when ``CLICKHOUSE_CLUSTER_NAME`` is set, nothing otherwise: for the
#: DDL of INIT_SQL statements, e.g. ``"CREATE DATABASE IF NOT EXISTS db" + ON_CLUSTER``.
ON_CLUSTER = (
    "{% if CLICKHOUSE_CLUSTER_NAME %} ON CLUSTER '{{ CLICKHOUSE_CLUSTER_NAME }}'{% endif %}"
)

#: A grant: ``(privileges, object)``, e.g. ``("SELECT, INSERT", "{{ MY_DATABASE }}.*")``, or
#: ``(privileges, object, setting)``: granted only while that setting is true.
Grant = tuple[str, ...]


class SettingsProfile(t.NamedTuple):
    """A settings profile that a :class:`User` gets, created or replaced on every run."""

    name: str
    #: ``(setting, value)`` pairs; values are SQL literals (``"1"``, ``"'break'"``) and may be
    #: Tutor templates. Each is CONST: no client can change it (``SET``, query settings, URL).
    settings: tuple[tuple[str, str], ...]


class User(t.NamedTuple):
    """
    A ClickHouse user that the init job creates and grants: one item of :data:`USERS`.

    The SQL holds only a SHA-256 digest of the password: the password reaches neither the
    server nor the job's output.
    """

    #: The user's name, a Tutor template such as ``"{{ MY_CLICKHOUSE_USER }}"``.
    name: str
    #: The setting that holds the password, such as ``"MY_CLICKHOUSE_PASSWORD"`` (a secret of
    #: the plugin that adds the user, in its CONFIG_UNIQUE as ``"{{ 24|random_string }}"``).
    password_setting: str
    #: The user's grants, or a function returning them, called only when the init job is
    #: rendered (for grants that are costly to compute). The first one replaces whatever the
    #: user had (``WITH REPLACE OPTION``), so the list is the whole truth on every run: it may
    #: not depend on a setting.
    grants: t.Sequence[Grant] | t.Callable[[], t.Sequence[Grant]]
    #: What the user is for, in docs.
    description: str = ""
    #: Its settings profile, if any.
    profile: SettingsProfile | None = None
    #: Privileges revoked ``ON *.*`` after the grants, e.g. ``"SOURCES"`` (table functions).
    revoked: str = ""
    #: The user runs DDL ``ON CLUSTER``: it gets the ``CLUSTER`` privilege when
    #: ``CLICKHOUSE_CLUSTER_NAME`` is set (a server refuses such DDL without it).
    cluster_ddl: bool = False

    @property
    def name_setting(self) -> str:
        """The setting that ``name`` is, when it is exactly ``"{{ SETTING }}"``; "" otherwise."""
        match = _SETTING_TEMPLATE.fullmatch(self.name)
        return match.group(1) if match else ""


_SETTING_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")

#: The ClickHouse users that other plugins need, as :class:`User` items. For each, the
#: ``clickhouse`` init job runs ``CREATE USER IF NOT EXISTS``, ``ALTER USER`` (a changed
#: password applies on the next run), its grants (the first ``WITH REPLACE OPTION``), its
#: revokes, the ``CLUSTER`` grant and its settings profile, each ``ON CLUSTER`` when
#: ``CLICKHOUSE_CLUSTER_NAME`` is set. They run as INIT_SQL statements of priority
#: :data:`USERS_PRIORITY`: after the databases that INIT_SQL creates with a lower or the
#: ``DEFAULT`` priority, before statements of ``LOW`` priority, which may name the users (row
#: policies...). ``tutor config save`` refuses a user whose password setting does not exist.
#:
#: Example, in another plugin::
#:
#:     from tutorclickhouse.hooks import USERS, User
#:     USERS.add_item(
#:         User(
#:             "{{ MY_CLICKHOUSE_USER }}",
#:             "MY_CLICKHOUSE_PASSWORD",
#:             [("SELECT", "{{ MY_DATABASE }}.*")],
#:         )
#:     )
USERS: Filter[list[User], []] = Filter()
USERS_PRIORITY = priorities.DEFAULT + 1
