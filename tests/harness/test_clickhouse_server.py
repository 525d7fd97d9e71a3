"""
Contract of the embedded ClickHouse server (tests/harness/clickhouse.py) with the clients the
components use: raw HTTP, clickhouse-connect, its SQLAlchemy dialect, curl and wget. Each test
asserts the values and errors a ClickHouse server gives back.

Most tests share the session-wide server, so each one names its tables and users uniquely.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import gzip
import hashlib
import http.client
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode

import clickhouse_connect
import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.harness.clickhouse import CODECS, split_inline_insert
from tests.harness.clickhouse_errors import ERROR_NAMES
from tests.harness.fixtures import ClickHouseServer

ACCESS_HEADER = "X-ClickHouse-Harness"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def exception_code(self) -> str | None:
        return self.headers.get("X-ClickHouse-Exception-Code")


def request(
    server: ClickHouseServer,
    sql: str | bytes | Iterable[bytes] = b"",
    method: str = "POST",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    path: str = "/",
) -> Reply:
    """One HTTP request, spelled out.

    ``auth`` is the basic-auth user and password, the admin's by default; ``("", "")`` sends no
    credentials. An iterable of chunks is sent with chunked transfer encoding.
    """
    user, password = auth or (server.user, server.password)
    all_headers = {"Authorization": basic_auth(user, password)} if auth != ("", "") else {}
    all_headers.update(headers or {})
    query = urlencode(params or {})
    body = sql.encode() if isinstance(sql, str) else sql
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        chunked = not isinstance(body, bytes)
        target = f"{path}?{query}" if query else path
        if method == "GET" and not body:
            connection.request(method, target, headers=all_headers)
        else:
            connection.request(method, target, body, all_headers, encode_chunked=chunked)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def json_header(reply: Reply, name: str) -> dict[str, str]:
    return json.loads(reply.headers[name])


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def engine_version(clickhouse_server: ClickHouseServer) -> str:
    return request(clickhouse_server, "SELECT version()").text.strip()


@pytest.fixture
def connect(clickhouse_server: ClickHouseServer) -> Iterator[Callable[..., Any]]:
    """Make clickhouse-connect clients of the shared server (admin unless told otherwise)."""
    clients = []

    def make(**options: Any) -> Any:
        options.setdefault("username", clickhouse_server.user)
        options.setdefault("password", clickhouse_server.password)
        client = clickhouse_connect.get_client(
            host=clickhouse_server.host, port=clickhouse_server.port, **options
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- HTTP interface -------------------------------------------------------------------------


def test_ping_and_root_answer_ok_without_credentials(clickhouse_server: ClickHouseServer) -> None:
    for path in ("/ping", "/"):
        reply = request(clickhouse_server, method="GET", path=path, auth=("", ""))
        assert (reply.status, reply.text) == (200, "Ok.\n")
    missing = request(clickhouse_server, method="GET", path="/nowhere", auth=("", ""))
    assert missing.status == 404
    assert missing.text.startswith("There is no handle /nowhere")


def test_query_is_the_parameter_a_newline_and_the_body(clickhouse_server: ClickHouseServer) -> None:
    reply = request(clickhouse_server, "1 + 41 AS answer", params={"query": "SELECT"})
    assert (reply.status, reply.text) == (200, "42\n")
    assert reply.headers["X-ClickHouse-Format"] == "TabSeparated"


def test_get_with_query_parameter_and_query_parameters(clickhouse_server: ClickHouseServer) -> None:
    reply = request(
        clickhouse_server,
        method="GET",
        params={
            "query": "SELECT {name:String} AS who, {n:UInt8} * 2",
            "param_name": "o'k",
            "param_n": "21",
        },
    )
    assert (reply.status, reply.text) == (200, "o\\'k\t42\n")


def test_urls_up_to_a_servers_limit_are_read(clickhouse_server: ClickHouseServer) -> None:
    # As Ralph sends the ids of a batch: 10,000 UUIDs in one array parameter, ~470 KB.
    ids = [str(uuid.UUID(int=i)) for i in range(10_000)]
    query = "SELECT length({ids:Array(String)})"
    array = "[" + ",".join(f"'{i}'" for i in ids) + "]"
    reply = request(clickhouse_server, query, params={"param_ids": array})
    assert (reply.status, reply.text) == (200, "10000\n")
    too_long = request(clickhouse_server, query, params={"param_ids": "x" * 1_048_576})
    assert too_long.status == 414


def test_output_format_comes_from_the_statement_then_default_format(
    clickhouse_server: ClickHouseServer,
) -> None:
    by_default = request(
        clickhouse_server, "SELECT 1 AS x", params={"default_format": "JSONEachRow"}
    )
    assert by_default.text == '{"x":1}\n'
    assert by_default.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert by_default.headers["Content-Type"] == "application/json; charset=UTF-8"
    explicit = request(
        clickhouse_server, "SELECT 1 AS x FORMAT CSVWithNames", params={"default_format": "JSON"}
    )
    assert explicit.text == '"x"\n1\n'
    assert explicit.headers["X-ClickHouse-Format"] == "CSVWithNames"
    assert explicit.headers["Content-Type"] == "text/csv; charset=UTF-8; header=present"


def test_statements_without_rows_have_no_format_header(clickhouse_server: ClickHouseServer) -> None:
    table = unique("no_rows")
    created = request(clickhouse_server, f"CREATE TABLE {table} (x UInt8) ENGINE = Memory")
    assert (created.status, created.body) == (200, b"")
    assert "X-ClickHouse-Format" not in created.headers
    assert created.headers["Content-Type"] == "text/plain; charset=UTF-8"
    inserted = request(clickhouse_server, f"INSERT INTO {table} VALUES (1), (2), (3)")
    assert "X-ClickHouse-Format" not in inserted.headers
    summary = json_header(inserted, "X-ClickHouse-Summary")
    assert summary["written_rows"] == "3"
    assert set(summary) == {
        "read_rows",
        "read_bytes",
        "written_rows",
        "written_bytes",
        "total_rows_to_read",
        "result_rows",
        "result_bytes",
        "elapsed_ns",
    }
    empty_select = request(clickhouse_server, f"SELECT x FROM {table} WHERE x > 5")
    assert (empty_select.body, empty_select.headers["X-ClickHouse-Format"]) == (b"", "TabSeparated")


def test_response_headers_of_a_select(clickhouse_server: ClickHouseServer) -> None:
    reply = request(
        clickhouse_server, "SELECT number FROM numbers(5)", params={"query_id": "my-query"}
    )
    assert reply.headers["X-ClickHouse-Query-Id"] == "my-query"
    assert reply.headers["X-ClickHouse-Timezone"] == "Etc/UTC"
    assert reply.headers["X-ClickHouse-Server-Display-Name"]
    assert json_header(reply, "X-ClickHouse-Summary")["result_rows"] == "5"
    generated = request(clickhouse_server, "SELECT 1").headers["X-ClickHouse-Query-Id"]
    assert uuid.UUID(generated)
    in_paris = request(
        clickhouse_server, "SELECT timezone()", params={"session_timezone": "Europe/Paris"}
    )
    assert in_paris.text == "Europe/Paris\n"
    assert in_paris.headers["X-ClickHouse-Timezone"] == "Europe/Paris"


@pytest.mark.parametrize(
    ("sql", "status", "code", "name", "message"),
    [
        (
            "SELECT * FROM no_such_table",
            404,
            60,
            "UNKNOWN_TABLE",
            "Unknown table expression identifier 'no_such_table'",
        ),
        ("SELEC 1", 400, 62, "SYNTAX_ERROR", "Syntax error: failed at position 1 (SELEC)"),
        (
            "SELECT 1; SELECT 2",
            400,
            62,
            "SYNTAX_ERROR",
            "Syntax error (Multi-statements are not allowed)",
        ),
        (
            "SELECT throwIf(1)",
            500,
            395,
            "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO",
            "Value passed to 'throwIf' function is non-zero",
        ),
        ("SELECT toUInt8('x')", 400, 6, "CANNOT_PARSE_TEXT", "Cannot parse string 'x' as UInt8"),
        (
            "USE no_such_database",
            404,
            81,
            "UNKNOWN_DATABASE",
            "Database no_such_database does not exist",
        ),
        (
            "SELECT no_such_function()",
            404,
            46,
            "UNKNOWN_FUNCTION",
            "Function with name `no_such_function` does not exist",
        ),
        ("   ", 400, 62, "SYNTAX_ERROR", "Empty query"),
    ],
)
def test_errors_have_the_server_format_and_status(
    clickhouse_server: ClickHouseServer,
    engine_version: str,
    sql: str,
    status: int,
    code: int,
    name: str,
    message: str,
) -> None:
    reply = request(clickhouse_server, sql)
    assert reply.status == status
    assert reply.exception_code == str(code)
    assert reply.text.startswith(f"Code: {code}. DB::Exception: {message}")
    assert reply.text.endswith(f". ({name}) (version {engine_version})\n")


def test_unknown_setting_parameter_is_an_error(clickhouse_server: ClickHouseServer) -> None:
    reply = request(clickhouse_server, "SELECT 1", params={"no_such_setting": "1"})
    assert (reply.status, reply.exception_code) == (404, "115")
    assert "Unknown setting 'no_such_setting'" in reply.text


def test_settings_parameters_apply_to_the_query(clickhouse_server: ClickHouseServer) -> None:
    reply = request(
        clickhouse_server,
        "SELECT getSetting('max_threads'), getSetting('date_time_input_format')",
        params={
            "max_threads": "3",
            "date_time_input_format": "best_effort",
            "wait_end_of_query": "1",
        },
    )
    assert reply.text == "3\tbest_effort\n"


def test_get_requests_are_readonly(clickhouse_server: ClickHouseServer) -> None:
    table = unique("readonly")
    for params in ({}, {"session_id": unique("session")}):
        reply = request(
            clickhouse_server,
            method="GET",
            params={"query": f"CREATE TABLE {table} (x UInt8) ENGINE = Memory", **params},
        )
        assert (reply.status, reply.exception_code) == (500, "164")
        assert reply.text.startswith(
            f"Code: 164. DB::Exception: {clickhouse_server.user}: Cannot execute query in readonly "
            "mode. For queries over HTTP, method GET implies readonly. You should use method POST "
            "for modifying queries. (READONLY)"
        )
    posted = request(
        clickhouse_server,
        f"CREATE TABLE {table} (x UInt8) ENGINE = Memory",
        params={"readonly": "1"},
    )
    assert (posted.status, posted.exception_code) == (500, "164")
    assert request(clickhouse_server, f"EXISTS TABLE {table}").text == "0\n"
    user = unique("readonly_user")
    access = request(clickhouse_server, method="GET", params={"query": f"CREATE USER {user}"})
    assert (access.status, access.exception_code) == (500, "164")


def test_database_parameter_selects_the_database_of_one_query(
    clickhouse_server: ClickHouseServer,
) -> None:
    session = unique("session")
    for params in ({}, {"session_id": session}):
        reply = request(
            clickhouse_server, "SELECT currentDatabase()", params={"database": "system", **params}
        )
        assert reply.text == "system\n"
        assert (
            request(clickhouse_server, "SELECT currentDatabase()", params=params).text
            == "default\n"
        )
    missing = request(clickhouse_server, "SELECT 1", params={"database": "no_such_database"})
    assert (missing.status, missing.exception_code) == (404, "81")


@pytest.mark.parametrize("coding", sorted(CODECS))
def test_request_body_content_encodings(clickhouse_server: ClickHouseServer, coding: str) -> None:
    compress = CODECS[coding][0]
    reply = request(
        clickhouse_server, compress(b"SELECT 6 * 7"), headers={"Content-Encoding": coding}
    )
    assert (reply.status, reply.text) == (200, "42\n")


def test_unknown_content_encoding_is_refused(clickhouse_server: ClickHouseServer) -> None:
    reply = request(clickhouse_server, b"SELECT 1", headers={"Content-Encoding": "rot13"})
    assert (reply.status, reply.exception_code) == (400, "36")
    assert "Unknown compression method 'rot13'" in reply.text


def test_response_is_compressed_only_when_enabled(clickhouse_server: ClickHouseServer) -> None:
    sql = "SELECT repeat('a', 1000)"
    plain = request(clickhouse_server, sql, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert plain.text == "a" * 1000 + "\n"
    for coding in ("gzip", "lz4", "zstd"):
        reply = request(
            clickhouse_server,
            sql,
            params={"enable_http_compression": "1"},
            headers={"Accept-Encoding": coding},
        )
        assert reply.headers["Content-Encoding"] == coding
        assert len(reply.body) < 1000
        assert CODECS[coding][1](reply.body) == plain.body


def test_insert_data_in_body_after_query_parameter(clickhouse_server: ClickHouseServer) -> None:
    table = unique("csv")
    request(
        clickhouse_server,
        f"CREATE TABLE {table} (n UInt32, s String) ENGINE = MergeTree ORDER BY n",
    )
    # Far more than the engine's 256 KiB inline-query buffer, sent chunked.
    rows = b"".join(f"{n},text {n}\n".encode() for n in range(100_000))
    chunks = (rows[i : i + 65536] for i in range(0, len(rows), 65536))
    reply = request(
        clickhouse_server,
        chunks,
        params={"query": f"INSERT INTO {table} FORMAT CSV"},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert reply.status == 200, reply.text
    assert json_header(reply, "X-ClickHouse-Summary")["written_rows"] == "100000"
    total = request(clickhouse_server, f"SELECT count(), sum(n), max(s) FROM {table}")
    assert total.text == f"100000\t{sum(range(100_000))}\ttext 99999\n"


def test_insert_values_and_formats_inline_in_the_body(clickhouse_server: ClickHouseServer) -> None:
    table = unique("inline")
    request(clickhouse_server, f"CREATE TABLE {table} (n UInt32, s String) ENGINE = Memory")
    values = request(
        clickhouse_server, f"INSERT INTO {table} (n, s) VALUES (1, 'a;b'), (2, 'FORMAT')"
    )
    assert values.status == 200, values.text
    body = f"INSERT INTO {table} SETTINGS input_format_skip_unknown_fields = 1 FORMAT JSONEachRow\n"
    body += '{"n": 3, "s": "c", "extra": 1}\n'
    assert request(clickhouse_server, body).status == 200
    gzip_body = gzip.compress(f"INSERT INTO {table} FORMAT TSV\n4\td\n".encode())
    assert request(clickhouse_server, gzip_body, headers={"Content-Encoding": "gzip"}).status == 200
    rows = request(clickhouse_server, f"SELECT n, s FROM {table} ORDER BY n")
    assert rows.text == "1\ta;b\n2\tFORMAT\n3\tc\n4\td\n"
    semicolon = request(clickhouse_server, f"INSERT INTO {table} FORMAT CSV;5,e")
    assert (semicolon.status, semicolon.exception_code) == (400, "62")
    assert "You have excessive ';' symbol before data for INSERT" in semicolon.text


@pytest.mark.parametrize(
    ("query", "statement", "head", "input_format", "data"),
    [
        (
            b"INSERT INTO t FORMAT CSV\n1,2\n",
            b"INSERT INTO t FORMAT CSV",
            "INSERT INTO t",
            "CSV",
            b"1,2\n",
        ),
        (
            b"insert into t (a) format Native \r\n\x00\x01",
            b"insert into t (a) format Native",
            "insert into t (a)",
            "Native",
            b"\x00\x01",
        ),
        (
            b"INSERT INTO t VALUES (1, 'x')",
            b"INSERT INTO t VALUES",
            "INSERT INTO t",
            "Values",
            b" (1, 'x')",
        ),
        (
            b"/* c */ INSERT INTO t (`format`) SETTINGS a = 'FORMAT' FORMAT TSV 1\t2",
            b"/* c */ INSERT INTO t (`format`) SETTINGS a = 'FORMAT' FORMAT TSV",
            "/* c */ INSERT INTO t (`format`) SETTINGS a = 'FORMAT'",
            "TSV",
            b"1\t2",
        ),
    ],
)
def test_inline_insert_data_is_split_where_the_parser_splits_it(
    query: bytes, statement: bytes, head: str, input_format: str, data: bytes
) -> None:
    split = split_inline_insert(query)
    assert split is not None
    assert (split.statement, split.head.strip(), split.input_format, split.data) == (
        statement,
        head,
        input_format,
        data,
    )


@pytest.mark.parametrize(
    "query",
    [
        b"SELECT 1 FORMAT CSV",
        b"INSERT INTO t SELECT * FROM values('x UInt8', 1)",
        b"INSERT INTO t FROM INFILE 'f' FORMAT CSV",
        b"INSERT INTO t WITH 1 AS x SELECT x",
    ],
)
def test_statements_without_inline_data_are_not_split(query: bytes) -> None:
    assert split_inline_insert(query) is None


def test_post_without_length_is_refused(clickhouse_server: ClickHouseServer) -> None:
    connection = http.client.HTTPConnection(
        clickhouse_server.host, clickhouse_server.port, timeout=10
    )
    connection.putrequest("POST", "/?query=SELECT+1")
    connection.putheader(
        "Authorization", basic_auth(clickhouse_server.user, clickhouse_server.password)
    )
    connection.endheaders()
    response = connection.getresponse()
    assert (response.status, response.headers["X-ClickHouse-Exception-Code"]) == (411, "381")
    connection.close()


def test_external_data_is_not_implemented(clickhouse_server: ClickHouseServer) -> None:
    reply = request(
        clickhouse_server, b"--x--", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert (reply.status, reply.exception_code) == (501, "48")


# --- Sessions -------------------------------------------------------------------------------


def test_session_state_stays_in_its_session(clickhouse_server: ClickHouseServer) -> None:
    first, second = unique("session"), unique("session")

    def query(sql: str, **params: str) -> Reply:
        return request(clickhouse_server, sql, params=params)

    default_threads = query("SELECT getSetting('max_threads')").text
    assert query("SET max_threads = 7", session_id=first).status == 200
    assert query("SELECT getSetting('max_threads')", session_id=first).text == "7\n"
    assert query("SELECT getSetting('max_threads')", session_id=second).text == default_threads
    assert query("SELECT getSetting('max_threads')").text == default_threads
    # URL settings are for one query, then the session's own value is back.
    assert (
        query("SELECT getSetting('max_threads')", session_id=first, max_threads="5").text == "5\n"
    )
    assert query("SELECT getSetting('max_threads')", session_id=first).text == "7\n"

    assert query("CREATE TEMPORARY TABLE scratch (x UInt8)", session_id=first).status == 200
    assert query("INSERT INTO scratch VALUES (5)", session_id=first).status == 200
    assert query("SELECT x FROM scratch", session_id=first).text == "5\n"
    elsewhere = query("SELECT x FROM scratch", session_id=second)
    assert (elsewhere.status, elsewhere.exception_code) == (404, "60")

    assert query("USE system", session_id=first).status == 200
    assert query("SELECT currentDatabase()", session_id=first).text == "system\n"
    assert query("SELECT currentDatabase()", session_id=second).text == "default\n"


def test_session_check_close_and_lock(clickhouse_server: ClickHouseServer) -> None:
    session = unique("session")
    missing = request(
        clickhouse_server, "SELECT 1", params={"session_id": session, "session_check": "1"}
    )
    assert (missing.status, missing.exception_code) == (500, "372")
    assert f"Session {session} not found" in missing.text

    # A query on a session that another query holds is refused. Which request reaches the
    # server first is up to the scheduler: start the slow one earlier and earlier until it does.
    for attempt in range(1, 6):
        slow: list[Reply] = []
        sleeper = threading.Thread(
            target=lambda replies=slow: replies.append(
                request(clickhouse_server, "SELECT sleep(1)", params={"session_id": session})
            )
        )
        sleeper.start()
        time.sleep(0.2 * attempt)
        busy = request(clickhouse_server, "SELECT 1", params={"session_id": session})
        sleeper.join()
        if slow[0].text == "0\n" and busy.exception_code == "373":
            break
    assert slow[0].text == "0\n"
    assert (busy.status, busy.exception_code) == (500, "373")
    assert f"Session {session} is locked by a concurrent client" in busy.text

    assert (
        request(clickhouse_server, "SET max_threads = 7", params={"session_id": session}).status
        == 200
    )
    closing = {"session_id": session, "close_session": "1"}
    assert (
        request(clickhouse_server, "SELECT getSetting('max_threads')", params=closing).text == "7\n"
    )
    closed = request(
        clickhouse_server, "SELECT 1", params={"session_id": session, "session_check": "1"}
    )
    assert closed.exception_code == "372"


def test_idle_sessions_expire(clickhouse_server: ClickHouseServer) -> None:
    session = unique("session")
    params = {"session_id": session, "session_timeout": "1"}
    assert request(clickhouse_server, "SET max_threads = 7", params=params).status == 200
    time.sleep(1.5)
    expired = request(clickhouse_server, "SELECT 1", params={**params, "session_check": "1"})
    assert (expired.status, expired.exception_code) == (500, "372")


def test_invalid_session_timeout(clickhouse_server: ClickHouseServer) -> None:
    reply = request(
        clickhouse_server, "SELECT 1", params={"session_id": "s", "session_timeout": "x"}
    )
    assert (reply.exception_code, "Invalid session timeout: 'x'" in reply.text) == ("374", True)


# --- Authentication -------------------------------------------------------------------------


def test_credentials_by_basic_auth_headers_or_parameters(
    clickhouse_server: ClickHouseServer,
) -> None:
    user, password = clickhouse_server.user, clickhouse_server.password
    by_basic = request(clickhouse_server, "SELECT 1")
    by_headers = request(
        clickhouse_server,
        "SELECT 1",
        auth=("", ""),
        headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": password},
    )
    by_params = request(
        clickhouse_server, "SELECT 1", auth=("", ""), params={"user": user, "password": password}
    )
    assert [r.text for r in (by_basic, by_headers, by_params)] == ["1\n"] * 3


def test_wrong_or_missing_credentials_fail_like_a_server(
    clickhouse_server: ClickHouseServer, engine_version: str
) -> None:
    wrong = request(clickhouse_server, "SELECT 1", auth=(clickhouse_server.user, "wrong"))
    assert (wrong.status, wrong.exception_code) == (403, "516")
    assert wrong.text == (
        f"Code: 516. DB::Exception: {clickhouse_server.user}: Authentication failed: password is "
        "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED) "
        f"(version {engine_version})\n"
    )
    anonymous = request(clickhouse_server, "SELECT 1", auth=("", ""))
    assert (anonymous.status, anonymous.exception_code) == (403, "516")
    assert anonymous.text.startswith("Code: 516. DB::Exception: default: Authentication failed")
    mixed = request(
        clickhouse_server, "SELECT 1", headers={"X-ClickHouse-User": clickhouse_server.user}
    )
    assert (mixed.status, mixed.exception_code) == (403, "516")
    assert (
        "Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers and "
        "Authorization HTTP header simultaneously"
    ) in mixed.text


def test_error_codes_of_the_server_match_the_engine(clickhouse_server: ClickHouseServer) -> None:
    codes = ", ".join(str(code) for code in ERROR_NAMES)
    reply = request(clickhouse_server, f"SELECT arrayJoin([{codes}]) AS c, errorCodeToName(c)")
    assert dict(line.split("\t") for line in reply.text.splitlines()) == {
        str(code): name for code, name in ERROR_NAMES.items()
    }


# --- clickhouse-connect ---------------------------------------------------------------------


def test_clickhouse_connect_ping_and_version(
    connect: Callable[..., Any], engine_version: str
) -> None:
    client = connect()
    assert client.ping() is True
    assert client.server_version == engine_version
    assert client.query("SELECT version(), timezone()").result_rows == [(engine_version, "Etc/UTC")]


def test_clickhouse_connect_parameters(connect: Callable[..., Any]) -> None:
    client = connect()
    server_side = client.query(
        "SELECT {text:String}, {number:UInt32} + 1, {day:Date}",
        parameters={"text": "it's a\ttab\\", "number": 41, "day": datetime.date(2024, 2, 29)},
    )
    assert server_side.result_rows == [("it's a\ttab\\", 42, datetime.date(2024, 2, 29))]
    client_side = client.query("SELECT %(text)s, %(n)s", parameters={"text": "o'clock", "n": 7})
    assert client_side.result_rows == [("o'clock", 7)]


def test_clickhouse_connect_settings_apply_to_one_query(connect: Callable[..., Any]) -> None:
    client = connect()
    default = client.command("SELECT getSetting('max_threads')")
    assert client.query(
        "SELECT getSetting('max_threads')", settings={"max_threads": 5}
    ).result_rows == [(5,)]
    assert client.command("SELECT getSetting('max_threads')") == default


def test_clickhouse_connect_sessions_keep_set_to_themselves(connect: Callable[..., Any]) -> None:
    setting = "SELECT getSetting('max_threads')"
    sessionless = connect(autogenerate_session_id=False)
    default = sessionless.command(setting)
    first, second = connect(), connect()
    first.command("SET max_threads = 9")
    assert first.command(setting) == 9
    assert second.command(setting) == default
    assert sessionless.command(setting) == default


@pytest.mark.parametrize("compress", ["lz4", False])
def test_clickhouse_connect_native_insert_round_trip(
    connect: Callable[..., Any], compress: Any
) -> None:
    client = connect(compress=compress)
    table = unique("typed")
    client.command(
        f"CREATE TABLE {table} (id UInt64, name String, at DateTime64(6), key UUID, "
        "maybe Nullable(Int32), tags Array(String), kind LowCardinality(String), "
        "amount Decimal(18, 4)) ENGINE = MergeTree ORDER BY id"
    )
    at = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    rows = [
        [
            n,
            f"name {n}",
            at + datetime.timedelta(seconds=n),
            uuid.uuid5(uuid.NAMESPACE_OID, str(n)),
            None if n % 3 else -n,
            [f"t{n}", "x"],
            "even" if n % 2 == 0 else "odd",
            decimal.Decimal(n) / 4,
        ]
        for n in range(2000)
    ]
    summary = client.insert(
        table, rows, column_names=["id", "name", "at", "key", "maybe", "tags", "kind", "amount"]
    )
    assert summary.written_rows == 2000
    stored = client.query(f"SELECT * FROM {table} ORDER BY id").result_rows
    assert [list(row) for row in stored] == rows


def test_large_compressed_insert_keeps_every_block(connect: Callable[..., Any]) -> None:
    # clickhouse-connect sends a big insert as several blocks, one compressed frame each.
    client = connect(compress="lz4")
    table = unique("blocks")
    client.command(f"CREATE TABLE {table} (id UInt64, text String) ENGINE = MergeTree ORDER BY id")
    rows = [[n, f"statement {n} " * 10] for n in range(30_000)]
    summary = client.insert(table, rows, column_names=["id", "text"])
    assert summary.written_rows == 30_000
    assert client.query(f"SELECT count(), sum(id) FROM {table}").result_rows == [
        (30_000, sum(range(30_000)))
    ]


def test_clickhouse_connect_query_df(connect: Callable[..., Any]) -> None:
    pytest.importorskip("pandas")
    frame = connect().query_df("SELECT number AS n, toString(number) AS s FROM numbers(3)")
    assert frame.to_dict("list") == {"n": [0, 1, 2], "s": ["0", "1", "2"]}


def test_clickhouse_connect_column_probe_and_raw_formats(connect: Callable[..., Any]) -> None:
    client = connect()
    probe = client.query("SELECT number AS n, toString(number) AS s FROM numbers(3) LIMIT 0")
    assert probe.column_names == ("n", "s")
    assert [t.name for t in probe.column_types] == ["UInt64", "String"]
    assert probe.result_rows == []
    raw = client.raw_query("SELECT 1 AS a", fmt="RowBinaryWithNamesAndTypes")
    assert raw == b"\x01\x01a\x05UInt8\x01"


def test_clickhouse_connect_command(connect: Callable[..., Any]) -> None:
    client = connect()
    table = unique("command")
    client.command(f"CREATE TABLE {table} (x UInt8) ENGINE = MergeTree ORDER BY x")
    assert client.command(f"EXISTS TABLE {table}") == 1
    client.command(f"INSERT INTO {table} VALUES (1), (2)")
    assert client.command(f"SELECT sum(x), count() FROM {table}") == ["3", "2"]
    client.command(f"DROP TABLE {table}")
    assert client.command(f"EXISTS TABLE {table}") == 0


def test_clickhouse_connect_errors_carry_the_engine_message(connect: Callable[..., Any]) -> None:
    client = connect()
    with pytest.raises(
        DatabaseError,
        match=r"Code: 60\. DB::Exception: Unknown table expression identifier 'nope'"
        r".*\(UNKNOWN_TABLE\)",
    ):
        client.query("SELECT * FROM nope")
    with pytest.raises(
        DatabaseError, match=r"Code: 62\. DB::Exception: Syntax error.*\(SYNTAX_ERROR\)"
    ):
        client.command("SELEC 1")


def test_clickhouse_connect_wrong_password(clickhouse_server: ClickHouseServer) -> None:
    with pytest.raises(DatabaseError, match=r"code: 516.*Authentication failed"):
        clickhouse_connect.get_client(
            host=clickhouse_server.host,
            port=clickhouse_server.port,
            username=clickhouse_server.user,
            password="wrong",
        )


def test_clickhouse_connect_insert_type_error_surfaces_the_engine_error(
    connect: Callable[..., Any],
) -> None:
    client = connect(compress="lz4")
    table = unique("typed_error")
    client.command(f"CREATE TABLE {table} (n UInt64) ENGINE = MergeTree ORDER BY n")
    with pytest.raises(
        DatabaseError,
        match=r"Code: 6\. DB::Exception: Cannot parse string 'abc' as UInt64"
        r".*\(CANNOT_PARSE_TEXT\)",
    ):
        client.insert(table, [["abc"]], column_names=["n"], column_type_names=["String"])
    with pytest.raises(
        DatabaseError,
        match=r"(?s)code: 117, .*Code: 117\. DB::Exception: Expected end of line: \(at row 3\)"
        r".*\(INCORRECT_DATA\)",
    ):
        client.raw_insert(table, ["n"], "1\n2\nthree\n", fmt="CSV")
    assert client.command(f"SELECT count() FROM {table}") == 0


# --- curl and wget --------------------------------------------------------------------------


def run(*command: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, input=data, capture_output=True, timeout=60, check=False)


def test_curl(clickhouse_server: ClickHouseServer, tmp_path: Any) -> None:
    url, credentials = (
        clickhouse_server.url,
        f"{clickhouse_server.user}:{clickhouse_server.password}",
    )
    table = unique("curl")
    assert run("curl", "-sS", f"{url}/ping").stdout == b"Ok.\n"
    assert run("curl", "-sS", "-u", credentials, f"{url}/?query=SELECT%2040%2B2").stdout == b"42\n"
    create = f"CREATE TABLE {table} (n UInt8, s String) ENGINE = MergeTree ORDER BY n"
    assert run("curl", "-sS", "-f", "-u", credentials, url, "--data-binary", create).returncode == 0
    csv = tmp_path / "rows.csv"
    csv.write_text("1,one\n2,two\n")
    insert = run(
        "curl",
        "-sS",
        "-f",
        "-u",
        credentials,
        f"{url}/?query=INSERT%20INTO%20{table}%20FORMAT%20CSV",
        "--data-binary",
        f"@{csv}",
    )
    assert insert.returncode == 0, insert.stderr
    select = run(
        "curl",
        "-sS",
        "-u",
        credentials,
        url,
        "-d",
        f"SELECT n, s FROM {table} ORDER BY n FORMAT CSV",
    )
    assert select.stdout == b'1,"one"\n2,"two"\n'
    wrong = run(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-u",
        f"{clickhouse_server.user}:no",
        url,
        "-d",
        "SELECT 1",
    )
    assert wrong.stdout == b"403"


def test_wget(clickhouse_server: ClickHouseServer) -> None:
    headers = [
        "--header",
        f"X-ClickHouse-User: {clickhouse_server.user}",
        "--header",
        f"X-ClickHouse-Key: {clickhouse_server.password}",
    ]
    ok = run(
        "wget",
        "-q",
        "-O",
        "-",
        *headers,
        "--post-data",
        "SELECT 40 + 2",
        f"{clickhouse_server.url}/",
    )
    assert (ok.returncode, ok.stdout) == (0, b"42\n")
    spider = run("wget", "-q", "--spider", f"{clickhouse_server.url}/ping")  # HEAD request
    assert spider.returncode == 0
    wrong = run(
        "wget",
        "-q",
        "-O",
        "-",
        "--content-on-error",
        "--header",
        f"X-ClickHouse-User: {clickhouse_server.user}",
        "--header",
        "X-ClickHouse-Key: wrong",
        "--post-data",
        "SELECT 1",
        f"{clickhouse_server.url}/",
    )
    assert wrong.returncode == 8  # wget: the server answered with an error
    assert wrong.stdout.startswith(b"Code: 516. DB::Exception:")


# --- SQLAlchemy -----------------------------------------------------------------------------


def test_sqlalchemy_dialect(
    clickhouse_server: ClickHouseServer, connect: Callable[..., Any]
) -> None:
    table = unique("sqlalchemy")
    connect().command(
        f"CREATE TABLE {table} (id UInt32, name String, score Nullable(Float64)) "
        "ENGINE = MergeTree ORDER BY id"
    )
    connect().insert(
        table, [[1, "ada", 0.5], [2, "bob", None]], column_names=["id", "name", "score"]
    )
    server = clickhouse_server
    engine = sa.create_engine(
        f"clickhousedb://{server.user}:{server.password}@{server.host}:{server.port}/default"
    )
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
            columns = sa.inspect(connection).get_columns(table)
            assert [(c["name"], str(c["type"])) for c in columns] == [
                ("id", "UInt32"),
                ("name", "String"),
                ("score", "Nullable(Float64)"),
            ]
            reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
            query = (
                sa.select(reflected.c.name, reflected.c.score)
                .where(reflected.c.id > 0)
                .order_by(reflected.c.id)
            )
            assert connection.execute(query).fetchall() == [("ada", 0.5), ("bob", None)]
    finally:
        engine.dispose()


# --- Concurrency and persistence ------------------------------------------------------------


def test_concurrent_clients(connect: Callable[..., Any]) -> None:
    table = unique("concurrent")
    connect().command(
        f"CREATE TABLE {table} (worker UInt8, n UInt16) ENGINE = MergeTree ORDER BY (worker, n)"
    )
    clients = [connect() for _ in range(8)]
    failures: list[BaseException] = []
    seen: dict[int, int] = {}

    def work(worker: int) -> None:
        try:
            for n in range(25):
                clients[worker].insert(table, [[worker, n]], column_names=["worker", "n"])
                seen[worker] = clients[worker].command(
                    f"SELECT count() FROM {table} WHERE worker = {worker}"
                )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert seen == dict.fromkeys(range(8), 25)
    assert connect().command(f"SELECT count(), uniqExact(worker, n) FROM {table}") == ["200", "200"]


def test_restart_keeps_data_and_users(fresh_clickhouse_server: ClickHouseServer) -> None:
    server = fresh_clickhouse_server
    request(server, "CREATE TABLE kept (n UInt32) ENGINE = MergeTree ORDER BY n")
    request(server, "INSERT INTO kept SELECT number FROM numbers(1000)")
    request(server, "CREATE USER reader IDENTIFIED BY 'reader-password'")
    port = server.port
    server.restart()
    assert server.port == port
    assert request(server, "SELECT count(), sum(n) FROM kept").text == "1000\t499500\n"
    as_reader = request(server, "SELECT count() FROM kept", auth=("reader", "reader-password"))
    assert as_reader.text == "1000\n"
    assert [entry["statement"] for entry in server.access_log()] == [
        "CREATE USER reader IDENTIFIED BY '[HIDDEN]'"
    ]


# --- Access control -------------------------------------------------------------------------


def test_create_user_and_grant_are_recorded_and_the_user_can_log_in(
    clickhouse_server: ClickHouseServer,
) -> None:
    user, role = unique("analyst"), unique("role")
    before = len(clickhouse_server.access_log())
    statements = [
        f"create user {user}\n\tidentified with sha256_password by 's3cret!' -- \\ comment",
        f"CREATE ROLE {role}",
        f"grant select on default.* to {role}",
        f"GRANT {role} TO {user}",
        f"CREATE USER IF NOT EXISTS {user} ON CLUSTER default IDENTIFIED BY 'ignored'",
    ]
    for statement in statements:
        reply = request(clickhouse_server, statement)
        assert (reply.status, reply.body) == (200, b""), reply.text
        assert reply.headers[ACCESS_HEADER] == "access-control-recorded-not-enforced"
    log = clickhouse_server.access_log()[before:]
    assert [entry["statement"] for entry in log] == [
        f"CREATE USER {user} IDENTIFIED WITH sha256_password BY '[HIDDEN]'",
        f"CREATE ROLE {role}",
        f"GRANT SELECT ON default.* TO {role}",
        f"GRANT {role} TO {user}",
        f"CREATE USER IF NOT EXISTS {user} ON CLUSTER default IDENTIFIED BY '[HIDDEN]'",
    ]
    assert {entry["user"] for entry in log} == {clickhouse_server.user}
    assert all(datetime.datetime.fromisoformat(entry["time"]).tzinfo for entry in log)
    # IF NOT EXISTS left the first password in place.
    assert request(clickhouse_server, "SELECT 1", auth=(user, "s3cret!")).text == "1\n"
    assert request(clickhouse_server, "SELECT 1", auth=(user, "ignored")).exception_code == "516"
    client = clickhouse_connect.get_client(
        host=clickhouse_server.host, port=clickhouse_server.port, username=user, password="s3cret!"
    )
    assert client.command("SELECT 40 + 2") == 42
    client.close()


def test_invalid_access_statement_is_a_syntax_error_and_not_recorded(
    clickhouse_server: ClickHouseServer,
) -> None:
    before = clickhouse_server.access_log()
    reply = request(clickhouse_server, "GRANT SELEC ON *.* TO somebody")
    assert (reply.status, reply.exception_code) == (400, "62")
    assert reply.text.startswith("Code: 62. DB::Exception: Syntax error")
    assert ACCESS_HEADER not in reply.headers
    assert clickhouse_server.access_log() == before


def test_only_the_admin_manages_access(clickhouse_server: ClickHouseServer) -> None:
    user = unique("plain")
    request(clickhouse_server, f"CREATE USER {user} IDENTIFIED BY 'pw'")
    before = clickhouse_server.access_log()
    denied = request(clickhouse_server, f"CREATE USER {unique('other')}", auth=(user, "pw"))
    assert (denied.status, denied.exception_code) == (403, "497")
    assert denied.text.startswith(
        f"Code: 497. DB::Exception: {user}: Not enough privileges. To execute this query, "
        "it's necessary to have the grant CREATE USER ON *.*. (ACCESS_DENIED)"
    )
    grant = request(clickhouse_server, f"GRANT ALL ON *.* TO {user}", auth=(user, "pw"))
    assert (grant.status, grant.exception_code) == (403, "497")
    assert clickhouse_server.access_log() == before
    # Grants are not enforced: a plain user reads and writes everything.
    table = unique("anyone")
    assert (
        request(
            clickhouse_server, f"CREATE TABLE {table} (x UInt8) ENGINE = Memory", auth=(user, "pw")
        ).status
        == 200
    )


def test_alter_and_drop_user_change_logins(clickhouse_server: ClickHouseServer) -> None:
    user = unique("rotating")
    request(clickhouse_server, f"CREATE USER {user} IDENTIFIED WITH plaintext_password BY 'one'")
    existing = request(clickhouse_server, f"CREATE USER {user} IDENTIFIED BY 'two'")
    assert (existing.status, existing.exception_code) == (500, "493")
    assert f"user `{user}`: cannot insert because user `{user}` already exists" in existing.text

    request(clickhouse_server, f"ALTER USER {user} IDENTIFIED BY 'two'")
    assert request(clickhouse_server, "SELECT 1", auth=(user, "one")).status == 403
    assert request(clickhouse_server, "SELECT 1", auth=(user, "two")).status == 200
    request(
        clickhouse_server, f"ALTER USER {user} ADD IDENTIFIED WITH double_sha1_password BY 'three'"
    )
    assert request(clickhouse_server, "SELECT 1", auth=(user, "three")).status == 200
    assert request(clickhouse_server, "SELECT 1", auth=(user, "two")).status == 200

    renamed = unique("renamed")
    assert request(clickhouse_server, f"ALTER USER {user} RENAME TO {renamed}").status == 200
    assert request(clickhouse_server, "SELECT 1", auth=(renamed, "two")).status == 200
    assert request(clickhouse_server, "SELECT 1", auth=(user, "two")).exception_code == "516"
    request(clickhouse_server, f"ALTER USER {renamed} RENAME TO {user}")

    dropped = request(
        clickhouse_server, f"DROP USER IF EXISTS {user}, {unique('never')} ON CLUSTER default"
    )
    assert dropped.status == 200
    assert request(clickhouse_server, "SELECT 1", auth=(user, "two")).exception_code == "516"
    again = request(clickhouse_server, f"DROP USER {user}")
    assert (again.status, again.exception_code) == (403, "192")
    assert f"There is no user `{user}`" in again.text


def test_users_from_hashes_and_without_password(clickhouse_server: ClickHouseServer) -> None:
    hashed, open_user = unique("hashed"), unique("open")
    digest = hashlib.sha256(b"from-hash" + b"pepper").hexdigest()
    reply = request(
        clickhouse_server,
        f"CREATE USER {hashed} IDENTIFIED WITH sha256_hash BY '{digest}' SALT 'pepper'",
    )
    assert reply.status == 200, reply.text
    assert request(clickhouse_server, "SELECT 1", auth=(hashed, "from-hash")).text == "1\n"
    request(clickhouse_server, f"CREATE USER {open_user} NOT IDENTIFIED")
    assert (
        request(clickhouse_server, "SELECT 1", auth=("", ""), params={"user": open_user}).text
        == "1\n"
    )
    unsupported = request(
        clickhouse_server, f"CREATE USER {unique('ldap')} IDENTIFIED WITH ldap SERVER 'corp'"
    )
    assert (unsupported.status, unsupported.exception_code) == (501, "48")


def test_the_admin_cannot_be_changed(clickhouse_server: ClickHouseServer) -> None:
    reply = request(clickhouse_server, f"DROP USER {clickhouse_server.user}")
    assert (reply.status, reply.exception_code) == (500, "495")
    assert request(clickhouse_server, "SELECT 1").status == 200
