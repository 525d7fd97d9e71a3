"""
The speed-ups of Tutor's rendering (tutorcommon.speedups): the compile cache and the
configuration copy, with Tutor's own renderer; what it renders must not change.
"""

from __future__ import annotations

import copy
import typing as t
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tutor import config as tutor_config
from tutor import env as tutor_env
from tutor import exceptions, utils

from tutorcommon import compile_cache, speedups

CONFIG = {"LMS_HOST": "lms.example.com", "PORT": 8000, "NAMES": ["a", "b"]}
TEXTS = [
    "{{ LMS_HOST }}:{{ PORT }}",
    "{% for name in NAMES %}{{ name|upper }}{% endfor %}\n",
    "{# a comment #}plain after a comment",
    "no markup at all\n",
    "",
]


@pytest.fixture
def compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The cache installed, in a directory of the test's; yields the texts Jinja compiled."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    compiled: list[str] = []
    real = compile_cache._compile

    def counted(self: jinja2.Environment, source: t.Any, *args: t.Any) -> t.Any:
        compiled.append(source)
        return real(self, source, *args)

    monkeypatch.setattr(compile_cache, "_compile", counted)
    monkeypatch.setattr(compile_cache, "_memory", {})
    compile_cache.install()
    try:
        yield compiled
    finally:
        del tutor_env.JinjaEnvironment.compile


def render(text: str) -> str:
    return tutor_env.Renderer(CONFIG).render_str(text)


def test_rendering_is_the_same_with_the_cache(compiles: list[str]) -> None:
    expected = {text: jinja2.Environment().from_string(text).render(**CONFIG) for text in TEXTS}
    assert [render(text) for text in TEXTS] == [expected[text] for text in TEXTS]
    assert render(TEXTS[1]) == "AB"
    # Again, now from the cache: the same output, nothing compiled anew.
    compiles.clear()
    assert [render(text) for text in TEXTS] == [expected[text] for text in TEXTS]
    assert compiles == []


