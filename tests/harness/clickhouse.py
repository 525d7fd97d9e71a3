"""
An embedded ClickHouse server: the ClickHouse HTTP interface, served by the real ClickHouse
engine running in this process through chdb, on a persistent data directory.

    python -m tests.harness.clickhouse --port 8123 --data DIR --user U --password P [--host H]
        [--tls-cert CERT.pem --tls-key KEY.pem] [--cluster NAME]

With a certificate it serves HTTPS instead of HTTP (standing in for an external server). With a
cluster name it is a one-node cluster of that name (clickhouse_cluster.py).

Port 0 picks a free port. Once it is ready the server prints one line,
``ClickHouse HTTP interface listening on http://HOST:PORT``, and it stops cleanly on SIGTERM or
SIGINT. Clients (clickhouse-connect and its SQLAlchemy dialect, dbt, curl, wget) use it as they
would use a ClickHouse server.

Design decisions
----------------
Engine. chdb hosts one ClickHouse engine per process, bound to one data directory, and keeps it up
while a connection is open: the server holds one for its lifetime. Tables (MergeTree included)
live in DIR and survive restarts; the engine locks DIR, so a second server on it fails to start.
DIR also holds the access-control files (and, with the test fixtures, the server's log).

Queries. As in ClickHouse's HTTPHandler, the query is the ``query`` URL parameter, a newline, then
the request body, decompressed per Content-Encoding (gzip, deflate, zstd, lz4, xz, bz2; br when the
brotli module is installed). The engine writes the output itself, in the FORMAT of the statement,
else ``default_format``, else TabSeparated; X-ClickHouse-Format is sent only for statements that
return rows, as the engine's parser classifies them (clients read it as "this has a result set").
Results are compressed only when asked with ``enable_http_compression=1``, as on a server. One
statement per request: more are refused with the engine's "Multi-statements are not allowed"
syntax error, as a server does over HTTP.

Inserts. The data after ``INSERT … FORMAT name`` (or ``VALUES``) is split off where ClickHouse's
parser splits it and streamed to the engine (chdb ``send_insert``): the engine keeps inline data of
a query in a buffer of max_query_size bytes (256 KiB), too small for real inserts.

Sessions. Each ``session_id`` (per user, like a server) gets its own chdb connection; chdb keeps
SET, USE and temporary tables per connection, so they never leak to other sessions. A request
without a session runs on a fresh connection. Settings passed as URL parameters apply to one query
only: on a session's connection they are SET before it and put back after it. Sessions expire
after ``session_timeout`` seconds idle (60 by default); a request on a session that is busy gets
SESSION_IS_LOCKED, like on a server.

Readonly. GET requests run with readonly=2, like on a server. Without a session, ``readonly`` is
set on the request's own connection and the engine enforces it. A session's connection cannot take
it (readonly cannot be reset), so there the server refuses what the engine classifies as writing,
with the server's READONLY error.

Concurrency. A ThreadingHTTPServer serves requests in parallel threads, and one lock serialises
every call into the engine. chdb documents separate connections as safe to use in parallel, but a
single lock keeps behaviour simple to reason about, and test workloads are small.

Errors. An engine exception is reported like a server reports it: body ``Code: N.
DB::Exception: … (NAME) (version V)``, header ``X-ClickHouse-Exception-Code``, and the HTTP status
of ClickHouse's exceptionCodeToHTTPStatus (see clickhouse_errors.py).

Access control. Logins are checked against the configured admin and the users created with CREATE
USER; access statements are checked by the engine's parser and recorded in
DIR/access_control.jsonl, never enforced (see clickhouse_access.py). Grants only take effect on a
real server.

Known differences from a server: ``currentUser()`` is always ``default`` and there is no
system.query_log; ``client_protocol_version`` is ignored (Native output carries no block info,
clients detect it); results are sent once complete, without progress headers; table functions
such as file() are not confined to a user-files directory; external data (multipart bodies) and
ClickHouse's own ``compress``/``decompress`` parameters answer NOT_IMPLEMENTED. See also
tests/harness/CLICKHOUSE.md.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import gzip
import json
import lzma
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.harness.clickhouse_access import AccessControl
from tests.harness.clickhouse_cluster import Cluster, write_config
from tests.harness.clickhouse_errors import (
    AUTHENTICATION_FAILED,
    BAD_ARGUMENTS,
    CANNOT_DECOMPRESS,
    HTTP_LENGTH_REQUIRED,
    INCORRECT_DATA,
    INVALID_SESSION_TIMEOUT,
    NOT_IMPLEMENTED,
    READONLY,
    SESSION_IS_LOCKED,
    SESSION_NOT_FOUND,
    SYNTAX_ERROR,
    UNKNOWN_EXCEPTION,
    UNKNOWN_SETTING,
    ClickHouseError,
    from_engine_message,
    invalid_authentication,
    readonly_mode,
)

READY_MESSAGE = "ClickHouse HTTP interface listening on {scheme}://{host}:{port}"
ACCESS_CONTROL_HEADER = ("X-ClickHouse-Harness", "access-control-recorded-not-enforced")
DEFAULT_SESSION_TIMEOUT = 60
# A request body that stops arriving is given up after this long, like a server's
# http_receive_timeout; idle keep-alive connections between requests are not limited.
DEFAULT_RECEIVE_TIMEOUT = 30.0
MAX_SESSION_TIMEOUT = 3600

# URL parameters that are neither settings nor query parameters: HTTPHandler's reserved names,
# and the ones it reads itself.
RESERVED_PARAMETERS = frozenset(
    ("query", "database", "default_format", "query_id", "user", "password", "quota_key")
    + ("session_id", "session_timeout", "session_check", "close_session", "role")
    + ("compress", "decompress", "stacktrace", "buffer_size", "wait_end_of_query")
    + ("client_protocol_version",)
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- Content-Encoding -------------------------------------------------------------------------

Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]


def _decompress_lz4_frames(data: bytes) -> bytes:
    """
    Every frame of a body: clickhouse-connect compresses each block of an insert as a frame of
    its own, and lz4.frame.decompress reads only the first one.
    """
    import lz4.frame

    blocks = []
    while data:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        blocks.append(decompressor.decompress(data))
        if not decompressor.eof:
            raise ValueError("the last LZ4 frame is truncated")
        data = decompressor.unused_data
    return b"".join(blocks)


def _available_codecs() -> dict[str, Codec]:
    """(compress, decompress) per HTTP content coding, for the codecs this Python has."""
    codecs: dict[str, Codec] = {
        "gzip": (gzip.compress, gzip.decompress),
        "deflate": (zlib.compress, zlib.decompress),  # HTTP "deflate" is the zlib format
        "xz": (lzma.compress, lzma.decompress),
        "bz2": (bz2.compress, bz2.decompress),
    }
    with suppress(ImportError):
        import lz4.frame  # ClickHouse's "lz4" coding is the LZ4 frame format

        codecs["lz4"] = (lz4.frame.compress, _decompress_lz4_frames)
    for module in ("compression.zstd", "backports.zstd"):
        with suppress(ImportError):
            zstd = __import__(module, fromlist=["compress"])
            codecs["zstd"] = (zstd.compress, zstd.decompress)
            break
    with suppress(ImportError):
        import brotli

        codecs["br"] = (brotli.compress, brotli.decompress)
    return codecs


CODECS = _available_codecs()
# Most preferred first when a client accepts several, as ClickHouse chooses.
RESPONSE_CODING_PREFERENCE = ("zstd", "br", "lz4", "gzip", "deflate", "xz", "bz2")


def decode_body(body: bytes, content_encoding: str) -> bytes:
    coding = content_encoding.strip().lower()
    if coding in ("", "identity", "none"):
        return body
    if coding not in CODECS:
        supported = ", ".join(f"'{name}'" for name in ("none", *sorted(CODECS)))
        raise ClickHouseError(
            BAD_ARGUMENTS,
            f"Unknown compression method '{content_encoding}'. "
            f"Only {supported} are supported as compression methods",
        )
    try:
        return CODECS[coding][1](body)
    except Exception as error:
        raise ClickHouseError(
            CANNOT_DECOMPRESS, f"Cannot decompress the {coding} request body: {error}"
        ) from None


def response_coding(accept_encoding: str) -> str | None:
    accepted = accept_encoding.lower()
    return next((c for c in RESPONSE_CODING_PREFERENCE if c in accepted and c in CODECS), None)


# --- SQL text ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    rb"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|\#[ !][^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^'\\]|\\.|'')*')
    | (?P<quoted>`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*")
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<number>[0-9][0-9A-Za-z_.]*)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_TRAILING_FORMAT = re.compile(
    r"\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:SETTINGS\b[^;]*)?;?\s*$", re.IGNORECASE
)
_EXCESSIVE_SEMICOLON = (
    "You have excessive ';' symbol before data for INSERT.\nExample:\n\n"
    "INSERT INTO t (x, y) FORMAT TabSeparated\n;\tHello\n2\tWorld\n\n"
    "Note that there is no ';' just after format name, "
    "you need to put at least one whitespace symbol before the data"
)


def _tokens(text: bytes) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each token but spaces and comments, lazily: data is never scanned."""
    position = 0
    while position < len(text):
        token = _TOKEN.match(text, position)
        assert token is not None and token.lastgroup is not None  # "other" matches anything
        if token.lastgroup not in ("space", "comment"):
            yield token.lastgroup, token.start(), token.end()
        position = token.end()


