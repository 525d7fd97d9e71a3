"""
Extension points that the superset plugin offers to other plugins.

Other plugins import this module (never ``plugin.py``) and add items to the filters below.
Values are Tutor templates, rendered with the configuration.
"""

from __future__ import annotations

from tutor.core.hooks import Filter

#: Python code appended to ``superset_config.py``, as ``(name, code)`` pairs: feature flags,
#: Jinja macros (``JINJA_CONTEXT_ADDONS``), engine options...
EXTRA_CONFIG: Filter[list[tuple[str, str]], []] = Filter()

#: Shell commands that the ``superset`` init job runs once Superset's metadata database is
#: upgraded and its roles exist, as ``(name, command)`` pairs, in the Superset image with the
#: rendered configuration: e.g. to add a database connection or import dashboards. Each must be
#: idempotent.
INIT_COMMANDS: Filter[list[tuple[str, str]], []] = Filter()
