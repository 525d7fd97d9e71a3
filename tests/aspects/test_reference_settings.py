"""
A config.yml written for the reference plugin (tutor-contrib-aspects 6.1.0): every one of its
settings and patch names has a fate here, and `tutor config save` keeps every value it can.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.harness.tutor import TutorRoot
from tutoraspects import reference

REPOSITORY = Path(__file__).resolve().parents[2]
ALL_PLUGINS = ["aspects", "clickhouse", "ralph", "superset"]
# pip's messages when the package index cannot be reached at all.
UNREACHABLE = re.compile(
    r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
    r"Failed to establish a new connection|ProxyError"
)


def test_the_list_of_reference_settings_is_the_released_wheels() -> None:
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "tools" / "reference_settings.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode and UNREACHABLE.search(result.stderr):
        pytest.skip("the package index is unreachable: " + result.stderr[-300:])
    assert result.returncode == 0, result.stderr


def test_every_reference_setting_has_one_fate() -> None:
    listed = [setting["name"] for setting in reference.snapshot()["settings"]]
    table = [setting.name for setting in reference.SETTINGS]
    assert len(table) == len(set(table)), "a setting is in the table twice"
    assert sorted(table) == sorted(listed)
    assert len(listed) == 150
    for setting in reference.SETTINGS:
        assert setting.fate in (reference.READ, reference.TRANSLATED, reference.UNUSED)
        if setting.fate == reference.UNUSED:
            assert setting.says, f"{setting.name}: say what replaces it"
        if setting.fate == reference.TRANSLATED:
            assert setting.into and setting.carry, setting.name


def registered_settings() -> dict[str, str]:
    """Every setting of the four plugins, with the plugin that registers it."""
    code = textwrap.dedent(
        """
        import json
        from tutor import hooks, plugins
        hooks.Actions.CORE_READY.do()
        owners = {}
        for name in ("clickhouse", "ralph", "superset", "aspects"):
            plugins.load(name)
            context = hooks.Contexts.app(name).name
            for hook in (hooks.Filters.CONFIG_DEFAULTS, hooks.Filters.CONFIG_UNIQUE,
                         hooks.Filters.CONFIG_OVERRIDES):
                owners.update({key: name for key, _ in hook.iterate_from_context(context)})
        print(json.dumps(owners))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_table_agrees_with_the_plugins_settings() -> None:
    owners = registered_settings()
    for setting in reference.SETTINGS:
        if setting.fate == reference.READ:
            assert owners.get(setting.name) == setting.plugin, setting.name
        elif setting.fate == reference.TRANSLATED:
            assert setting.name not in owners, f"{setting.name} is read here: not translated"
            for name in setting.into:
                assert owners.get(name) == setting.plugin, f"{setting.name} -> {name}"
        else:
            assert setting.name not in owners, f"{setting.name} is read here: not unused"


def test_every_reference_patch_has_one_fate() -> None:
    assert sorted(p.name for p in reference.PATCHES) == reference.snapshot()["patches"]
    for patch in reference.PATCHES:
        if not patch.into:
            assert patch.says, patch.name
            continue
        templates = REPOSITORY / f"tutor-contrib-{patch.plugin}" / f"tutor{patch.plugin}"
        rendered = "".join(
            path.read_text(encoding="utf-8")
            for path in (templates / "templates").rglob("*")
            if path.is_file()
        )
        assert f'patch("{patch.into}")' in rendered, f"{patch.plugin} renders no {patch.into}"


