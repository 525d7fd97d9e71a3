from __future__ import annotations

import subprocess
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


LMS_SIDE = ("edx-event-routing-backends", "platform-plugin-aspects")


def pytest_report_header() -> str:
    """The releases and Python the LMS-side tests run (docs/testing.md says why that Python)."""
    python = Path(__file__).resolve().parents[1] / ".venv-openedx" / "bin" / "python"
    code = (
        "import sys, importlib.metadata as m; print('Python', sys.version.split()[0] + ':',"
        " ', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    )
    if not python.exists():
        return "LMS side: .venv-openedx is missing (make install)"
    run = subprocess.run([str(python), "-c", code, *LMS_SIDE], capture_output=True, text=True)
    return f"LMS side: {run.stdout.strip() or run.stderr.strip()[-200:]}"
