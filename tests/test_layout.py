"""
The layout the README describes: each plugin's plugin.py a short registration index, no module
too long to read whole, and the aspects plugin's contributions to each service plugin in a
module named after that plugin.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PLUGINS = ("clickhouse", "ralph", "superset", "aspects")
# Every package of the plugins' own code: the four plugins and the code they share.
PACKAGES = (*PLUGINS, "common")
MODULE_LINES = 600
# The xAPI statement generator is one long table of statement shapes, read as a whole.
LONG_MODULES = {"tutor-contrib-aspects/tutoraspects/job/xapi_generator.py"}
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
        assert lines(plugin) <= 250, f"{plugin.relative_to(REPOSITORY)} has {lines(plugin)} lines"


def lines(path: Path) -> int:
    return path.read_text(encoding="utf-8").count("\n")


def test_no_module_is_too_long_to_read_whole() -> None:
    modules = [path for name in PACKAGES for path in package(name).rglob("*.py")]
    assert len(modules) > len(PACKAGES), "the packages' modules were not found"
    too_long = {
        path.relative_to(REPOSITORY).as_posix(): lines(path)
        for path in modules
        if lines(path) > MODULE_LINES
    }
    assert set(too_long) <= LONG_MODULES, f"over {MODULE_LINES} lines: {too_long}"


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
