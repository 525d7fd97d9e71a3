"""Render values that plugins and hooks hold (Tutor templates) in the template context."""

from __future__ import annotations

import functools
import typing as t

import jinja2


@functools.cache
def compiled(environment: jinja2.Environment, text: str) -> jinja2.Template:
    """A value compiled once per rendering: several templates render the same values."""
    return environment.from_string(text)


def render(context: jinja2.runtime.Context, value: t.Any) -> t.Any:
    """
    The strings of a (nested) value rendered as Tutor templates with the context's variables;
    tuples become lists, other values stay as they are.
    """
    if isinstance(value, str):
        return compiled(context.environment, value).render(context.get_all())
    if isinstance(value, (list, tuple)):
        return [render(context, item) for item in value]
    if isinstance(value, dict):
        return {key: render(context, item) for key, item in value.items()}
    return value
