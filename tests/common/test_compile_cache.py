"""The compile cache of Tutor's templates (tutorcommon.compile_cache), with Tutor's own renderer."""

from __future__ import annotations

import typing as t
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from tutor import env as tutor_env
from tutor import exceptions

from tutorcommon import compile_cache

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
    monkeypatch.delenv(compile_cache.DISABLE, raising=False)
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
    assert sorted(compiles) == sorted(TEXTS)
    # A new process: its memory empty, the disk as the first one left it.
    monkeypatch.setattr(compile_cache, "_memory", {})
    compiles.clear()
    assert render(TEXTS[0]) == "lms.example.com:8000"
    for text in TEXTS:
        render(text)
    plain = [text for text in TEXTS if "{" not in text]
    assert sorted(compiles) == sorted(plain)
    # A template file, through Tutor's loader, is cached too.
    compiles.clear()
    tutor_env.Renderer(CONFIG).environment.get_template("apps/openedx/config/lms.env.yml")
    assert len(compiles) == 1
    monkeypatch.setattr(compile_cache, "_memory", {})
    compiles.clear()
    tutor_env.Renderer(CONFIG).environment.get_template("apps/openedx/config/lms.env.yml")
    assert compiles == []


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


def test_the_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compile_cache.DISABLE, "0")
    compile_cache.install()
    assert "compile" not in vars(tutor_env.JinjaEnvironment)
