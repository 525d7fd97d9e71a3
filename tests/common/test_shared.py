"""The shared library (tutorcommon): value checks, the settings table, the guard, rendering."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from tutor import exceptions

from tutorcommon import checks
from tutorcommon.guard import ConfigGuard
from tutorcommon.rendering import compiled, render
from tutorcommon.settings import Setting, value_errors


@pytest.mark.parametrize(
    ("resource", "value", "expected"),
    [
        ("cpu", "500m", 500 / 1000),
        ("cpu", 2, 2.0),
        ("cpu", "1.5", 1.5),
        ("memory", "512Mi", 512 * 2**20),
        ("memory", "4Gi", 4 * 2**30),
        ("memory", "3k", 3 * 10**3),
        ("ephemeral-storage", "10G", 10 * 10**9),
        ("memory", "512m", 0),  # thousandths of a byte
        ("memory", True, 0),
        ("cpu", "lots", 0),
    ],
)
def test_quantity_reads_kubernetes_units(resource: str, value: object, expected: float) -> None:
    assert checks.quantity(resource, value) == pytest.approx(expected)


def test_kubernetes_resources_names_each_problem() -> None:
    key = "X_K8S_RESOURCES"
    good = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    assert list(checks.kubernetes_resources(key, good)) == []
    assert list(checks.kubernetes_resources(key, "1Gi")) == [
        f"{key} must be a mapping of requests and limits (cpu, memory), not '1Gi'"
    ]
    bad = {"requests": {"cpu": "0", "gpu": 1}, "limits": {"memory": "1Gi"}}
    assert list(checks.kubernetes_resources(key, bad)) == [
        f"{key} must set requests.memory",
        f"{key}: requests.cpu must be a number of cores or millicores (500m) above 0, not '0'",
        f"{key}: requests.gpu is not one of cpu, memory, ephemeral-storage",
    ]
    above = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "1Gi"}}
    assert list(checks.kubernetes_resources(key, above)) == [
        f"{key}: requests.memory 2Gi is above limits.memory 1Gi"
    ]


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (checks.port, [1, "8123", 65535], [0, 65536, "http", -1]),
        (checks.boolean, [True, False], ["yes", 1, None]),
        (checks.whole_number(1), [1, 8], [0, "3", True, 1.5]),
        (checks.whole_number(), [0, 3], [-1, "0"]),
        (checks.host, ["clickhouse", "a.b-c.io"], ["http://x", "a b", "x:80", "-x"]),
        (checks.public_host, ["lrs.example.com:8000"], ["https://x", "x/y"]),
        (checks.image, ["docker.io/a/b:1.0", "b@sha256:ab"], ["a b", "", "'x'"]),
        (checks.identifier, ["ch_admin", "_x"], ["ch admin", "1x", "a-b", ""]),
        (checks.sentry_dsn, ["", None, "https://k@sentry.io/12"], ["k@x/1", 'https://"@x/1']),
    ],
)
def test_each_check_accepts_good_values_and_names_the_key_and_value_of_bad_ones(
    check: checks.Check, good: list[object], bad: list[object]
) -> None:
    for value in good:
        assert list(check("MY_KEY", value)) == [], value
    for value in bad:
        [message] = check("MY_KEY", value)
        assert message.startswith("MY_KEY must be"), message
        # The value as the operator wrote it (ports are read as text).
        assert repr(value) in message or repr(str(value)) in message, message


def test_not_empty() -> None:
    assert list(checks.not_empty("K", "x")) == []
    assert list(checks.not_empty("K", None)) == ["K must not be empty"]


def test_matching_optional_says_empty_is_allowed() -> None:
    check = checks.matching(re.compile(r"^\d+$"), "digits", optional=True)
    assert list(check("K", "")) == []
    assert list(check("K", "x")) == ["K must be empty or digits, not 'x'"]


def test_value_errors_runs_each_rows_check_with_its_key() -> None:
    table = [
        Setting("A_PORT", 80, "a port", checks.port),
        Setting("A_NAME", "x", "no check"),
        Setting("A_FLAG", True, "a flag", checks.all_of(checks.boolean, checks.not_empty)),
    ]
    config = {"A_PORT": 0, "A_NAME": "", "A_FLAG": ""}
    assert list(value_errors(table, config)) == [
        "A_PORT must be a port number between 1 and 65535, not '0'",
        "A_FLAG must be true or false, not ''",
        "A_FLAG must not be empty",
    ]
    # A row reads as (name, default, description, check): the docs generator reads the first 3.
    assert tuple(table[0])[:3] == ("A_PORT", 80, "a port")


def test_guard_puts_config_yml_back_and_names_every_error(tmp_path: Path) -> None:
    config_yml = tmp_path / "config.yml"
    config_yml.write_bytes(b"A_PORT: 80\n")
    guard = ConfigGuard("Example", lambda config: checks.port("A_PORT", config["A_PORT"]))
    guard.remember(str(tmp_path))
    config_yml.write_bytes(b"A_PORT: 0\n")  # what `tutor config save --set` writes first
    guard.check({"A_PORT": 80})  # a good value changes nothing
    assert config_yml.read_bytes() == b"A_PORT: 0\n"
    with pytest.raises(exceptions.TutorError) as error:
        guard.check({"A_PORT": 0})
    assert str(error.value) == (
        "Invalid Example configuration (config.yml is left as it was):\n"
        "- A_PORT must be a port number between 1 and 65535, not '0'"
    )
    assert config_yml.read_bytes() == b"A_PORT: 80\n"


def test_guard_forgets_a_config_yml_that_a_later_root_does_not_have(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.yml").write_bytes(b"old")
    (tmp_path / "new").mkdir()
    guard = ConfigGuard("Example", lambda config: ["bad"])
    guard.remember(str(tmp_path / "old"))
    guard.remember(str(tmp_path / "new"))
    (tmp_path / "old" / "config.yml").write_bytes(b"changed")
    with pytest.raises(exceptions.TutorError):
        guard.check({})
    assert (tmp_path / "old" / "config.yml").read_bytes() == b"changed"


def test_render_renders_the_strings_of_a_nested_item_in_the_template_context() -> None:
    environment = jinja2.Environment()

    @jinja2.pass_context
    def rendered(context: jinja2.runtime.Context) -> object:
        item = ("{{ NAME }}", {"scopes": ["{{ SCOPE }}", 3]}, None)
        return render(context, item)

    template = environment.from_string("{{ rendered() }}")
    output = template.render(rendered=rendered, NAME="lms", SCOPE="all")
    assert output == str(["lms", {"scopes": ["all", 3]}, None])
    assert compiled(environment, "{{ X }}") is compiled(environment, "{{ X }}")
