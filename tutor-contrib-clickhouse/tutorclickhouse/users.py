"""The SQL that creates the users of tutorclickhouse.hooks.USERS and grants them their rights."""

from __future__ import annotations

import typing as t

from tutor import exceptions

from .hooks import ON_CLUSTER, User


def init_sql(users: t.Iterable[User]) -> t.Iterator[tuple[str, str]]:
    """(name, statement) pairs, Tutor templates, that create and grant `users` idempotently."""
    for user in users:
        yield from _user_sql(user)


def _user_sql(user: User) -> t.Iterator[tuple[str, str]]:
    name = user.name
    digest = "{{ " + user.password_setting + "|clickhouse_sha256_hex }}"
    identified = f"IDENTIFIED WITH sha256_hash BY '{digest}'"
    yield f"user {name}", f"CREATE USER IF NOT EXISTS {name}{ON_CLUSTER} {identified}"
    # Applies a changed password on every run.
    yield f"password of {name}", f"ALTER USER {name}{ON_CLUSTER} {identified}"
    grants = user.grants() if callable(user.grants) else user.grants
    for index, (privileges, target, *setting) in enumerate(grants):
        # The first grant replaces whatever the user had: the item is the truth (so a grant
        # whose setting was turned off goes away on the next run).
        replace = " WITH REPLACE OPTION" if index == 0 else ""
        if replace and setting:
            raise exceptions.TutorError(
                f"The first grant of the ClickHouse user {name!r} ({privileges} ON {target}) "
                f"may not depend on {setting[0]}: it replaces all the user's grants"
            )
        statement = f"GRANT{ON_CLUSTER} {privileges} ON {target} TO {name}{replace}"
        if setting:
            statement = "{% if " + setting[0] + " %}" + statement + "{% endif %}"
        yield f"grants of {name} on {target}", statement
    if user.revoked:
        yield f"revokes of {name}", f"REVOKE{ON_CLUSTER} {user.revoked} ON *.* FROM {name}"
    if user.cluster_ddl:
        # A server refuses ON CLUSTER DDL without this grant (it cannot name a database).
        yield (
            f"cluster grant of {name}",
            "{% if CLICKHOUSE_CLUSTER_NAME %}"
            f"GRANT{ON_CLUSTER} CLUSTER ON *.* TO {name}"
            "{% endif %}",
        )
    if profile := user.profile:
        settings = ", ".join(f"{setting} = {value} CONST" for setting, value in profile.settings)
        yield (
            f"settings profile {profile.name}",
            f"CREATE SETTINGS PROFILE OR REPLACE {profile.name}{ON_CLUSTER} "
            f"SETTINGS {settings} TO {name}",
        )


def config_errors(users: t.Iterable[User], config: t.Mapping[str, t.Any]) -> t.Iterator[str]:
    """Say which users' password settings do not exist (their plugin checks their values)."""
    for user in users:
        if user.password_setting not in config:
            yield (
                f"{user.password_setting}, the password setting of the ClickHouse user "
                f"{user.name!r}, is not a setting: the plugin that adds this user must define it"
            )
