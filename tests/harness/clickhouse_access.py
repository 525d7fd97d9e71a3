"""
Access control of the embedded ClickHouse server: who may log in, and what access statements said.

chdb runs the ClickHouse engine without an access-control storage, so CREATE USER, GRANT and the
other access statements fail inside it. The server handles them itself:

- It authenticates every request: the admin configured on the command line, plus the users
  created with ``CREATE USER``. Those are kept in ``DIR/users.json`` with salted SHA-256 (or
  double SHA-1) password hashes, so they survive a restart, and ``ALTER USER … IDENTIFIED`` and
  ``DROP USER`` change them.
- It validates each access statement with the engine's own parser (``formatQuery``): a statement
  that does not parse fails with the engine's syntax error, as on a real server.
- It records each accepted statement, canonically formatted with passwords replaced by
  ``[HIDDEN]``, as one JSON line ``{"time", "user", "statement"}`` in ``DIR/access_control.jsonl``.
- Only the admin may issue them (``SET ROLE`` excepted); anyone else gets ACCESS_DENIED (497).

Grants, roles, row policies, quotas and settings profiles are recorded, never enforced: every
authenticated user may read and write everything, and ``currentUser()`` stays ``default``. What
they mean is enforced only by a real ClickHouse server; tests check what was asked for in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from tests.harness.clickhouse_errors import (
    ACCESS_ENTITY_ALREADY_EXISTS,
    ACCESS_STORAGE_READONLY,
    NOT_IMPLEMENTED,
    UNKNOWN_USER,
    ClickHouseError,
    access_denied,
    authentication_failed,
)

ACCESS_LOG_NAME = "access_control.jsonl"
USERS_FILE_NAME = "users.json"

# Canonical (formatQuery) beginnings of the statements handled here.
_ACCESS_STATEMENT = re.compile(
    r"^(?:(?:CREATE|ALTER|DROP) (?:USER|ROLE|ROW POLICY|POLICY|SETTINGS PROFILE|PROFILE|QUOTA)"
    r"|GRANT|REVOKE|SET (?:DEFAULT )?ROLE)\b"
)
# A cheap test of the raw text first: most statements then skip the call to formatQuery.
_MIGHT_BE_ACCESS_STATEMENT = re.compile(
    r"\b(?:USER|ROLE|POLICY|PROFILE|QUOTA|GRANT|REVOKE)\b", re.IGNORECASE
)
_ENTITY_STATEMENT = re.compile(
    r"^(?:CREATE|ALTER|DROP) (?:USER|ROLE|ROW POLICY|SETTINGS PROFILE|QUOTA)\b"
)

_STRING = r"'(?:[^'\\]|\\.)*'"
# A user name, as formatQuery writes it: name or `name`, then maybe @'host' (part of the name).
_NAME = rf"(?:`(?:[^`\\]|\\.)*`|[^\s,`'@]+)(?:@{_STRING})?"
_NAME_PARTS = re.compile(rf"(`(?:[^`\\]|\\.)*`|[^\s,`'@]+)(?:@({_STRING}))?")
_NAMES = rf"(?P<names>{_NAME}(?:, {_NAME})*)"
_CREATE_USER = re.compile(
    r"^CREATE USER (?P<if_not_exists>IF NOT EXISTS )?(?P<or_replace>OR REPLACE )?"
    rf"{_NAMES}(?P<rest>.*)$",
    re.DOTALL,
)
_ALTER_USER = re.compile(rf"^ALTER USER (?P<if_exists>IF EXISTS )?{_NAMES}(?P<rest>.*)$", re.DOTALL)
_DROP_USER = re.compile(rf"^DROP USER (?P<if_exists>IF EXISTS )?{_NAMES}(?P<rest>.*)$", re.DOTALL)
_IDENTIFIED = re.compile(r" (?P<add>ADD )?IDENTIFIED\b")
_PASSWORD_METHOD = re.compile(
    rf"(?:WITH )?(?:(?P<method>[a-z][a-z0-9_]*) )?BY (?P<secret>{_STRING})"
    rf"(?: SALT (?P<salt>{_STRING}))?"
)
_RENAME = re.compile(rf" RENAME TO (?P<name>{_STRING}|{_NAME})")
_SECRET_LITERAL = re.compile(rf"\bBY {_STRING}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f"}


def _unquote(token: str) -> str:
    """The value of a string literal or identifier as formatQuery writes it."""
    if token[:1] in ("'", "`"):
        token = token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token)


def _names(names: str) -> list[str]:
    return [
        _unquote(name) + (f"@{_unquote(host)}" if host else "")
        for name, host in _NAME_PARTS.findall(names)
    ]


def hide_secrets(statement: str) -> str:
    """The statement with its password literals replaced, as ClickHouse's query log does."""
    return _SECRET_LITERAL.sub("BY '[HIDDEN]'", statement)


