"""Refuse bad settings, one message per offending key, leaving config.yml as it was."""

from __future__ import annotations

import typing as t
from pathlib import Path

from tutor import exceptions, hooks
from tutor.types import Config


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

    def register(self) -> ConfigGuard:
        """Add the guard's actions to Tutor, in the context of the plugin that calls this."""
        # LOW: after Tutor and other plugins have prepared the root, before anything writes it.
        hooks.Actions.PROJECT_ROOT_READY.add(priority=hooks.priorities.LOW)(self.remember)
        hooks.Actions.CONFIG_LOADED.add()(self.check)
        return self

    def remember(self, root: str) -> None:
        """For Tutor's PROJECT_ROOT_READY action: keep config.yml as it is (or its absence)."""
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
