"""
A config.yml written for the reference plugin, tutor-contrib-aspects 6.1.0, upgraded on
`tutor config save` as the tables of tutoraspects.reference say: translated values carried over
to this project's settings, notices and warnings for the rest, and the reference's patch names
applied under this project's.

This module registers no hook: plugin.py does. Messages name settings, never their values.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import typing as t
from pathlib import Path

from tutor import fmt, hooks, plugins, serialize
from tutor.types import Config

from .reference import PATCHES, READ, RENAMED_PATCHES, SETTINGS, UNUSED, Setting, snapshot


@dataclasses.dataclass
class Plan:
    """What a config.yml's reference settings become: carried values and messages."""

    # New setting -> (reference setting, value).
    carried: dict[str, tuple[str, t.Any]] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)


def plan(config: Config) -> Plan:
    """
    The fate of each reference setting that `config` (the content of config.yml) sets. A value
    already set for a new setting, in config.yml or by an earlier translation, is kept.
    """
    generated = {
        setting["name"]: setting["default"]
        for setting in snapshot()["settings"]
        if setting["kind"] == "unique"
    }
    result = Plan()
    for setting in SETTINGS:
        if setting.name not in config:
            continue
        value = config[setting.name]
        if setting.fate == READ:
            if setting.caution_when and setting.caution_when(value):
                result.warnings.append(setting.says)
        elif setting.fate == UNUSED:
            # Tutor saved the reference's generated users in config.yml: not the operator's choice.
            if setting.name not in generated or value != generated[setting.name]:
                result.warnings.append(
                    f"{setting.name} is not used here (remove it from config.yml): {setting.says}"
                )
        else:
            carry(setting, value, config, result)
    return result


def carry(setting: Setting, value: t.Any, config: Config, result: Plan) -> None:
    assert setting.carry is not None
    values = setting.carry(value, config)
    if values is None:
        result.warnings.append(
            f"{setting.name} could not be carried over ({setting.says}); set "
            f"{' or '.join(setting.into)} instead"
        )
        return
    for name, new in values.items():
        if name in config or name in result.carried:
            current = config[name] if name in config else result.carried[name][1]
            if current != new:
                result.warnings.append(
                    f"{setting.name} is not carried over to {name}, which is already set and "
                    f"wins (remove {setting.name} from config.yml)"
                )
            continue
        result.carried[name] = (setting.name, new)


def notice(reference_name: str, name: str) -> str:
    plugin = next(s.plugin for s in SETTINGS if s.name == reference_name)
    return (
        f"{reference_name} of tutor-contrib-aspects 6.x is {name} here ({plugin} plugin): "
        "its value was carried over to config.yml"
    )


def patch_messages(filled: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """
    Notices and warnings for the reference patch names that plugins fill, given as
    {patch name: plugins filling it}.
    """
    notices, warnings = [], []
    for patch in PATCHES:
        for plugin in filled.get(patch.name, []):
            if patch.into and patch.into != patch.name:
                notices.append(
                    f"Plugin {plugin} fills the patch {patch.name} of tutor-contrib-aspects 6.x: "
                    f"applied as {patch.into} ({patch.plugin} plugin); rename it there"
                )
            elif not patch.into:
                warnings.append(
                    f"Plugin {plugin} fills the patch {patch.name} of tutor-contrib-aspects 6.x, "
                    f"which nothing renders here: {patch.says}"
                )
    return notices, warnings


def renamed_patches(patches: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """For Tutor's ENV_PATCHES filter: reference patches, also under this project's names."""
    return patches + [(RENAMED_PATCHES[n], c) for n, c in patches if n in RENAMED_PATCHES]


@functools.cache
def _parsed_yaml(text: str) -> t.Any:
    # Keyed by the text: a save reads config.yml up to four times, unchanged but for the last.
    return serialize.load(text)


def config_yml_text(root: str | None) -> str:
    """The text of config.yml in `root`; empty if there is none."""
    path = Path(root or "") / "config.yml"
    return path.read_text(encoding="utf-8") if root and path.is_file() else ""


def parsed_config_yml(text: str) -> Config:
    """The settings in the text of a config.yml (a copy of its own: callers may change it)."""
    loaded = copy.deepcopy(_parsed_yaml(text))
    return loaded if isinstance(loaded, dict) else {}


def read_config_yml(root: str | None) -> Config:
    """config.yml as the operator wrote it: no defaults, no translations."""
    return parsed_config_yml(config_yml_text(root))


class Upgrade:
    """
    Carries the reference's settings over, for Tutor's hooks: the translated values join the
    user's configuration (Tutor's CONFIG_USER filter), so `tutor config save` writes them in
    config.yml; once saved, config.yml holds them and they are not carried again. After the
    save, one notice per carried setting and one warning per unused one.
    """

    def __init__(self) -> None:
        self.root: str | None = None
        self.found = ""

    def remember(self, root: str) -> None:
        """For Tutor's PROJECT_ROOT_READY action: config.yml as the command found it."""
        self.root = root
        # Its text only: every `tutor` call starts so, and only a save parses it.
        self.found = config_yml_text(root)

    def carried_settings(self, items: list[tuple[str, t.Any]]) -> list[tuple[str, t.Any]]:
        """For Tutor's CONFIG_USER filter, read on each load of the configuration."""
        carried = plan(read_config_yml(self.root)).carried if self.root else {}
        return items + [(name, value) for name, (_, value) in carried.items()]

    def report(self, _root_env: str, _config: Config) -> None:
        """For Tutor's ENV_SAVED action, at the end of `tutor config save`."""
        if self.root is None:
            return
        saved = read_config_yml(self.root)
        after = plan(saved)
        found = parsed_config_yml(self.found)
        for name, (reference_name, value) in plan(found).carried.items():
            if name in saved and saved[name] == value and name not in found:
                fmt.echo_info(notice(reference_name, name))
        notices, warnings = patch_messages(filled_patches())
        for text in notices:
            fmt.echo_info(text)
        for text in after.warnings + warnings:
            fmt.echo_alert(text)


def filled_patches() -> dict[str, list[str]]:
    """The reference's patch names that enabled plugins fill: {patch name: plugins}."""
    names = {patch.name for patch in PATCHES}
    filled: dict[str, list[str]] = {}
    for plugin in plugins.iter_loaded():
        context = hooks.Contexts.app(plugin).name
        for name, _ in hooks.Filters.ENV_PATCHES.iterate_from_context(context):
            if name in names and plugin not in filled.setdefault(name, []):
                filled[name].append(plugin)
    return filled
