"""Each plugin builds into a wheel that Tutor 22 can install and discover."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]


@pytest.mark.parametrize("name", PLUGINS)
def test_wheel_holds_the_package_metadata_and_entry_point(name: str, tmp_path: Path) -> None:
    source = REPOSITORY / f"tutor-contrib-{name}"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        info = next(f for f in files if f.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "Version: 22." in metadata
    assert "Requires-Dist: tutor<23.0.0,>=22.0.0" in metadata
    assert "Requires-Python: >=3.10" in metadata
    assert f"[tutor.plugin.v1]\n{name} = tutor{name}.plugin" in entry_points
    # Every file of the package (templates and patches included) is shipped.
    package = source / f"tutor{name}"
    expected = {
        path.relative_to(source).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected <= files
