"""
Tutor compiles every template, patch and configuration value anew on each command, and some
texts several times in one (each configuration value once per pass over the configuration,
each patch once per template that includes it): with the Aspects plugins' templates, patches and
settings, compiling is about half of `tutor config save`. This cache keeps the Python code that
Jinja compiles, keyed by all that the code depends on: in memory for the rest of the command,
and on disk for the next commands, so that a command compiles only the texts that changed.

What reaches the disk is the compiled code of texts that hold Jinja markup (templates, patches,
values such as "{{ LMS_HOST }}:8000"); a plain value, such as a generated password, is made
from a compiled placeholder in memory, never written. Code is compiled with filters and tests
that refuse to run, so that no result of one (a random string) is kept in it. The directory is
the user's (``$XDG_CACHE_HOME``, else ``~/.cache``), private to them (0700), one folder per
format of the cache, Jinja release and Python version; nothing breaks when it cannot be
written, or when it is deleted.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import re
import sys
import tempfile
import types
import typing as t
from pathlib import Path

import jinja2
from tutor import env as tutor_env

FORMAT = 2
_compile = jinja2.Environment.compile
_memory: dict[str, types.CodeType] = {}
# What a text without markup compiles to is the same code but for the text it yields: the code
# of this one, with the text in its place.
PLACEHOLDER = "\x00tutorcommon: a text without markup\x00"
NEWLINE = re.compile(r"\r\n|\r|\n")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return _cache_dir(base)


@functools.cache
def _cache_dir(base: str) -> Path:
    # The format of what is kept, Jinja's release and Python's: a change of any, a new folder.
    version = f"v{FORMAT}-jinja-{jinja2.__version__}-{sys.implementation.cache_tag}"
    return Path(base, "tutor-contrib-common", version)


def _options(environment: jinja2.Environment) -> tuple[t.Any, ...]:
    """What, besides its source, the code Jinja generates depends on."""
    return (
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        environment.is_async,
        environment.finalize is not None,
        repr(environment.autoescape),
        tuple(sorted(environment.extensions)),
    )


def _has_markup(environment: jinja2.Environment, source: str) -> bool:
    starts = (
        environment.block_start_string,
        environment.variable_start_string,
        environment.comment_start_string,
    )
    return any(start in source for start in starts)


def _plain_text(environment: jinja2.Environment, source: str) -> str | None:
    """
    What a template of `source` yields, if it is plain text that Jinja's lexer only changes
    by its newlines (one final newline dropped, the others made newline_sequence); else None.
    """
    if (
        _has_markup(environment, source)
        or environment.line_statement_prefix is not None
        or environment.line_comment_prefix is not None
        or environment.autoescape is not False
        or environment.finalize is not None
        or environment.is_async
    ):
        return None
    lines = NEWLINE.split(source)
    if not environment.keep_trailing_newline and lines[-1] == "":
        del lines[-1]
    text = environment.newline_sequence.join(lines)
    return text if text and PLACEHOLDER not in text else None


def _with_text(code: types.CodeType, text: str) -> types.CodeType:
    constants = tuple(
        text
        if constant == PLACEHOLDER
        else _with_text(constant, text)
        if isinstance(constant, types.CodeType)
        else constant
        for constant in code.co_consts
    )
    return code.replace(co_consts=constants)


def _read(path: Path) -> types.CodeType | None:
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def write(path: Path, data: bytes) -> None:
    """A file of the cache folder written, if it can be: <cache_dir>/<folder>/<name>."""
    try:
        # The folder of this cache private (its parents are made with the default mode).
        path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        # Written aside then renamed: a command reading at the same time sees all or nothing.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
            temporary.write(data)
        os.replace(temporary.name, path)
    except OSError:
        pass


def _refused(function: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """A filter or test as the compiler sees it: callable the same way, never called."""

    def refuse(*_args: t.Any, **_kwargs: t.Any) -> t.Any:
        raise RuntimeError("run when the template renders, not when it compiles")

    if hasattr(function, "jinja_pass_arg"):
        refuse.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return refuse


def _compiling_environment(environment: jinja2.Environment) -> jinja2.Environment:
    """
    The environment to compile in: Jinja calls a filter or test with constant arguments while
    it compiles (constant folding) and writes the result into the code, so that cached code
    would keep it: `{{ 12|random_string }}` would give every setting the same secret. Here
    they refuse to run, which Jinja takes as "not a constant"; the code calls them when the
    template renders, from the environment it renders in.
    """
    compiling = environment.overlay()
    compiling.filters = {name: _refused(f) for name, f in environment.filters.items()}
    compiling.tests = {name: _refused(f) for name, f in environment.tests.items()}
    return compiling


def _callables(environment: jinja2.Environment) -> str:
    """The names and calling conventions of the filters and tests, which the code depends on."""
    names = (tuple(environment.filters), tuple(environment.tests))
    if (digest := _signatures.get(names)) is None:
        # Once per set of names in a process: a name keeps its function's calling convention.
        signature = repr(
            [
                sorted((name, str(getattr(f, "jinja_pass_arg", ""))) for name, f in kind.items())
                for kind in (environment.filters, environment.tests)
            ]
        )
        digest = _signatures[names] = hashlib.sha256(signature.encode()).hexdigest()
    return digest


_signatures: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}


@jinja2.utils.internalcode
def cached_compile(
    self: jinja2.Environment,
    source: t.Any,
    name: str | None = None,
    filename: str | None = None,
    raw: bool = False,
    defer_init: bool = False,
) -> t.Any:
    """jinja2.Environment.compile, through the cache for template sources."""
    if raw or not isinstance(source, str):
        return _compile(self, source, name, filename, raw, defer_init)
    context = repr((_options(self), _callables(self), name, filename, defer_init)).encode()
    key = hashlib.sha256(context + b"\0" + source.encode("utf-8", "surrogatepass")).hexdigest()
    code = _memory.get(key)
    if code is None and name is None and filename is None:
        text = _plain_text(self, source)
        if text is not None:
            code = _memory[key] = _with_text(
                cached_compile(self, PLACEHOLDER, None, None, False, defer_init), text
            )
    if code is None:
        on_disk = _has_markup(self, source)
        path = cache_dir() / key[:2] / key
        code = _read(path) if on_disk else None
        if code is None:
            # A syntax error raises here, as without the cache, and nothing is kept.
            code = _compile(_compiling_environment(self), source, name, filename, raw, defer_init)
            if on_disk:
                write(path, marshal.dumps(code))
        _memory[key] = code
    return code


def install() -> None:
    """Compile Tutor's templates through the cache (once, whichever plugin asks first)."""
    # Tutor's own environment class only: other Jinja users in the process are untouched.
    tutor_env.JinjaEnvironment.compile = cached_compile  # type: ignore[method-assign]