def first_keyword(statement: bytes) -> str:
    kind, start, end = next(_tokens(statement), ("", 0, 0))
    return statement[start:end].decode().upper() if kind == "word" else ""


@dataclass(frozen=True)
class InlineInsert:
    """An INSERT followed by its data, split where ClickHouse's parser splits it."""

    statement: bytes  # what the parser reads: INSERT … FORMAT name
    head: str  # the statement without its FORMAT clause, as chdb's send_insert takes it
    input_format: str
    data: bytes


def split_inline_insert(query: bytes) -> InlineInsert | None:
    """The INSERT with inline data that the query is, if it is one."""
    tokens = _tokens(query)
    kind, start, end = next(tokens, ("", 0, 0))
    if kind != "word" or query[start:end].upper() != b"INSERT":
        return None
    depth = 0
    for kind, start, end in tokens:
        depth += {"open": 1, "close": -1}.get(kind, 0)
        word = query[start:end].upper() if kind == "word" and depth == 0 else b""
        if word in (b"SELECT", b"WITH", b"INFILE"):
            return None  # the data comes from a query or a file
        if word == b"VALUES":
            head = query[:start].decode(errors="replace")
            return InlineInsert(query[:end], head, "Values", query[end:])
        if word == b"FORMAT":
            kind, name_start, name_end = next(tokens, ("", 0, 0))
            if kind != "word":
                return None  # not valid SQL: the engine reports it
            head = query[:start].decode(errors="replace")
            name = query[name_start:name_end].decode()
            data = query[_data_start(query, name_end) :]
            return InlineInsert(query[:name_end], head, name, data)
    return None


