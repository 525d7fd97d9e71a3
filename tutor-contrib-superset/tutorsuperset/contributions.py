"""
What other plugins contribute through the superset plugin's hooks (hooks.py), made ready for
Tutor: template variables that render the items, and the asset bundles rendered into the
Superset image's build context.
"""

from __future__ import annotations

import shutil
import typing as t
from pathlib import Path

import jinja2
from tutor import env as tutor_env
from tutor.core.hooks import Filter
from tutor.types import Config

from tutorcommon.rendering import render

from . import hooks as superset_hooks

# Where each asset bundle is rendered, under its own name: the image's build context.
ASSETS_TARGET = "plugins/superset/build/superset/assets"


def rendered_items(
    items: Filter[t.Any, t.Any], verbatim: tuple[int, ...] = (), with_config: bool = False
) -> t.Callable[..., t.Iterator[t.Any]]:
    """
    A template variable that yields a filter's items with their strings rendered as Tutor
    templates, except the tuple positions in `verbatim` (Superset's own Jinja); `with_config`:
    the filter's callbacks get the configuration.
    """

    @jinja2.pass_context
    def variable(context: jinja2.runtime.Context) -> t.Iterator[t.Any]:
        for item in items.iterate(*([context.get_all()] if with_config else [])):
            if isinstance(item, tuple):
                yield [
                    part if i in verbatim else render(context, part) for i, part in enumerate(item)
                ]
            else:
                yield render(context, item)

    return variable


def rendered_embedded_dashboards(config: Config) -> list[tuple[str, str, list[str]]]:
    """The contributed embedded dashboards, rendered with `config` (to check them)."""

    # One renderer for all: tutor_env.render_str would copy the configuration for each value.
    render_str = tutor_env.Renderer(config).render_str

    items = [
        (render_str(dashboard), render_str(embedded_uuid), [render_str(o) for o in origins])
        for dashboard, embedded_uuid, origins in superset_hooks.EMBEDDED_DASHBOARDS.iterate(config)
    ]
    return [item for item in items if item[0]]


_embedded_dashboards = rendered_items(superset_hooks.EMBEDDED_DASHBOARDS, with_config=True)


@jinja2.pass_context
def embedded_dashboards_variable(context: jinja2.runtime.Context) -> list[list[t.Any]]:
    """An item whose dashboard renders empty is left out (a setting leaves that dashboard out)."""
    return [item for item in _embedded_dashboards(context) if item[0]]


def asset_bundle_names() -> list[str]:
    return [Path(directory).name for directory in superset_hooks.ASSETS.iterate()]


def asset_template_roots(roots: list[str]) -> list[str]:
    """For ENV_TEMPLATE_ROOTS: the folder of each contributed bundle."""
    return roots + [str(Path(directory).parent) for directory in superset_hooks.ASSETS.iterate()]


def asset_template_targets(targets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """
    For ENV_TEMPLATE_TARGETS. Tutor renders every template whose path starts with a target, from
    any plugin's templates: a target per entry of the bundle (folders ending with "/"), not the
    bundle's name alone, keeps the templates of a plugin named like its bundle (aspects' job
    secrets) out of the image.
    """
    return targets + [
        (f"{Path(directory).name}/{entry.name}" + ("/" if entry.is_dir() else ""), ASSETS_TARGET)
        for directory in superset_hooks.ASSETS.iterate()
        for entry in sorted(Path(directory).iterdir())
    ]


def remove_stale_asset_files(root_env: str, _config: Config) -> None:
    """For ENV_SAVED: files that earlier renderings left in a bundle's folder and it lacks."""
    for directory in superset_hooks.ASSETS.iterate():
        source, rendered = Path(directory), Path(root_env, ASSETS_TARGET, Path(directory).name)
        wanted = {path.relative_to(source) for path in source.rglob("*")}
        for path in sorted(rendered.rglob("*"), reverse=True):  # deepest first
            if path.relative_to(rendered) not in wanted:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
