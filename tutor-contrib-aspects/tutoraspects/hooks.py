"""
Extension points that the aspects plugin offers to other plugins.

Other plugins import this module (never ``plugin.py``) and add items to the filters below.
"""

from __future__ import annotations

from tutor.core.hooks import Filter

#: Translations of the Aspects dashboards (the titles of dashboards, charts and filters), as
#: ``(locale, path)``: ``path`` is a message catalog for the language ``locale`` (as written in
#: SUPERSET_DASHBOARD_LOCALES, e.g. ``"de"`` or ``"pt_BR"``; case and ``-``/``_`` do not
#: matter), in the format openedx-translations ships for Aspects
#: (``.../conf/locale/<locale>/locale.yaml``): a YAML mapping of English text to its
#: translation, under one key (``en:``, the source language). Catalogs of one locale add up,
#: later ones winning for a text both translate, so a plugin may also correct some strings of a
#: bundled catalog; the plugin's own catalogs (``tutoraspects/conf/locale``) come first. A
#: locale of SUPERSET_DASHBOARD_LOCALES with no catalog gets its dashboards in English, with a
#: warning on ``tutor config save``.
DASHBOARD_CATALOGS: Filter[list[tuple[str, str]], []] = Filter()