def _data_start(query: bytes, position: int) -> int:
    """Data starts after the first newline, if there is one, or else after the blanks."""
    if query[position : position + 1] == b";":
        raise ClickHouseError(SYNTAX_ERROR, _EXCESSIVE_SEMICOLON)
    while query[position : position + 1] in (b" ", b"\t", b"\f"):
        position += 1
    if query[position : position + 1] == b"\r":
        position += 1
    if query[position : position + 1] == b"\n":
        position += 1
    return position


def output_format(statement: str, default_format: str) -> str:
    found = _TRAILING_FORMAT.search(statement)
    return found.group(1) if found else default_format


def content_type(format_name: str) -> str:
    name = format_name.lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        header = "present" if "withnames" in name else "absent"
        return f"text/csv; charset=UTF-8; header={header}"
    if name.startswith("json") or name == "ndjson":
        return "application/json; charset=UTF-8"
    if name.startswith(("native", "rowbinary", "parquet", "arrow", "orc", "avro", "protobuf")):
        return "application/octet-stream"
    if name in ("msgpack", "capnproto", "bsoneachrow", "rawblob", "npy"):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_name(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --- Engine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """What the engine's parser says a statement does, without running it."""

    query_class: str  # READ_ONLY, MUTATING, MUTATING_GLOBAL, CONTROL or UNKNOWN (no parse)
    statement_count: int

    @property
    def returns_rows(self) -> bool:
        return self.query_class == "READ_ONLY"


@dataclass
class Outcome:
    """The output of a statement, and the numbers of X-ClickHouse-Summary."""

    body: bytes = b""
    summary: dict[str, int] = field(default_factory=dict)


class Engine:
    """The chdb engine of this process. Every call into it holds one (reentrant) lock."""

    def __init__(self, path: Path, config_file: Path | None = None) -> None:
        # Imported here: importing chdb boots an engine, which only the server process wants.
        from chdb import _chdb

        self._chdb = _chdb
        self.path = path
        # Every connection names the same configuration (a cluster's, see clickhouse_cluster.py).
        self._target = f"{path}?config-file={config_file}" if config_file else str(path)
        self.lock = threading.RLock()
        self._keeper = self.connect()  # keeps the engine up, and serves parser requests
        self.version = self._text(self._keeper, "SELECT version()")
        self.timezone = self._text(self._keeper, "SELECT timezone()")

    def connect(self) -> Any:
        with self.lock:
            connection = self._chdb.connect(self._target)
            # chdb enables implicit SELECT ("1 + 1" as a query); a server does not.
            connection.query("SET implicit_select = 0", "TabSeparated")
            return connection

    def close(self, connection: Any) -> None:
        with self.lock:
            connection.close()

    def shutdown(self) -> None:
        self.close(self._keeper)

    def classify(self, statement: str) -> Classification:
        with self.lock:
            found = self._keeper.classify_query(statement)
        return Classification(found["query_class"].name, found["statement_count"])

    def format_query(self, statement: str) -> str:
        """The statement as the engine's parser formats it; its syntax error if it has one."""
        try:
            sql = "SELECT formatQuery({statement:String})"
            # Query parameter values are read in the escaped (TabSeparated) text format.
            value = statement.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            return self.run(self._keeper, sql, "RawBLOB", {"statement": value}).body.decode()
        except ClickHouseError as error:
            # Keep the parser's message, not where formatQuery was called from.
            cut = error.message.rfind(": In scope SELECT formatQuery(")
            message = error.message[:cut] if cut >= 0 else error.message
            raise ClickHouseError(error.code, message, error.name) from None

    def run(
        self,
        connection: Any,
        sql: bytes | str,
        output_format: str = "TabSeparated",
        parameters: dict[str, str] | None = None,
    ) -> Outcome:
        with self.lock, self._engine_errors():
            result = connection.query(sql, output_format, params=parameters or {})
        return Outcome(
            result.bytes() or b"",
            {
                "read_rows": result.storage_rows_read(),
                "read_bytes": result.storage_bytes_read(),
                "written_rows": result.rows_written(),
                "written_bytes": result.bytes_written(),
                "total_rows_to_read": result.storage_rows_read(),
                # chdb counts the rows and bytes of the result as "read"
                "result_rows": result.rows_read(),
                "result_bytes": result.bytes_read(),
                "elapsed_ns": int(result.elapsed() * 1e9),
            },
        )

    def insert(self, connection: Any, insert: InlineInsert) -> Outcome:
        with self.lock, self._engine_errors():
            inserter = connection.send_insert(insert.head, insert.input_format)
            try:
                connection.insert_append(inserter, insert.data)
                result = connection.insert_done(inserter)
            except BaseException:
                with suppress(Exception):
                    connection.insert_cancel(inserter)
                raise
        rows, size = result.rows_written(), result.bytes_written()
        return Outcome(
            b"",
            {
                "read_rows": rows,
                "read_bytes": len(insert.data),
                "written_rows": rows,
                "written_bytes": size,
                "result_rows": rows,
                "result_bytes": size,
                "elapsed_ns": int(result.elapsed() * 1e9),
            },
        )

    def set_settings(self, connection: Any, assignments: dict[str, str]) -> None:
        """SET name = value (an SQL expression) on the connection, for each assignment."""
        for name in assignments:
            if not _SETTING_NAME.match(name):
                raise ClickHouseError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        if assignments:
            self.run(connection, "SET " + ", ".join(f"{n} = {v}" for n, v in assignments.items()))

    def changed_settings(self, connection: Any) -> dict[str, str]:
        sql = "SELECT name, value FROM system.settings WHERE changed"
        rows = self.run(connection, sql, "JSONCompactEachRow").body.decode().splitlines()
        return dict(json.loads(row) for row in rows)

    def current_database(self, connection: Any) -> str:
        return self._text(connection, "SELECT currentDatabase()")

    def error_name(self, code: int) -> str:
        return self._text(self._keeper, f"SELECT errorCodeToName({int(code)})") or "UNKNOWN"

    def _text(self, connection: Any, sql: str) -> str:
        return self.run(connection, sql, "RawBLOB").body.decode()

    @contextmanager
    def _engine_errors(self) -> Iterator[None]:
        try:
            yield
        except RuntimeError as error:  # chdb raises the engine's exceptions as RuntimeError
            raise from_engine_message(str(error), self.error_name) from None
        except UnicodeDecodeError as error:
            # An engine message that quotes bytes of the query which are not UTF-8: chdb fails
            # to decode it. Its bytes are in the error.
            message = error.object.decode(errors="replace")
            raise from_engine_message(message, self.error_name) from None


# --- Sessions ---------------------------------------------------------------------------------


@dataclass
class Session:
    """A session's connection, and the state its own statements gave it."""

    connection: Any
    settings: dict[str, str]  # changed settings, as the engine reports them
    database: str
    timeout: float
    last_used: float = field(default_factory=time.monotonic)
    busy: threading.Lock = field(default_factory=threading.Lock)


class Sessions:
    """HTTP sessions, by (user, session_id) as on a server."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions: dict[tuple[str, str], Session] = {}
        self._lock = threading.Lock()

    @contextmanager
    def use(self, request: QueryRequest) -> Iterator[Session]:
        """The request's session, for the request alone; closed after it if it asks so."""
        key = (request.user, request.session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                if request.session_check:
                    message = f"Session {request.session_id} not found"
                    raise ClickHouseError(SESSION_NOT_FOUND, message)
                session = self._sessions[key] = self._open(request.session_timeout)
            if not session.busy.acquire(blocking=False):
                message = f"Session {request.session_id} is locked by a concurrent client"
                raise ClickHouseError(SESSION_IS_LOCKED, message)
        session.timeout = request.session_timeout
        try:
            yield session
        finally:
            session.last_used = time.monotonic()
            if request.close_session:
                with self._lock:
                    del self._sessions[key]
                    self._engine.close(session.connection)
            session.busy.release()

    def close_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key, session in list(self._sessions.items()):
                if now - session.last_used > session.timeout and not session.busy.locked():
                    del self._sessions[key]
                    self._engine.close(session.connection)

    def close_all(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                self._engine.close(session.connection)
            self._sessions.clear()

    def _open(self, timeout: float) -> Session:
        connection = self._engine.connect()
        settings = self._engine.changed_settings(connection)
        database = self._engine.current_database(connection)
        return Session(connection, settings, database, timeout)


# --- Queries ----------------------------------------------------------------------------------


@dataclass
class QueryRequest:
    """A query request, as the HTTP interface defines it."""

    user: str
    sql: bytes  # the query parameter, a newline and the body: statement and inline data
    settings: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    database: str = ""
    default_format: str = "TabSeparated"
    via_get: bool = False
    session_id: str = ""
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    session_check: bool = False
    close_session: bool = False


@dataclass
class QueryResponse:
    body: bytes
    headers: dict[str, str]


class QueryService:
    """Runs query requests on the engine: sessions, settings, readonly, access statements."""

    def __init__(
        self, engine: Engine, access: AccessControl, cluster: Cluster | None = None
    ) -> None:
        self.engine = engine
        self.access = access
        self.cluster = cluster
        self.sessions = Sessions(engine)

    def close(self) -> None:
        # Each close waits for the engine lock: a running query finishes first.
        self.sessions.close_all()
        self.engine.shutdown()

    def execute(self, request: QueryRequest) -> QueryResponse:
        self.sessions.close_idle()
        if not request.session_id:
            return self._execute(request, None)
        # The session is claimed first, as on a server: a concurrent request fails at once.
        with self.sessions.use(request) as session:
            return self._execute(request, session)

    def _execute(self, request: QueryRequest, session: Session | None) -> QueryResponse:
        insert = split_inline_insert(request.sql)
        statement = (insert.statement if insert else request.sql).decode(errors="replace")
        if not statement.strip():
            raise ClickHouseError(SYNTAX_ERROR, "Empty query")
        kind = self.engine.classify(statement)
        if kind.statement_count > 1:
            self.engine.format_query(statement)  # raises the parser's multi-statement error
        readonly = _readonly_level(request.settings.get("readonly", "0"))
        readonly = readonly or (2 if request.via_get else 0)
        headers = {"X-ClickHouse-Timezone": self.engine.timezone}
        if (formatted := self.access.recognise(statement, kind.query_class)) is not None:
            if readonly and not formatted.startswith("SET ROLE"):
                raise readonly_mode(request.user, request.via_get)
            if self.cluster is not None:
                self.cluster.check(formatted)
            self.access.execute(formatted, request.user)
            headers[ACCESS_CONTROL_HEADER[0]] = ACCESS_CONTROL_HEADER[1]
            return QueryResponse(b"", headers | _summary_header({}))
        if self.cluster is not None and insert is None:
            keyword = first_keyword(statement.encode())
            local = self.cluster.local_statement(statement, keyword, request.user)
            if local is None:
                if readonly:
                    raise readonly_mode(request.user, request.via_get)
                return QueryResponse(b"", headers | _summary_header({}))
            request = replace(request, sql=local.encode())
        try:
            if session is None:
                outcome, timezone = self._on_own_connection(request, insert)
            else:
                outcome, timezone = self._in_session(
                    request, session, statement, kind, insert, readonly
                )
        except ClickHouseError as error:
            raise _as_seen_by(error, request) from None
        headers["X-ClickHouse-Timezone"] = timezone or self.engine.timezone
        if kind.returns_rows:
            format_name = output_format(statement, request.default_format)
            headers["X-ClickHouse-Format"] = format_name
            headers["Content-Type"] = content_type(format_name)
        return QueryResponse(outcome.body, headers | _summary_header(outcome.summary))

    def _on_own_connection(
        self, request: QueryRequest, insert: InlineInsert | None
    ) -> tuple[Outcome, str]:
        connection = self.engine.connect()
        try:
            if request.via_get:  # before the URL's settings, which it constrains
                self.engine.set_settings(connection, {"readonly": "2"})
            self._prepare(connection, request.settings, request.database)
            outcome = self._run(connection, request, insert)
        finally:
            self.engine.close(connection)
        return outcome, request.settings.get("session_timezone", "")

    def _in_session(
        self,
        request: QueryRequest,
        session: Session,
        statement: str,
        kind: Classification,
        insert: InlineInsert | None,
        readonly: int,
    ) -> tuple[Outcome, str]:
        keyword = first_keyword(statement.encode())
        # readonly cannot be reset on a connection: here the server enforces it itself.
        settings = {name: value for name, value in request.settings.items() if name != "readonly"}
        if readonly and not (
            kind.returns_rows or keyword == "USE" or (keyword == "SET" and readonly == 2)
        ):
            raise readonly_mode(request.user, request.via_get)
        if keyword in ("SET", "USE"):  # changes the session itself: URL settings do not apply
            outcome = self._run(session.connection, request, insert)
            session.settings = self.engine.changed_settings(session.connection)
            session.database = self.engine.current_database(session.connection)
        else:
            outcome = self._run_for_one_query(session, request, settings, insert)
        timezone = settings.get("session_timezone") or session.settings.get("session_timezone")
        return outcome, timezone or ""

    def _run_for_one_query(
        self,
        session: Session,
        request: QueryRequest,
        settings: dict[str, str],
        insert: InlineInsert | None,
    ) -> Outcome:
        try:
            self._prepare(session.connection, settings, request.database)
            return self._run(session.connection, request, insert)
        finally:
            # Put the session back as its own statements left it.
            restore = {
                name: sql_string(session.settings[name]) if name in session.settings else "DEFAULT"
                for name in settings
                if _SETTING_NAME.match(name)
            }
            with suppress(ClickHouseError):
                self.engine.set_settings(session.connection, restore)
            if request.database and request.database != session.database:
                with suppress(ClickHouseError):
                    self.engine.run(session.connection, f"USE {quote_name(session.database)}")

    def _prepare(self, connection: Any, settings: dict[str, str], database: str) -> None:
        self.engine.set_settings(connection, {n: sql_string(v) for n, v in settings.items()})
        if database:
            self.engine.run(connection, f"USE {quote_name(database)}")

    def _run(self, connection: Any, request: QueryRequest, insert: InlineInsert | None) -> Outcome:
        if insert is not None:
            return self.engine.insert(connection, insert)
        return self.engine.run(connection, request.sql, request.default_format, request.parameters)


def _readonly_level(value: str) -> int:
    if value not in ("0", "1", "2", ""):
        message = f"Cannot parse input: '{value}' is not a value of setting 'readonly'"
        raise ClickHouseError(BAD_ARGUMENTS, message)
    return int(value or 0)


def _summary_header(summary: dict[str, int]) -> dict[str, str]:
    keys = ("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read")
    keys += ("result_rows", "result_bytes", "elapsed_ns")
    values = {key: str(summary.get(key, 0)) for key in keys}
    return {"X-ClickHouse-Summary": json.dumps(values, separators=(",", ":"))}


def _as_seen_by(error: ClickHouseError, request: QueryRequest) -> ClickHouseError:
    """The engine runs every query as its user `default`: name the request's user instead."""
    if error.code == READONLY and "Cannot execute query in readonly mode" in error.message:
        return readonly_mode(request.user, request.via_get)
    if error.message.startswith("default: ") and request.user != "default":
        return ClickHouseError(error.code, f"{request.user}: {error.message[9:]}", error.name)
    return error


# --- HTTP -------------------------------------------------------------------------------------


def credentials(headers: Any, params: dict[str, str]) -> tuple[str, str]:
    """User and password of a request, by the rules of ClickHouse's authenticateUserByHTTP."""
    header_user = headers.get("X-ClickHouse-User", "")
    header_key = headers.get("X-ClickHouse-Key", "")
    authorization = headers.get("Authorization")
    in_params = "user" in params or "password" in params
    if header_user or header_key:
        other = "Authorization HTTP header" if authorization else None
        other = other or ("authentication via parameters" if in_params else None)
        if other:
            raise invalid_authentication(
                f"it is not allowed to use X-ClickHouse HTTP headers and {other} simultaneously"
            )
        return _non_empty_user(header_user, "X-ClickHouse HTTP headers"), header_key
    if authorization:
        if in_params:
            raise invalid_authentication(
                "it is not allowed to use Authorization HTTP header and "
                "authentication via parameters simultaneously"
            )
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            # A server names the scheme; named here only when known, as a client that sends a
            # password alone would see it in the answer.
            shown = f"'{scheme}'" if scheme.lower() in KNOWN_AUTH_SCHEMES else "This"
            raise invalid_authentication(f"{shown} HTTP Authorization scheme is not supported")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise invalid_authentication("malformed Basic credentials") from None
        return _non_empty_user(user, "Authorization HTTP header"), password
    user = params.get("user", "default")
    return _non_empty_user(user, "authentication via parameters"), params.get("password", "")


# The HTTP authentication schemes of the IANA registry, and two that APIs use.
KNOWN_AUTH_SCHEMES = frozenset(
    ("basic", "bearer", "concealed", "digest", "dpop", "gnap", "hoba", "mutual", "negotiate")
    + ("ntlm", "oauth", "privatetoken", "scram-sha-1", "scram-sha-256", "vapid", "token", "jwt")
)


def _non_empty_user(user: str, method: str) -> str:
    if not user:
        raise ClickHouseError(AUTHENTICATION_FAILED, f"Got an empty user name from {method}")
    return user


def query_request(
    method: str, params: dict[str, str], headers: Any, body: bytes, user: str
) -> QueryRequest:
    """The query request that an HTTP request makes, as ClickHouse's HTTPHandler reads it."""
    if headers.get("Content-Type", "").startswith("multipart/form-data"):
        message = "External data (multipart/form-data) is not supported"
        raise ClickHouseError(NOT_IMPLEMENTED, message)
    if any(params.get(name, "0") not in ("0", "false", "") for name in ("compress", "decompress")):
        message = "ClickHouse's own HTTP compression (compress/decompress) is not supported"
        raise ClickHouseError(NOT_IMPLEMENTED, message)
    query = params.get("query", "")
    return QueryRequest(
        user=user,
        sql=(query + "\n" if query else "").encode() + body,
        settings={
            name: value
            for name, value in params.items()
            if name and name not in RESERVED_PARAMETERS and not name.startswith("param_")
        },
        parameters={n[6:]: v for n, v in params.items() if n.startswith("param_")},
        database=headers.get("X-ClickHouse-Database") or params.get("database", ""),
        default_format=(
            headers.get("X-ClickHouse-Format") or params.get("default_format") or "TabSeparated"
        ),
        via_get=method in ("GET", "HEAD"),
        session_id=params.get("session_id", ""),
        session_timeout=_session_timeout(params.get("session_timeout")),
        session_check=params.get("session_check") == "1",
        close_session=params.get("close_session") in ("1", "true"),
    )


def _session_timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_SESSION_TIMEOUT
    if not value.isdigit():
        raise ClickHouseError(INVALID_SESSION_TIMEOUT, f"Invalid session timeout: '{value}'")
    if int(value) > MAX_SESSION_TIMEOUT:
        raise ClickHouseError(
            INVALID_SESSION_TIMEOUT,
            f"Session timeout '{value}' is larger than max_session_timeout: "
            f"{MAX_SESSION_TIMEOUT}. Maximum session timeout could be modified in "
            "configuration file",
        )
    return int(value)


class BodyError(Exception):
    """The request body cannot be read: the connection cannot be kept."""


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    # TCP_NODELAY, as a server sets it: the body follows the headers in a second small write,
    # which Nagle's algorithm would hold until the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True
    server: EmbeddedClickHouseServer
    # A server reads URLs of up to http_max_uri_size (1 MiB); query parameters travel in them,
    # e.g. the ids Ralph looks up before it stores a batch (up to 10,000 in one parameter).
    max_uri_size = 1_048_576

    def handle_one_request(self) -> None:
        # BaseHTTPRequestHandler's, whose request line may be 64 KiB only.
        try:
            self.raw_requestline = self.rfile.readline(self.max_uri_size + 1)
            if len(self.raw_requestline) > self.max_uri_size:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if self.parse_request():
                getattr(self, "do_" + self.command)()
                self.wfile.flush()
        except TimeoutError as error:
            self.log_error("Request timed out: %r", error)
            self.close_connection = True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:  # health checks such as `wget --spider`
        self._handle()

    def __getattr__(self, name: str) -> Any:
        # Other methods (PUT, OPTIONS, …) find no handler, as on a server: a 404, not a 501 page.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        status, body, headers = self._respond(url.path, params)
        body, headers = self._maybe_compressed(status, body, headers, params)
        self.send_response(status)
        headers = {"Content-Type": "text/plain; charset=UTF-8", **headers}
        headers["X-ClickHouse-Server-Display-Name"] = self.server.display_name
        for name, value in headers.items():
            self.send_header(name, _header_value(value))
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # said, so that a client does not send the next request on it
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        code = headers.get("X-ClickHouse-Exception-Code", "")
        elapsed = (time.monotonic() - started) * 1000
        self.server.log(f"{self.command} {url.path} {status} {elapsed:.1f}ms {code}".rstrip())

    def _respond(self, path: str, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        try:
            body = self._read_body()
            if path in ("/ping", "/replicas_status"):
                return 200, b"Ok.\n", {}
            if path != "/" or self.command not in ("GET", "HEAD", "POST"):
                return 404, f"There is no handle {path}\n\n{USAGE}".encode(), {}
            if self.command in ("GET", "HEAD") and "query" not in params:
                return 200, b"Ok.\n", {}
            return self._query(params, body)
        except BodyError as error:
            self.close_connection = True
            return self._error(
                ClickHouseError(INCORRECT_DATA, f"Cannot read the request body: {error}")
            )
        except ClickHouseError as error:
            return self._error(error)
        except Exception as error:  # a bug here must still answer like a server
            self.server.log(traceback.format_exc())
            message = f"{type(error).__name__}: {error}"
            return self._error(ClickHouseError(UNKNOWN_EXCEPTION, message))

    def _query(self, params: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        user, password = credentials(self.headers, params)
        self.server.service.access.authenticate(user, password)
        query_id = params.get("query_id") or self.headers.get("X-ClickHouse-Query-Id") or ""
        query_id = query_id or str(uuid.uuid4())
        body = decode_body(body, self.headers.get("Content-Encoding", ""))
        request = query_request(self.command, params, self.headers, body, user)
        try:
            response = self.server.service.execute(request)
        except ClickHouseError as error:
            status, text, headers = self._error(error)
            return status, text, headers | {"X-ClickHouse-Query-Id": query_id}
        return 200, response.body, response.headers | {"X-ClickHouse-Query-Id": query_id}

    def _error(self, error: ClickHouseError) -> tuple[int, bytes, dict[str, str]]:
        text = error.response_text(self.server.version).encode()
        return error.http_status, text, {"X-ClickHouse-Exception-Code": str(error.code)}

    def _read_body(self) -> bytes:
        self.connection.settimeout(self.server.receive_timeout)
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked_body()
            length = self.headers.get("Content-Length")
            if length is not None:
                if not re.fullmatch(r"\s*[0-9]+\s*", length):
                    raise BodyError(f"Content-Length is '{length}', not a number of bytes")
                return self._read_exactly(int(length), "Content-Length")
        except TimeoutError:
            timeout = self.server.receive_timeout
            raise BodyError(f"nothing was received for {timeout:g} s") from None
        except OSError as error:
            raise BodyError(f"the connection failed: {error}") from None
        finally:
            self.connection.settimeout(None)
        if self.command == "POST":
            self.close_connection = True
            raise ClickHouseError(
                HTTP_LENGTH_REQUIRED,
                "The Transfer-Encoding is not chunked and there is no Content-Length header "
                "for POST request",
            )
        return b""

    def _read_exactly(self, size: int, what: str) -> bytes:
        """`size` bytes, read in pieces: a huge length never allocates more than is sent."""
        pieces, remaining = [], size
        while remaining and (piece := self.rfile.read(min(remaining, 1 << 20))):
            pieces.append(piece)
            remaining -= len(piece)
        if remaining:
            # A body cut short is never run as if it were whole (an INSERT would lose rows).
            raise BodyError(
                f"the body ended after {size - remaining} of the {size} bytes of {what}"
            )
        return b"".join(pieces)

    def _read_chunked_body(self) -> bytes:
        chunks = []
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BodyError("the chunked body ended before its last chunk")
            size = line.split(b";")[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size):
                text = size[:20].decode("ascii", errors="replace")
                raise BodyError(f"'{text}' is not the hexadecimal size of a chunk")
            if not int(size, 16):
                break
            chunks.append(self._read_exactly(int(size, 16), "a chunk"))
            self.rfile.readline(1024)  # the CRLF after each chunk
        while self.rfile.readline(1024).strip():  # trailers, up to the empty line
            pass
        return b"".join(chunks)

    def _maybe_compressed(
        self, status: int, body: bytes, headers: dict[str, str], params: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        """Compress a result only when asked for with enable_http_compression, as a server."""
        if status != 200 or params.get("enable_http_compression") not in ("1", "true"):
            return body, headers
        coding = response_coding(self.headers.get("Accept-Encoding", ""))
        if coding is None:
            return body, headers
        return CODECS[coding][0](body), headers | {"Content-Encoding": coding}

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _handle


def _header_value(value: str) -> str:
    """
    A value for a response header: in UTF-8, as a server sends it (http.server writes Latin-1
    only), and on one line: a query id or format from the URL may hold CR or LF.
    """
    value = re.sub(r"[\x00-\x1f\x7f]", " ", value)
    return value.encode("utf-8").decode("latin-1")


USAGE = (
    "Use / or /ping for health checks.\n"
    "Send queries from your program with POST method or GET /?query=...\n"
)


class EmbeddedClickHouseServer(ThreadingHTTPServer):
    """The HTTP interface, in front of a query service."""

    daemon_threads = True  # idle keep-alive connections never block a shutdown

    def __init__(
        self,
        address: tuple[str, int],
        service: QueryService,
        log_file: Any,
        receive_timeout: float = DEFAULT_RECEIVE_TIMEOUT,
    ) -> None:
        super().__init__(address, RequestHandler)
        self.service = service
        self.receive_timeout = receive_timeout
        self.version = service.engine.version
        self.display_name = socket.gethostname()
        self._log_file = log_file

    def log(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {line}", file=self._log_file, flush=True)


# --- Command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness.clickhouse",
        description="Serve the ClickHouse HTTP interface with the embedded chdb engine.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--data", required=True, type=Path, help="persistent data directory")
    parser.add_argument("--user", required=True, help="the admin user")
    parser.add_argument("--password", default="", help="the admin user's password")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the private key of --tls-cert (PEM)")
    parser.add_argument(
        "--cluster",
        default="",
        help="a one-node cluster of this name: ON CLUSTER DDL is recorded and run locally",
    )
    parser.add_argument(
        "--receive-timeout",
        type=float,
        default=DEFAULT_RECEIVE_TIMEOUT,
        help=f"seconds a request body may stall (default {DEFAULT_RECEIVE_TIMEOUT})",
    )
    args = parser.parse_args(argv)

    data = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    config = write_config(data, args.cluster) if args.cluster else None
    try:
        engine = Engine(data, config)
    except (RuntimeError, ClickHouseError) as error:
        print(f"Cannot start the ClickHouse engine on {data}: {error}", file=sys.stderr)
        return 1
    access = AccessControl(data, args.user, args.password, engine.format_query)
    cluster = Cluster(data, args.cluster, engine.format_query, _tokens) if args.cluster else None
    service = QueryService(engine, access, cluster)
    try:
        server = EmbeddedClickHouseServer(
            (args.host, args.port), service, sys.stderr, args.receive_timeout
        )
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        service.close()
        return 1

    if args.tls_cert:
        # HTTPS like a server's https_port, e.g. to stand in for ClickHouse Cloud.
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)

    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    # Short polls: a stop takes effect at once (tests restart servers).
    serve = threading.Thread(target=server.serve_forever, args=(0.05,), name="http", daemon=True)
    serve.start()
    host, port = server.server_address[:2]
    scheme = "https" if args.tls_cert else "http"
    print(READY_MESSAGE.format(scheme=scheme, host=host, port=port), flush=True)

    while not stop.wait(0.05):
        pass
    server.shutdown()
    server.server_close()
    service.close()
    server.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
