"""
The layout the README describes: each plugin's plugin.py a short registration index, and the
aspects plugin's contributions to each service plugin in a module named after that plugin.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PLUGINS = ("clickhouse", "ralph", "superset", "aspects")
SERVICE_PLUGINS = ("clickhouse", "ralph", "superset")
# Service plugin -> the aspects modules that use its hooks. The dashboards' embedding in the LMS
# has a module of its own beside superset.py.
CONTRIBUTING_MODULES = {
    "clickhouse": {"clickhouse"},
    "ralph": {"ralph"},
    "superset": {"superset", "embedding"},
}


def package(name: str) -> Path:
    return REPOSITORY / f"tutor-contrib-{name}" / f"tutor{name}"


def test_each_plugin_py_is_a_short_registration_index() -> None:
    for name in PLUGINS:
        plugin = package(name) / "plugin.py"
        lines = plugin.read_text(encoding="utf-8").count("\n")
        assert lines <= 250, f"{plugin.relative_to(REPOSITORY)} has {lines} lines"


def imported_modules(path: Path) -> set[str]:
    """The modules that `path` imports from (absolute imports)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_aspects_gives_each_service_plugin_its_due_from_one_module() -> None:
    importers: dict[str, set[str]] = {plugin: set() for plugin in SERVICE_PLUGINS}
    for path in package("aspects").glob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top.startswith("tutor") and top[len("tutor") :] in importers:
                importers[top[len("tutor") :]].add(path.stem)
                # Only the plugin's extension points, never its plugin module (its settings).
                assert module == f"{top}.hooks", f"{path.name} imports {module}"
    assert importers == CONTRIBUTING_MODULES
