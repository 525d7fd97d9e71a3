"""Documentation generated from the code must match the code."""

import subprocess
import sys
from pathlib import Path

from tests.test_packaging import PLUGINS, SHARED

REPOSITORY = Path(__file__).resolve().parent.parent


def test_configuration_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "tools" / "generate_config_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_upgrade_guide_lists_every_reference_setting_as_the_table_says() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "tools" / "generate_upgrade_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_plugin_readme_carries_its_configuration_section() -> None:
    # The shared library is no plugin and has no settings.
    folders = {path.name for path in REPOSITORY.glob("tutor-contrib-*")}
    assert folders == {f"tutor-contrib-{name}" for name in [*PLUGINS, SHARED]}
    for name in PLUGINS:
        readme = REPOSITORY / f"tutor-contrib-{name}" / "README.md"
        text = readme.read_text(encoding="utf-8")
        assert "<!-- configuration:start -->" in text, readme
