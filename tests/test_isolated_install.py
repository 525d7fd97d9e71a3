"""
Each plugin installs and works alone: in a fresh virtualenv holding Tutor but none of the four
plugins, `pip install` of that one plugin's wheel (with the wheels of this repository as its
only index) brings what it needs, the shared library included, and Tutor enables it, saves
the configuration and renders its files.

Tutor and its own dependencies are not downloaded again for each virtualenv: a folder of links
to the test virtualenv's installed packages, the plugins left out, is on each one's path (a
.pth file), so pip sees Tutor as installed and resolves only the plugins' own requirements.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.test_packaging import PLUGINS, REPOSITORY, SHARED

# The aspects plugin refuses to run without these enabled (its config check says so).
ENABLED_WITH = {"aspects": ["clickhouse", "ralph", "aspects"]}
TUTOR = "import sys; from tutor.commands.cli import main; sys.argv[0] = 'tutor'; main()"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of the shared library and of the four plugins, built once."""
    directory = tmp_path_factory.mktemp("wheels")
    sources = [str(REPOSITORY / f"tutor-contrib-{name}") for name in [SHARED, *PLUGINS]]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(directory), *sources],
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def tutor_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Links to the test virtualenv's packages, without the plugins nor the shared library."""
    directory = tmp_path_factory.mktemp("tutor-packages")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "tutor_contrib" not in entry.name and entry.suffix != ".pth":
            (directory / entry.name).symlink_to(entry)
    return directory


def fresh_virtualenv(path: Path, tutor_packages: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "tutor_packages.pth").write_text(f"{tutor_packages}\n", encoding="utf-8")
    return python


# About 15 s per plugin, over a minute for the four.
@pytest.mark.slow
@pytest.mark.parametrize("name", PLUGINS)
def test_plugin_installs_alone_and_tutor_renders_it(
    name: str, wheelhouse: Path, tutor_packages: Path, tmp_path: Path
) -> None:
    python = fresh_virtualenv(tmp_path / "venv", tutor_packages)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-index", "--find-links", str(wheelhouse), f"tutor-contrib-{name}"],
        check=True,
        capture_output=True,
    )
    code = "import importlib.metadata as m; print(sorted(d.name for d in m.distributions()))"
    installed = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "tutor-contrib-common" in installed
    needed = {"aspects": ["clickhouse", "ralph", "superset"]}.get(name, [])
    for other in PLUGINS:
        assert (f"tutor-contrib-{other}" in installed) is (other == name or other in needed)

    root, plugins_root = tmp_path / "root", tmp_path / "plugins"
    plugins_root.mkdir()
    env = {**os.environ, "TUTOR_ROOT": str(root), "TUTOR_PLUGINS_ROOT": str(plugins_root)}
    for command in (["plugins", "enable", *ENABLED_WITH.get(name, [name])], ["config", "save"]):
        result = subprocess.run(
            [str(python), "-c", TUTOR, *command], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert any(path.is_file() for path in (root / "env" / "plugins" / name).rglob("*"))