@dataclass(frozen=True)
class Credential:
    """One way a user may authenticate: no password, or a password hash."""

    type: str  # "no_password", "sha256" or "double_sha1"
    hash: str = ""
    salt: str = ""

    def accepts(self, password: str) -> bool:
        if self.type == "no_password":
            return password == ""
        if self.type == "sha256":
            digest = hashlib.sha256((password + self.salt).encode()).hexdigest()
        else:
            digest = _double_sha1(password)
        return hmac.compare_digest(digest, self.hash)


def _double_sha1(password: str) -> str:
    return hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest()


def credential_for(method: str | None, secret: str, salt: str = "") -> Credential:
    """The stored credential for ``IDENTIFIED [WITH method] BY 'secret' [SALT 'salt']``."""
    method = method or "sha256_password"  # ClickHouse's default password type
    if method in ("plaintext_password", "sha256_password"):
        new_salt = secrets.token_hex(16)
        digest = hashlib.sha256((secret + new_salt).encode()).hexdigest()
        return Credential("sha256", digest, new_salt)
    if method == "sha256_hash":
        return Credential("sha256", secret.lower(), salt)
    if method == "double_sha1_password":
        return Credential("double_sha1", _double_sha1(secret))
    if method == "double_sha1_hash":
        return Credential("double_sha1", secret.lower())
    raise unsupported_method(method)


def unsupported_method(method: str) -> ClickHouseError:
    return ClickHouseError(
        NOT_IMPLEMENTED,
        f"Authentication method {method} is not supported by the embedded ClickHouse server",
    )


def parse_credentials(clause: str) -> list[Credential] | None:
    """Credentials set by the IDENTIFIED clause of a formatted CREATE/ALTER USER, if it has one."""
    found = _IDENTIFIED.search(clause)
    if found is None:
        return None
    methods = clause[found.end() :]
    if methods.startswith(" WITH no_password"):
        return [Credential("no_password")]
    credentials = [
        credential_for(m["method"], _unquote(m["secret"]), _unquote(m["salt"] or "''"))
        for m in _PASSWORD_METHOD.finditer(methods)
    ]
    if not credentials:
        method = re.match(r" WITH (\w+)", methods)
        raise unsupported_method(method.group(1) if method else methods.strip())
    return credentials