def test_a_later_command_reads_the_code_of_texts_with_markup_from_disk(
    compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for text in TEXTS:
        render(text)
    # Texts with markup and the empty one compiled; the plain one made from the placeholder's.
    markup = [text for text in TEXTS if "{" in text]
    assert sorted(compiles) == sorted([*markup, "", compile_cache.PLACEHOLDER])
    # A new process: its memory empty, the disk as the first one left it.
    monkeypatch.setattr(compile_cache, "_memory", {})
    compiles.clear()
    assert render(TEXTS[0]) == "lms.example.com:8000"
    for text in TEXTS:
        render(text)
    assert sorted(compiles) == ["", compile_cache.PLACEHOLDER]
    # A template file, through Tutor's loader, is cached too.
    compiles.clear()
    tutor_env.Renderer(CONFIG).environment.get_template("apps/openedx/config/lms.env.yml")
    assert len(compiles) == 1
    monkeypatch.setattr(compile_cache, "_memory", {})
    compiles.clear()
    tutor_env.Renderer(CONFIG).environment.get_template("apps/openedx/config/lms.env.yml")
    assert compiles == []


# Texts without markup, with every kind of newline, quotes, backslashes and other scripts.
plain_texts = st.text(
    alphabet=st.sampled_from(
        ["a", "Z", "0", " ", "\n", "\r", "'", '"', "\\", "é", "{", "}", "%", "#"]
    ),
    max_size=40,
).filter(lambda text: not any(start in text for start in ("{{", "{%", "{#")))


@settings(max_examples=300, deadline=None)
@given(
    text=plain_texts, keep_trailing_newline=st.booleans(), newline=st.sampled_from(["\n", "\r\n"])
)
def test_a_plain_text_renders_as_jinja_renders_it(
    text: str, keep_trailing_newline: bool, newline: str
) -> None:
    options = {"keep_trailing_newline": keep_trailing_newline, "newline_sequence": newline}
    expected = jinja2.Environment(**options).from_string(text).render()
    environment = jinja2.Environment(**options)
    code = compile_cache.cached_compile(environment, text)
    assert jinja2.Template.from_code(environment, code, {}).render() == expected


def test_generated_secrets_differ_with_the_cache(
    compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Jinja calls a filter with constant arguments while compiling: the cached code must call
    it when it renders instead, or every `{{ 12|random_string }}` setting gets one secret.
    """
    secrets = [render("{{ 24|random_string }}") for _ in range(3)]
    monkeypatch.setattr(compile_cache, "_memory", {})  # a later command: from the disk
    secrets += [render("{{ 24|random_string }}") for _ in range(3)]
    assert len(set(secrets)) == 6, secrets
    assert all(len(secret) == 24 for secret in secrets)


def test_a_filter_runs_when_the_template_renders(compiles: list[str]) -> None:
    calls: list[int] = []

    def counted(value: int) -> str:
        calls.append(value)
        return f"call {len(calls)}"

    environment = jinja2.Environment()
    environment.filters["counted"] = counted
    rendered = [
        jinja2.Template.from_code(
            environment, compile_cache.cached_compile(environment, "{{ 7|counted }}"), {}
        ).render()
        for _ in range(2)
    ]
    assert rendered == ["call 1", "call 2"] and calls == [7, 7]
    assert [render("{{ 'x' is string }}"), render("{{ 3 is divisibleby 2 }}")] == ["True", "False"]


def test_plain_values_such_as_passwords_never_reach_the_disk(compiles: list[str]) -> None:
    secret = "Zq8pV2mLr7XcN4tK"
    assert render(secret) == secret
    assert render("mysql://root:{{ LMS_HOST }}@db") == "mysql://root:lms.example.com@db"
    files = [path for path in compile_cache.cache_dir().rglob("*") if path.is_file()]
    assert len(files) == 1
    assert all(secret.encode() not in path.read_bytes() for path in files)
    assert compile_cache.cache_dir().stat().st_mode & 0o077 == 0


def test_a_damaged_or_unwritable_cache_is_compiled_around(
    compiles: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    render(TEXTS[0])
    [path] = [path for path in compile_cache.cache_dir().rglob("*") if path.is_file()]
    path.write_bytes(b"not marshalled code")
    monkeypatch.setattr(compile_cache, "_memory", {})
    compiles.clear()
    assert render(TEXTS[0]) == "lms.example.com:8000"
    assert compiles == [TEXTS[0]]
    # Rewritten: the next process reads it again.
    monkeypatch.setattr(compile_cache, "_memory", {})
    compiles.clear()
    render(TEXTS[0])
    assert compiles == []
    # A cache directory that cannot be created: compiled, not cached, no error.
    blocker = compile_cache.cache_dir().parent.parent / "blocked"
    blocker.write_text("a file where the directory would go", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(compile_cache, "_memory", {})
    assert render(TEXTS[1]) == "AB"


def test_a_syntax_error_is_reported_as_without_the_cache(compiles: list[str]) -> None:
    with pytest.raises(exceptions.TutorError, match="Template syntax error"):
        render("{{ LMS_HOST ")
    assert not any(path.is_file() for path in compile_cache.cache_dir().rglob("*"))


# Configuration data as YAML gives it: nested dicts and lists of scalars.
config_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=30,
)


def containers(value: t.Any) -> list[t.Any]:
    """Every dict and list in a value, itself included."""
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in containers(item))]
    if isinstance(value, list):
        return [value, *(c for item in value for c in containers(item))]
    return []


@settings(max_examples=300, deadline=None)
@given(value=config_data)
def test_the_configuration_copy_is_a_deep_copy(value: t.Any) -> None:
    copied = speedups.config_copy(value)
    assert copied == value
    # No container shared with the original: changing the copy leaves it as it was.
    originals = {id(container) for container in containers(value)}
    assert not originals & {id(container) for container in containers(copied)}


def test_other_values_are_copied_by_deepcopy() -> None:
    value = {"when": {1, 2}, "pair": (1, [2])}
    copied = speedups.config_copy(value)
    assert copied == value
    assert copied["when"] is not value["when"]
    assert copied["pair"][1] is not value["pair"][1]


def test_tutor_renders_its_whole_configuration_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tutor's default configuration, every value a template, rendered without then with them."""
    # The base settings (generated secrets among them) given fixed values.
    base = {key: f"value of {key}" for key in tutor_config.get_base()}
    config = {**base, **tutor_config.get_defaults(), **CONFIG}
    expected = copy.deepcopy(config)
    tutor_config.render_full(expected)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(compile_cache, "_memory", {})
    monkeypatch.setattr(tutor_env, "deepcopy", tutor_env.deepcopy)  # put back afterwards
    speedups.install()
    try:
        assert tutor_env.deepcopy is speedups.config_copy
        for _ in range(2):  # compiled, then from the cache
            rendered = copy.deepcopy(config)
            tutor_config.render_full(rendered)
            assert rendered == expected
    finally:
        del tutor_env.JinjaEnvironment.compile


def test_the_speedups_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(speedups.DISABLE, "0")
    speedups.install()
    assert "compile" not in vars(tutor_env.JinjaEnvironment)
    assert tutor_env.deepcopy is copy.deepcopy


def test_json_derived_from_files_is_computed_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(speedups.DISABLE, raising=False)
    computed: list[bytes] = []

    def derive(key: bytes) -> t.Any:
        def compute() -> t.Any:
            computed.append(key)
            return {"key": key.decode(), "items": [1, "two", None, True]}

        return speedups.cached_json("test", key, compute)

    first = derive(b"content A")
    assert derive(b"content A") == first == {"key": "content A", "items": [1, "two", None, True]}
    assert derive(b"content B")["key"] == "content B"
    assert computed == [b"content A", b"content B"]
    # A damaged file is computed again; with the speed-ups off, always computed.
    for path in (compile_cache.cache_dir() / "test").iterdir():
        path.write_bytes(b"{not json")
    assert derive(b"content A") == first
    monkeypatch.setenv(speedups.DISABLE, "0")
    derive(b"content A")
    assert computed == [b"content A", b"content B", b"content A", b"content A"]


@pytest.mark.parametrize("pii", [False, True])
def test_the_aspects_datasets_from_the_cache_are_those_parsed(
    pii: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutoraspects import grants

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # The settings as placeholders, as the plugin has them.
    root = str(grants.DATASETS.parent.parent)
    parsed = [
        (
            path.name,
            yaml.safe_load(
                grants._dataset_template(root, path.read_text()).render({grants.PII_SETTING: pii})
            ),
        )
        for path in sorted(grants.DATASETS.rglob("*.yaml"))
    ]
    assert list(grants.bundle_datasets(pii=pii)) == parsed  # computed
    assert list(grants.bundle_datasets(pii=pii)) == parsed  # from the cache
    assert any(tmp_path.rglob("*")), "nothing cached"


def test_an_rsa_key_is_imported_once_and_renders_as_tutor_renders_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pem = utils.rsa_private_key(2048)
    template = "{{ (KEY|rsa_import_key).publickey().export_key().decode() }}"
    expected = tutor_env.Renderer({"KEY": pem}).render_str(template)
    monkeypatch.setattr(tutor_env, "deepcopy", tutor_env.deepcopy)  # put back afterwards
    monkeypatch.setattr(tutor_env, "save", tutor_env.save)
    speedups.rsa_import_key.cache_clear()
    speedups.install()
    try:
        # The filter is called directly, then from two renderers: one import.
        assert speedups.rsa_import_key(pem) is speedups.rsa_import_key(pem)
        for _ in range(2):
            assert tutor_env.Renderer({"KEY": pem}).render_str(template) == expected
        assert speedups.rsa_import_key.cache_info().misses == 1
    finally:
        del tutor_env.JinjaEnvironment.compile


def test_a_save_lists_the_templates_once_and_writes_what_tutor_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed: list[tuple[str, ...]] = []
    real = jinja2.FileSystemLoader.list_templates

    def counted(loader: jinja2.FileSystemLoader) -> list[str]:
        listed.append(tuple(loader.searchpath))
        return real(loader)

    monkeypatch.setattr(jinja2.FileSystemLoader, "list_templates", counted)
    base = {key: f"value of {key}" for key in tutor_config.get_base()}
    base["JWT_RSA_PRIVATE_KEY"] = utils.rsa_private_key(2048)
    config = {**base, **tutor_config.get_defaults()}
    tutor_config.render_full(config)

    def save(root: str, config: dict[str, t.Any]) -> None:
        """What tutor.env.save does for two of its targets."""
        for target in ("apps", "k8s"):
            tutor_env.save_all_from(target, str(Path(root, target)), config)

    save(str(tmp_path / "plain"), config)
    assert len(listed) == 2  # one listing per target, without the speed-up
    listed.clear()
    speedups.listing_once(save)(str(tmp_path / "faster"), config)
    assert len(listed) == 1
    assert jinja2.FileSystemLoader.list_templates is counted  # put back after the save
    written = {
        folder: {
            path.relative_to(tmp_path / folder): path.read_bytes()
            for path in (tmp_path / folder).rglob("*")
            if path.is_file()
        }
        for folder in ("plain", "faster")
    }
    assert written["plain"] == written["faster"] != {}
