"""
ClickHouse errors as the embedded server reports them: code, name, message and HTTP status.

A ClickHouse server answers a failed request with the body
``Code: N. DB::Exception: <message>. (NAME) (version V)``, the header
``X-ClickHouse-Exception-Code: N`` and an HTTP status derived from the code. The engine (chdb)
raises Python exceptions whose text carries the same ``Code: N. DB::Exception: …`` form, sometimes
wrapped or repeated (``Streaming insert finish failed: Code: 117. …``, or the same exception
nested with its version trailer); :func:`from_engine_message` recovers the innermost one.

The HTTP status table is transcribed from ClickHouse's ``exceptionCodeToHTTPStatus``
(src/Server/HTTP/exceptionCodeToHTTPStatus.cpp); it is keyed by error *name* because every
engine message ends with the name, which avoids transcribing numeric codes by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Codes of the errors the server raises itself. Their names are checked against the engine's
# errorCodeToName() by the test suite.
BAD_ARGUMENTS = 36
NOT_IMPLEMENTED = 48
SYNTAX_ERROR = 62
UNKNOWN_SETTING = 115
INCORRECT_DATA = 117
READONLY = 164
UNKNOWN_USER = 192
CANNOT_DECOMPRESS = 271
SESSION_NOT_FOUND = 372
SESSION_IS_LOCKED = 373
INVALID_SESSION_TIMEOUT = 374
HTTP_LENGTH_REQUIRED = 381
ACCESS_ENTITY_ALREADY_EXISTS = 493
ACCESS_STORAGE_READONLY = 495
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516
CLUSTER_DOESNT_EXIST = 701
UNKNOWN_EXCEPTION = 1002

ERROR_NAMES: dict[int, str] = {
    BAD_ARGUMENTS: "BAD_ARGUMENTS",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    SYNTAX_ERROR: "SYNTAX_ERROR",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
    INCORRECT_DATA: "INCORRECT_DATA",
    READONLY: "READONLY",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    UNKNOWN_USER: "UNKNOWN_USER",
    SESSION_NOT_FOUND: "SESSION_NOT_FOUND",
    SESSION_IS_LOCKED: "SESSION_IS_LOCKED",
    INVALID_SESSION_TIMEOUT: "INVALID_SESSION_TIMEOUT",
    HTTP_LENGTH_REQUIRED: "HTTP_LENGTH_REQUIRED",
    ACCESS_ENTITY_ALREADY_EXISTS: "ACCESS_ENTITY_ALREADY_EXISTS",
    ACCESS_STORAGE_READONLY: "ACCESS_STORAGE_READONLY",
    ACCESS_DENIED: "ACCESS_DENIED",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    CLUSTER_DOESNT_EXIST: "CLUSTER_DOESNT_EXIST",
    UNKNOWN_EXCEPTION: "UNKNOWN_EXCEPTION",
}

# exceptionCodeToHTTPStatus(), by error name; every other error is 500.
_HTTP_STATUS_BY_NAME: dict[str, int] = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        (
            "UNKNOWN_USER",
            "WRONG_PASSWORD",
            "AUTHENTICATION_FAILED",
            "SET_NON_GRANTED_ROLE",
            "ACCESS_DENIED",
        ),
        403,
    ),
    **dict.fromkeys(
        (
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}


def http_status_for(error_name: str) -> int:
    """The HTTP status a ClickHouse server answers with for an error of this name."""
    return _HTTP_STATUS_BY_NAME.get(error_name, 500)


class ClickHouseError(Exception):
    """An error reported to the client the way a ClickHouse server reports it."""

    def __init__(self, code: int, message: str, name: str | None = None) -> None:
        self.code = code
        self.name = name or ERROR_NAMES.get(code, "UNKNOWN_EXCEPTION")
        self.message = message.rstrip().removesuffix(".")
        super().__init__(f"Code: {code}. DB::Exception: {self.message}. ({self.name})")

    @property
    def http_status(self) -> int:
        return http_status_for(self.name)

    def response_text(self, version: str) -> str:
        """The response body, as a server of this version writes it."""
        return f"{self} (version {version})\n"


_CODE_PREFIX = re.compile(r"Code: (\d+)\. DB::Exception: ")
_VERSION_TRAILER = re.compile(r" \(version \d[\w.]*(?: \([^()]*\))?\)")
_NAME_SUFFIX = re.compile(r"\s*\(([A-Z][A-Z0-9_]*)\)\s*$")


def from_engine_message(
    text: str, name_of_code: Callable[[int], str] | None = None
) -> ClickHouseError:
    """Turn the text of an engine exception into the error a server would report."""
    match = _CODE_PREFIX.search(text)
    if match is None:
        return ClickHouseError(UNKNOWN_EXCEPTION, text.strip() or "Unknown error")
    code, rest = int(match.group(1)), text[match.end() :]
    # chdb re-wraps some exceptions in themselves: keep the innermost one.
    while nested := _CODE_PREFIX.match(rest):
        code, rest = int(nested.group(1)), rest[nested.end() :]
    if trailer := _VERSION_TRAILER.search(rest):
        rest = rest[: trailer.start()]
    name = None
    if suffix := _NAME_SUFFIX.search(rest):
        name, rest = suffix.group(1), rest[: suffix.start()]
    elif name_of_code is not None:
        name = name_of_code(code)
    return ClickHouseError(code, rest, name)


def authentication_failed(user: str) -> ClickHouseError:
    return ClickHouseError(
        AUTHENTICATION_FAILED,
        f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
    )


def invalid_authentication(detail: str) -> ClickHouseError:
    return ClickHouseError(AUTHENTICATION_FAILED, f"Invalid authentication: {detail}")


def access_denied(user: str, privilege: str) -> ClickHouseError:
    return ClickHouseError(
        ACCESS_DENIED,
        f"{user}: Not enough privileges. To execute this query, "
        f"it's necessary to have the grant {privilege}",
    )


def readonly_mode(user: str, via_http_get: bool) -> ClickHouseError:
    hint = (
        ". For queries over HTTP, method GET implies readonly. "
        "You should use method POST for modifying queries"
        if via_http_get
        else ""
    )
    return ClickHouseError(READONLY, f"{user}: Cannot execute query in readonly mode{hint}")
