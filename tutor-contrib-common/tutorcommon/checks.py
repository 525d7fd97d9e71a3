"""
Checks of single setting values. A check takes ``(key, value)`` and yields one message per
problem, each naming the key and the offending value; the settings tables (``Setting.check``)
hold them.
"""

from __future__ import annotations

import re
import typing as t

Check = t.Callable[[str, t.Any], t.Iterable[str]]

# What docker compose, Caddy, ClickHouse, MySQL and sentry_sdk accept. Values may end up inside
# Python strings (superset_config.py): no pattern lets a quote through.
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
# A public host follows LMS_HOST, which may carry a port.
PUBLIC_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
SENTRY_DSN = re.compile(r"^https?://[^@/\s\"]+@[^/\s\"]+/[^\s\"]*[0-9]+$")
URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\"'\\]*)?$")
# A URL's scheme, host and port alone, as browsers send them in an Origin header.
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
URL_PATH = re.compile(r"^/[^\s\"'\\]*$")
EMAIL = re.compile(r"^[^@\s\"'\\]+@[^@\s\"'\\]+$")
# ClickHouse names users by XML element names in users.d, and SQL names need no quoting.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Kubernetes quantities: cpu in cores or millicores (500m); memory and storage in bytes with an
# optional suffix (512Mi, 4Gi). "512m" of memory would be thousandths of a byte: refused.
CORES = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
BYTES = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE]|)$")
QUANTITY = {"cpu": CORES, "memory": BYTES, "ephemeral-storage": BYTES}
UNITS = {"": 1, "m": 1e-3, **{u: 1000.0 ** (i + 1) for i, u in enumerate("kMGTPE")}}
UNITS.update({f"{u}i": 1024.0 ** (i + 1) for i, u in enumerate("KMGTPE")})


def quantity(resource: str, value: t.Any) -> float:
    """What a Kubernetes quantity of `resource` amounts to; 0 if it is not one."""
    match = not isinstance(value, bool) and QUANTITY[resource].match(str(value))
    return float(match[1]) * UNITS[match[2]] if match else 0


def kubernetes_resources(key: str, value: t.Any) -> t.Iterator[str]:
    """What is wrong with Kubernetes resources: cpu and memory requested, memory limited."""
    parts = value if isinstance(value, dict) else {}
    if set(parts) != {"requests", "limits"} or not all(isinstance(p, dict) for p in parts.values()):
        yield f"{key} must be a mapping of requests and limits (cpu, memory), not {value!r}"
        return
    for part, needed in (("requests", {"cpu", "memory"}), ("limits", {"memory"})):
        for resource in sorted(needed - set(parts[part])):
            yield f"{key} must set {part}.{resource}"
        for resource, amount in parts[part].items():
            if resource not in QUANTITY:
                yield f"{key}: {part}.{resource} is not one of {', '.join(QUANTITY)}"
            elif not quantity(resource, amount):
                unit = "cores or millicores (500m)" if resource == "cpu" else "bytes (512Mi, 4Gi)"
                yield f"{key}: {part}.{resource} must be a number of {unit} above 0, not {amount!r}"
    for resource, limit in parts["limits"].items():
        request = parts["requests"].get(resource)
        if resource in QUANTITY and 0 < quantity(resource, limit) < quantity(resource, request):
            yield f"{key}: requests.{resource} {request} is above limits.{resource} {limit}"


def kubernetes_size(key: str, value: t.Any) -> t.Iterator[str]:
    """A volume size: a Kubernetes quantity of bytes."""
    if not quantity("memory", value):
        yield f"{key} must be a Kubernetes size in bytes such as 10Gi, not {value!r}"


def port(key: str, value: t.Any) -> t.Iterator[str]:
    text = str(value)
    if not text.isdigit() or not 0 < int(text) < 65536:
        yield f"{key} must be a port number between 1 and 65535, not {text!r}"


def boolean(key: str, value: t.Any) -> t.Iterator[str]:
    if not isinstance(value, bool):
        yield f"{key} must be true or false, not {value!r}"


def not_empty(key: str, value: t.Any) -> t.Iterator[str]:
    if not str(value or ""):
        yield f"{key} must not be empty"


def whole_number(minimum: int = 0) -> Check:
    """A YAML integer (not a boolean, not a string of digits) of at least `minimum`."""
    wanted = "a whole number" + (f" of at least {minimum}" if minimum else "")

    def check(key: str, value: t.Any) -> t.Iterator[str]:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            yield f"{key} must be {wanted}, not {value!r}"

    return check


def matching(pattern: re.Pattern[str], wanted: str, *, optional: bool = False) -> Check:
    """A value that `pattern` matches (as text), described as `wanted`; or empty if `optional`."""

    def check(key: str, value: t.Any) -> t.Iterator[str]:
        if optional and value in ("", None):
            return
        if not pattern.match(str(value)):
            yield f"{key} must be {'empty or ' if optional else ''}{wanted}, not {value!r}"

    return check


def all_of(*checks: Check) -> Check:
    """Every message of every check."""

    def check(key: str, value: t.Any) -> t.Iterator[str]:
        for one in checks:
            yield from one(key, value)

    return check


host = matching(HOST, "a host name, without scheme, port or path")
public_host = matching(PUBLIC_HOST, "a host name, without scheme or path")
image = matching(IMAGE, "an image name such as registry/name:tag")
identifier = matching(IDENTIFIER, "letters, digits and underscores")
url = matching(URL, "a URL such as http://host:port")
url_path = matching(URL_PATH, "a path that starts with /")
email = matching(EMAIL, "an email address")
# Services hand it to sentry_sdk at start-up, which stops on a malformed DSN.
sentry_dsn = matching(SENTRY_DSN, "a DSN such as https://key@host/1", optional=True)