# A config.yml as the reference left it: custom values, the reference's generated secrets
# (some for users that do not exist here) and settings that mean nothing here.
SECRETS = {
    "CLICKHOUSE_ADMIN_PASSWORD": "Adm1nSecretOfTheReference",
    "ASPECTS_CLICKHOUSE_REPORT_PASSWORD": "Rep0rtSecretOfTheReference",
    "ASPECTS_CLICKHOUSE_VECTOR_PASSWORD": "VectorSecretOfTheReference",
    "SUPERSET_SECRET_KEY": "SupersetSecretOfTheReference",
    "RALPH_LMS_PASSWORD": "RalphLmsSecretOfTheReference",
    "ASPECTS_XAPI_S3_SECRET_KEY": "S3SecretOfTheReference",
}
REFERENCE_CONFIG = {
    "PLUGINS": ALL_PLUGINS,
    **SECRETS,
    "CLICKHOUSE_HOST": "clickhouse.example.org",
    "CLICKHOUSE_SECURE_CONNECTION": False,
    "CLICKHOUSE_INTERNAL_HTTP_PORT": "8124",
    "CLICKHOUSE_INTERNAL_TLS_HTTP_PORT": "443",
    "CLICKHOUSE_HOST_INSECURE_HTTP_PORT": "18123",
    "CLICKHOUSE_REPORT_SQLALCHEMY_URI": "clickhousedb+connect://ch_report:"
    + SECRETS["ASPECTS_CLICKHOUSE_REPORT_PASSWORD"]
    + "@clickhouse.example.org:8124/xapi",
    "RALPH_HOST": "lrs.internal",
    "RALPH_DATABASE": "statements",
    "SUPERSET_DB_METADATA_NAME": "superset_meta",
    "SUPERSET_USER_PERMISSIONS_CACHE_TIMEOUT": 60,
    "RUN_VECTOR": False,
    "SUPERSET_BLOCK_STUDENT_ACCESS": True,
    # Generated by the reference, never chosen: not worth a warning.
    "ASPECTS_CLICKHOUSE_VECTOR_USER": "ch_vector",
    "ASPECTS_XAPI_S3_ACCESS_KEY": "",
}
CARRIED = {
    "CLICKHOUSE_HTTP_PORT": ("CLICKHOUSE_INTERNAL_HTTP_PORT", 8124),
    "CLICKHOUSE_HTTPS_PORT": ("CLICKHOUSE_INTERNAL_TLS_HTTP_PORT", 443),
    "ASPECTS_XAPI_DATABASE": ("RALPH_DATABASE", "statements"),
    "SUPERSET_DB_NAME": ("SUPERSET_DB_METADATA_NAME", "superset_meta"),
    "SUPERSET_USER_COURSES_CACHE_TIMEOUT": ("SUPERSET_USER_PERMISSIONS_CACHE_TIMEOUT", 60),
}
UNUSED = {
    "CLICKHOUSE_HOST_INSECURE_HTTP_PORT": "docker-compose.override.yml",
    "CLICKHOUSE_REPORT_SQLALCHEMY_URI": "ASPECTS_CLICKHOUSE_REPORT_USER",
    "ASPECTS_CLICKHOUSE_VECTOR_PASSWORD": "Vector",
    "ASPECTS_XAPI_S3_SECRET_KEY": "Vector",
    "RUN_VECTOR": "Ralph",
    "SUPERSET_BLOCK_STUDENT_ACCESS": "SUPERSET_COURSE_STAFF_ROLE",
}


def reference_root(path: Path, config: dict, plugins_root: Path | None = None) -> TutorRoot:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return TutorRoot(path, plugins_root)


NOTICE = "of tutor-contrib-aspects 6.x is "


def messages(output: str, marker: str) -> list[str]:
    return [line for line in output.splitlines() if marker in line]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[TutorRoot, str, str]:
    root = reference_root(tmp_path_factory.mktemp("reference-root"), REFERENCE_CONFIG)
    first = root.run("config", "save")
    second = root.run("config", "save")
    return root, first.stdout + first.stderr, second.stdout + second.stderr


def test_config_save_keeps_every_value(saved) -> None:
    root, _, _ = saved
    config = root.config()
    for name, value in REFERENCE_CONFIG.items():
        if name != "PLUGINS":
            assert config[name] == value, f"{name} was not kept in config.yml"
    for name, (_, value) in CARRIED.items():
        assert config[name] == value, f"{name} did not get its reference value"
    loaded = root.loaded_config()
    assert loaded["CLICKHOUSE_PORT"] == "8124"
    ralph = root.compose_config()["services"]["ralph"]["environment"]
    assert ralph["RALPH_BACKENDS__LRS__CLICKHOUSE__HOST"] == "clickhouse.example.org"
    assert ralph["RALPH_BACKENDS__LRS__CLICKHOUSE__PORT"] == "8124"
    assert ralph["RALPH_BACKENDS__LRS__CLICKHOUSE__DATABASE"] == "statements"