class UserStore:
    """The users created with CREATE USER, persisted as JSON."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._users: dict[str, list[Credential]] = {}
        if path.exists():
            stored = json.loads(path.read_text())["users"]
            self._users = {
                name: [Credential(**credential) for credential in user["credentials"]]
                for name, user in stored.items()
            }

    def __contains__(self, name: str) -> bool:
        return name in self._users

    def accepts(self, name: str, password: str) -> bool:
        return any(credential.accepts(password) for credential in self._users.get(name, []))

    def credentials(self, name: str) -> list[Credential]:
        return list(self._users[name])

    def put(self, name: str, credentials: list[Credential]) -> None:
        self._users[name] = credentials

    def remove(self, name: str) -> None:
        del self._users[name]

    def save(self) -> None:
        users = {
            name: {"credentials": [asdict(credential) for credential in credentials]}
            for name, credentials in self._users.items()
        }
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"users": users}, indent=2))
        os.replace(temporary, self._path)  # a crash never leaves a half-written file


class AccessControl:
    """Authenticates requests, and handles access statements (see the module docstring)."""

    def __init__(
        self,
        data_dir: Path,
        admin_user: str,
        admin_password: str,
        format_query: Callable[[str], str],
    ) -> None:
        self.admin_user = admin_user
        self._admin_password = admin_password
        self._format_query = format_query
        self._log_path = data_dir / ACCESS_LOG_NAME
        self._users = UserStore(data_dir / USERS_FILE_NAME)
        self._lock = threading.Lock()

    def authenticate(self, user: str, password: str) -> None:
        if user == self.admin_user:
            accepted = hmac.compare_digest(password.encode(), self._admin_password.encode())
        else:
            with self._lock:
                accepted = self._users.accepts(user, password)
        if not accepted:
            raise authentication_failed(user)

    def recognise(self, statement: str, query_class: str) -> str | None:
        """The statement as the engine formats it, if it is an access statement."""
        if query_class not in ("MUTATING_GLOBAL", "CONTROL"):
            return None
        if not _MIGHT_BE_ACCESS_STATEMENT.search(statement):
            return None
        formatted = self._format_query(statement)
        return formatted if _ACCESS_STATEMENT.match(formatted) else None

    def execute(self, formatted: str, user: str) -> None:
        """Apply and record an access statement that :meth:`recognise` returned."""
        if user != self.admin_user and not formatted.startswith("SET ROLE"):
            raise access_denied(user, _required_privilege(formatted))
        with self._lock:
            self._apply_to_users(formatted)
            self._record(formatted, user)

    def _record(self, formatted: str, user: str) -> None:
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "user": user,
            "statement": hide_secrets(formatted),
        }
        with self._log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def _apply_to_users(self, formatted: str) -> None:
        if created := _CREATE_USER.match(formatted):
            self._create_users(created)
        elif altered := _ALTER_USER.match(formatted):
            self._alter_users(altered)
        elif dropped := _DROP_USER.match(formatted):
            self._drop_users(dropped)

    def _create_users(self, statement: re.Match[str]) -> None:
        credentials = parse_credentials(statement.group("rest")) or [Credential("no_password")]
        names = _names(statement.group("names"))
        if statement.group("if_not_exists"):
            names = [name for name in names if not self._exists(name)]
        for name in names:  # all checked before any is changed
            if self._exists(name) and not statement.group("or_replace"):
                raise _already_exists(name)
            self._check_not_admin(name, "update")
        for name in names:
            self._users.put(name, credentials)
        self._users.save()

    def _alter_users(self, statement: re.Match[str]) -> None:
        rest = statement.group("rest")
        credentials = parse_credentials(rest)
        identified = _IDENTIFIED.search(rest)
        adds = bool(identified and identified.group("add"))
        new_name = None
        if rename := _RENAME.search(rest):
            quoted = rename.group("name")  # formatQuery writes it as a string literal
            new_name = _unquote(quoted) if quoted[0] == "'" else _names(quoted)[0]
            if self._exists(new_name):
                raise _already_exists(new_name)
        for name in self._existing(statement, "update"):
            current = self._users.credentials(name)
            if credentials is not None:
                current = current + credentials if adds else credentials
            if " RESET AUTHENTICATION METHODS TO NEW" in rest:
                current = current[-1:]
            if new_name:
                self._users.remove(name)
            self._users.put(new_name or name, current)
        self._users.save()

    def _drop_users(self, statement: re.Match[str]) -> None:
        for name in self._existing(statement, "remove"):
            self._users.remove(name)
        self._users.save()

    def _existing(self, statement: re.Match[str], action: str) -> list[str]:
        """The named users that exist; unknown ones fail unless the statement says IF EXISTS."""
        names = _names(statement.group("names"))
        for name in names:
            self._check_not_admin(name, action)
            if name not in self._users and not statement.group("if_exists"):
                raise ClickHouseError(
                    UNKNOWN_USER, f"There is no user `{name}` in `user directories`"
                )
        return [name for name in names if name in self._users]

    def _exists(self, name: str) -> bool:
        return name == self.admin_user or name in self._users

    def _check_not_admin(self, name: str, action: str) -> None:
        # The admin comes from the command line, like users.xml on a server: read-only.
        if name == self.admin_user:
            where = "from" if action == "remove" else "in"
            raise ClickHouseError(
                ACCESS_STORAGE_READONLY,
                f"Cannot {action} user `{name}` {where} users_xml because this storage is readonly",
            )


def _already_exists(name: str) -> ClickHouseError:
    return ClickHouseError(
        ACCESS_ENTITY_ALREADY_EXISTS,
        f"user `{name}`: cannot insert because user `{name}` already exists in `local_directory`",
    )


def _required_privilege(formatted: str) -> str:
    entity = _ENTITY_STATEMENT.match(formatted)
    return f"{entity.group(0) if entity else 'ACCESS MANAGEMENT'} ON *.*"
