"""
A plugin's settings as one table of `Setting` rows, from which Tutor's defaults, the
configuration reference (tools/generate_config_docs.py) and the checks of values all come.
"""

from __future__ import annotations

import typing as t

from tutor import hooks
from tutor.types import Config

from . import checks
from .checks import Check


class Setting(t.NamedTuple):
    name: str
    default: t.Any
    description: str
    #: Checks the value alone; checks across settings live in the plugin's own function.
    check: Check | None = None


def plugin_rows(
    service: str, version: str, *, image: str, image_says: str, run_says: str = ""
) -> list[Setting]:
    """
    The rows every plugin's table starts with, under the reference plugin's names:
    <SERVICE>_VERSION, the plugin's version; RUN_<SERVICE>, whether the service runs here (only
    for a service that may run elsewhere: `run_says` describes it); DOCKER_IMAGE_<SERVICE>.
    """
    rows = [Setting(f"{service}_VERSION", version, "Version of this plugin.")]
    if run_says:
        rows.append(Setting(f"RUN_{service}", True, run_says, checks.boolean))
    rows.append(Setting(f"DOCKER_IMAGE_{service}", image, image_says, checks.image))
    return rows


def register(defaults: t.Sequence[Setting], unique: t.Sequence[Setting] = ()) -> None:
    """Give Tutor the defaults, and the unique ones (secrets, generated once and saved)."""
    hooks.Filters.CONFIG_DEFAULTS.add_items([(s.name, s.default) for s in defaults])
    hooks.Filters.CONFIG_UNIQUE.add_items([(s.name, s.default) for s in unique])


def value_errors(settings: t.Iterable[Setting], config: Config) -> t.Iterator[str]:
    """The messages of every setting's own check, in table order."""
    for setting in settings:
        if setting.check:
            yield from setting.check(setting.name, config[setting.name])