def test_config_save_names_each_new_setting_once(saved) -> None:
    _, first, second = saved
    notices = messages(first, NOTICE)
    assert len(notices) == len(CARRIED), notices
    for name, (old, _) in CARRIED.items():
        plugin = next(s.plugin for s in reference.SETTINGS if s.name == old)
        assert any(
            line.startswith(old) and f"is {name} here ({plugin} plugin)" in line for line in notices
        ), f"no notice for {old} -> {name}"
    # Saved once, carried once.
    assert not messages(second, NOTICE)


def test_config_save_warns_of_each_unused_setting_set(saved) -> None:
    _, first, second = saved
    for output in (first, second):
        warnings = messages(output, "is not used here")
        assert sorted(line.split()[1] for line in warnings) == sorted(UNUSED)
        for name, replacement in UNUSED.items():
            [line] = [line for line in warnings if line.split()[1] == name]
            assert replacement in line, line


def test_config_save_never_prints_a_secret(saved) -> None:
    _, first, second = saved
    for secret in SECRETS.values():
        assert secret not in first + second


def test_a_value_already_set_wins_over_the_reference_name(tmp_path: Path) -> None:
    config = {
        **REFERENCE_CONFIG,
        "CLICKHOUSE_HTTP_PORT": 9123,
        "CLICKHOUSE_URL": "clickhouse.example.org:not-a-port",
    }
    root = reference_root(tmp_path, config)
    result = root.run("config", "save")
    output = result.stdout + result.stderr
    assert root.config()["CLICKHOUSE_HTTP_PORT"] == 9123
    assert root.config()["CLICKHOUSE_URL"] == config["CLICKHOUSE_URL"]
    [conflict] = messages(output, "is not carried over to CLICKHOUSE_HTTP_PORT")
    assert conflict.split()[1] == "CLICKHOUSE_INTERNAL_HTTP_PORT"
    [unparsed] = messages(output, "CLICKHOUSE_URL could not be carried over")
    assert "CLICKHOUSE_HOST" in unparsed


def test_a_fresh_root_hears_nothing_of_the_reference(tmp_path: Path) -> None:
    root = TutorRoot(tmp_path)
    root.run("plugins", "enable", *ALL_PLUGINS)
    result = root.run("config", "save")
    assert "tutor-contrib-aspects 6" not in result.stdout + result.stderr
    assert "is not used here" not in result.stdout + result.stderr


OPERATOR_PLUGIN = """
from tutor import hooks

hooks.Filters.ENV_PATCHES.add_items([
    ("clickhouse-user-config", "<profiles><ro><readonly>1</readonly></ro></profiles>"),
    ("superset-extra-assets", "assets: []"),
])
"""


def test_reference_patch_names_of_an_operator_plugin(tmp_path: Path) -> None:
    plugins_root = tmp_path / "plugins"
    plugins_root.mkdir()
    (plugins_root / "myanalytics.py").write_text(OPERATOR_PLUGIN, encoding="utf-8")
    root = reference_root(tmp_path / "root", {"PLUGINS": ALL_PLUGINS}, plugins_root)
    root.run("plugins", "enable", "myanalytics")
    result = root.run("config", "save")
    output = result.stdout + result.stderr
    # Honoured: the reference's users.d content has the same place here, under another name.
    users = root.env_file("plugins", "clickhouse", "apps", "config", "users.xml")
    assert "<ro><readonly>1</readonly></ro>" in users
    [renamed] = messages(output, "clickhouse-user-config")
    assert "myanalytics" in renamed and "clickhouse-users-config" in renamed
    # Not rendered here: a warning naming what replaces it.
    [warning] = messages(output, "superset-extra-assets")
    assert "myanalytics" in warning and "tutorsuperset.hooks.ASSETS" in warning
