"""
Each plugin builds into a wheel that Tutor 22 can install and discover; so does the shared
library (tutor-contrib-common), which is no plugin, and every plugin that imports it says so.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
SHARED = "common"


def build_wheel(name: str, directory: Path) -> tuple[set[str], str, str]:
    """The files, METADATA and entry points ("" if none) of tutor-contrib-<name>'s wheel."""
    source = REPOSITORY / f"tutor-contrib-{name}"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(directory), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = directory.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        info = next(f for f in files if f.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        metadata = archive.read(f"{info}/METADATA").decode()
        has_entry_points = f"{info}/entry_points.txt" in files
        entry_points = archive.read(f"{info}/entry_points.txt").decode() if has_entry_points else ""
    assert "Version: 22." in metadata
    assert "Requires-Dist: tutor<23.0.0,>=22.0.0" in metadata
    assert "Requires-Python: >=3.10" in metadata
    # Every file of the package (templates and patches included) is shipped.
    expected = {
        path.relative_to(source).as_posix()
        for path in (source / f"tutor{name}").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected <= files
    return files, metadata, entry_points


@pytest.mark.parametrize("name", PLUGINS)
def test_wheel_holds_the_package_metadata_and_entry_point(name: str, tmp_path: Path) -> None:
    _, metadata, entry_points = build_wheel(name, tmp_path)
    assert f"[tutor.plugin.v1]\n{name} = tutor{name}.plugin" in entry_points
    # A plugin installed alone brings the shared library it imports.
    package = REPOSITORY / f"tutor-contrib-{name}" / f"tutor{name}"
    if any("tutorcommon" in path.read_text() for path in package.rglob("*.py")):
        assert "Requires-Dist: tutor-contrib-common<23.0.0,>=22.0.0" in metadata


def test_shared_library_wheel_is_no_plugin(tmp_path: Path) -> None:
    _, _, entry_points = build_wheel(SHARED, tmp_path)
    assert "tutor.plugin.v1" not in entry_points
