"""
Extension points that the ralph plugin offers to other plugins.

Other plugins import this module (never ``plugin.py``) and add items to the filters below.
Values are Tutor templates, rendered with the configuration.
"""

from __future__ import annotations

import typing as t

from tutor.core.hooks import Filter

#: Ralph settings, as ``(environment variable, value)`` pairs, e.g.
#: ``("RALPH_RUNSERVER_BACKEND", "clickhouse")`` to switch the backend. They override this
#: plugin's defaults (a later item overrides an earlier one), and the operator's
#: ``RALPH_EXTRA_SETTINGS`` override them all. A setting whose value renders empty is left out.
SETTINGS: Filter[list[tuple[str, str]], []] = Filter()

#: Extra users of Ralph's auth file, as dicts with the keys ``username``, ``hash`` (a bcrypt
#: hash, e.g. ``"{{ MY_HASHED_PASSWORD }}"`` generated once with Tutor's ``encrypt`` filter),
#: ``scopes`` (Ralph scopes, e.g. ``["statements/read"]``) and ``agent`` (the xAPI agent that
#: becomes the authority of the statements the user sends, e.g. ``{"mbox": "mailto:..."}``).
USERS: Filter[list[dict[str, t.Any]], []] = Filter()
