"""Rendered files that hold secrets: readable by their owner only."""

from __future__ import annotations

from pathlib import Path

from tutor import hooks
from tutor.types import Config

# The compose files give services their passwords in their environment exactly as configured
# (an env_file would read $, # and quotes in a value as syntax), Tutor's own services' too.
COMPOSE_FILES = ("local/docker-compose.yml", "local/docker-compose.jobs.yml")


def private_files(*names: str) -> None:
    """
    Make these rendered files (paths under env/) readable by their owner only, each time the
    environment is saved: they hold secrets that only docker compose and kubectl read on this
    machine. Registered in the context of the plugin that calls this.
    """

    @hooks.Actions.ENV_SAVED.add()
    def _make_private(root_env: str, _config: Config) -> None:
        for name in names:
            (Path(root_env) / name).chmod(0o600)
