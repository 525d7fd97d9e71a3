"""
What each `tutor` command pays for the plugins' settings, templates and patches, made cheaper
without changing what Tutor renders (each plugin calls `install()` when Tutor loads it):

- the compile cache (compile_cache.py): each text Jinja compiles, compiled once;
- a cache of what plugins derive from their own files on every command (cached_json);
- a copy of the configuration made for configuration data: Tutor gives every renderer a deep
  copy of the whole configuration, one renderer per value it renders, so that the plugins'
  settings make both more copies and longer ones; `copy.deepcopy` spends most of that time in
  its generic machinery (memo, dispatch, reduce), which dicts, lists and YAML scalars don't need;
- an RSA key imported once per command: Tutor's templates, and the superset plugin's, import
  the same key (JWT_RSA_PRIVATE_KEY) with the filter rsa_import_key, about 20 ms each, because
  the import checks the key's consistency;
- the templates listed once per `save`: Tutor lists every template of every template root
  again for each of its targets (a walk of all the folders), and the plugins add targets.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import typing as t
from collections.abc import Callable

import jinja2
from tutor import env as tutor_env
from tutor import hooks, utils

from tutorcommon import compile_cache

DISABLE = "TUTOR_CONTRIB_COMMON_SPEEDUPS"  # "0": Tutor's rendering as Tutor alone does it
# The types that copy.deepcopy returns as they are (immutable), exactly these: a subclass goes
# through copy.deepcopy.
_ATOMS = frozenset({str, int, float, bool, type(None), bytes, complex})


def config_copy(value: t.Any) -> t.Any:
    """
    A deep copy of configuration data: new dicts and lists all the way down, the scalars
    shared, as copy.deepcopy makes one. Anything else is copied by copy.deepcopy. Unlike it,
    two references to one list (a YAML alias) become two lists.
    """
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {key: config_copy(item) for key, item in value.items()}
    if kind is list:
        return [config_copy(item) for item in value]
    return copy.deepcopy(value)


def cached_json(namespace: str, key: bytes, compute: Callable[[], t.Any]) -> t.Any:
    """
    What `compute()` returns, a JSON value derived from what `key` holds (the whole content of
    the files it reads, and the versions of the libraries that read them), kept in the compile
    cache's folder for the next commands. Nothing secret must go in: the folder is the user's.
    """
    if os.environ.get(DISABLE) == "0":
        return compute()
    path = compile_cache.cache_dir() / namespace / hashlib.sha256(key).hexdigest()
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        value = compute()
        compile_cache.write(path, json.dumps(value).encode())
        return value


# An RsaKey holds no state that changes: the key of a PEM text can serve every template.
rsa_import_key = functools.lru_cache(maxsize=8)(utils.rsa_import_key)


def rsa_keys_imported_once(filters: list[tuple[str, t.Any]]) -> list[tuple[str, t.Any]]:
    """Tutor's template filters, rsa_import_key replaced (a second filter of the name is an
    error that Tutor reports)."""
    return [
        (name, rsa_import_key if function is utils.rsa_import_key else function)
        for name, function in filters
    ]


def listing_once(save: Callable[[str, t.Any], None]) -> Callable[[str, t.Any], None]:
    """tutor.env.save, with each template loader's listing made once for the whole save."""
    if getattr(save, "lists_once", False):
        return save

    @functools.wraps(save)
    def save_listing_once(root: str, config: t.Any) -> None:
        listings: dict[tuple[t.Any, ...], list[str]] = {}
        list_templates = jinja2.FileSystemLoader.list_templates

        def listed(loader: jinja2.FileSystemLoader) -> list[str]:
            key = (tuple(loader.searchpath), loader.followlinks)
            if key not in listings:
                listings[key] = list_templates(loader)
            return list(listings[key])

        jinja2.FileSystemLoader.list_templates = listed  # type: ignore[method-assign]
        try:
            save(root, config)
        finally:
            jinja2.FileSystemLoader.list_templates = list_templates  # type: ignore[method-assign]

    save_listing_once.lists_once = True  # type: ignore[attr-defined]
    return save_listing_once


def install() -> None:
    """The speed-ups, for Tutor's rendering in this process (once, whichever plugin asks)."""
    if os.environ.get(DISABLE) == "0":
        return
    compile_cache.install()
    # The name tutor.env copies configurations with (its Renderer, its save()).
    tutor_env.deepcopy = config_copy  # type: ignore[attr-defined]
    # A later filter of the same name replaces Tutor's in each renderer's environment.
    filters = hooks.Filters.ENV_TEMPLATE_FILTERS
    if not any(callback.func is rsa_keys_imported_once for callback in filters.callbacks):
        filters.add()(rsa_keys_imported_once)
    tutor_env.save = listing_once(tutor_env.save)
