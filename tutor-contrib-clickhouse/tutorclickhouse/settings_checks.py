"""
Checks of settings that plugins built on this one share: Kubernetes resources, and refusing bad
settings while keeping config.yml as the command found it. This module registers no hook, so a
plugin that depends on tutor-contrib-clickhouse may import it.
"""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

from tutor import exceptions
from tutor.types import Config

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


def resources_errors(key: str, value: t.Any) -> t.Iterator[str]:
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


class ConfigGuard:
    """
    Stops a command on bad settings, one message per offending key. `tutor config save` writes
    the new values before plugins check them: the guard puts config.yml back as it found it, so
    a refused value does not stay there.
    """

    def __init__(self, title: str, errors: t.Callable[[Config], t.Iterable[str]]) -> None:
        self.title = title
        self.errors = errors
        self.found: list[tuple[Path, bytes]] = []

    def remember(self, root: str) -> None:
        """For Tutor's PROJECT_ROOT_READY action: keep config.yml as it is."""
        path = Path(root) / "config.yml"
        self.found[:] = [(path, path.read_bytes())] if path.is_file() else []

    def check(self, config: Config) -> None:
        """For Tutor's CONFIG_LOADED action."""
        if errors := list(self.errors(config)):
            for path, text in self.found:
                path.write_bytes(text)
            raise exceptions.TutorError(
                f"Invalid {self.title} configuration (config.yml is left as it was):\n- "
                + "\n- ".join(errors)
            )
