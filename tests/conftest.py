from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot

pytest_plugins = ["tests.harness.fixtures", "tests.harness.mariadb", "tests.harness.redis"]


@pytest.fixture(scope="module")
def make_root(tmp_path_factory: pytest.TempPathFactory) -> t.Callable[..., TutorRoot]:
    """Create a Tutor root with `plugins` enabled and `settings` saved, shared by a module."""

    def make(plugins: t.Iterable[str] = (), settings: dict[str, t.Any] | None = None) -> TutorRoot:
        path: Path = tmp_path_factory.mktemp("tutor-root")
        return TutorRoot(path).save(plugins, settings)

    return make
