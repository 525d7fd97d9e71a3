"""
Extension points that the superset plugin offers to other plugins.

Other plugins import this module (never ``plugin.py``) and add items to the filters below.
Strings are Tutor templates, rendered with the configuration, except where a filter says it
takes Superset's own Jinja (row-level security clauses, SQL macros' output).
"""

from __future__ import annotations

from tutor.core.hooks import Filter
from tutor.types import Config

#: Python code appended to ``superset_config.py``, as ``(name, code)`` pairs: feature flags,
#: engine options...
EXTRA_CONFIG: Filter[list[tuple[str, str]], []] = Filter()

#: Functions for Superset's SQL templates, as ``(name, code)`` pairs: ``code`` is Python that
#: defines a function called ``name``, which SQL (datasets, row-level security clauses) then
#: calls as ``{{ name(...) }}``, beside the plugin's own ``can_view_courses(column)``.
JINJA_MACROS: Filter[list[tuple[str, str]], []] = Filter()

#: Python packages the Superset image installs (``tutor images build superset``), as pip
#: requirements such as ``"psycopg2-binary==2.9.10"``: the drivers of the databases that
#: plugins connect Superset to (Superset's images ship none). Plain strings, not templates.
PYTHON_REQUIREMENTS: Filter[list[str], []] = Filter()

#: Roles the ``superset`` init job creates or updates, as ``(name, base, permissions)``: the
#: role gets exactly the permissions of the role ``base`` (e.g. "Gamma"; empty for none) plus
#: ``permissions``, a list of ``(permission, view)`` pairs such as ``("can_read", "Dashboard")``.
#: Items of the same name add up. The plugin's course-staff role (SUPERSET_COURSE_STAFF_ROLE,
#: based on Gamma) is one: other plugins extend it with items of that name.
ROLES: Filter[list[tuple[str, str, list[tuple[str, str]]]], []] = Filter()

#: Databases Superset connects to, as ``(name, sqlalchemy_uri)``. The init job creates or
#: updates them; a bundle of ASSETS that holds a database of that name gets this URI on import.
#: URIs hold passwords: they reach the init job through its environment, never its script.
DATABASES: Filter[list[tuple[str, str]], []] = Filter()

#: Asset bundles (databases, datasets, charts, dashboards in Superset's export format) that the
#: init job imports, overwriting what an earlier import made: directories whose base name,
#: unique, names the bundle, each holding ``metadata.yaml`` and the object folders. Their files
#: are Tutor templates: wrap Superset's own Jinja in ``{% raw %}``; a file rendered empty is left
#: out of the import; a file rendered as several YAML documents (separated by ``---``) is one
#: object per document (as many as a setting asks for, say). They are rendered into the
#: Superset image's build context (``tutor images build superset`` bakes them in).
ASSETS: Filter[list[str], []] = Filter()

#: Row-level security filters, as ``(name, roles, tables, clause)``: people with one of
#: ``roles`` see, in each of ``tables`` ("schema.table" datasets), only the rows where
#: ``clause`` holds. The clause is Superset's Jinja, rendered per query, e.g.
#: ``{{ can_view_courses("course_key") }}`` (not rendered by Tutor). This is also how a role
#: gets to read a dataset: ``roles`` may read ``tables`` (Superset's ``datasource_access``),
#: so a role reads no dataset that none of its filters covers.
RLS_FILTERS: Filter[list[tuple[str, list[str], list[str], str]], []] = Filter()

#: Shell commands that the ``superset`` init job runs last, as ``(name, command)`` pairs, in
#: the Superset image with the rendered configuration. Each must be idempotent.
INIT_COMMANDS: Filter[list[tuple[str, str]], []] = Filter()

#: Dashboards that other sites show in an iframe with Superset's embedded SDK, as
#: ``(dashboard, uuid, origins)``: ``dashboard`` is a dashboard's uuid or slug (from ASSETS,
#: say), ``uuid`` the id that the SDK and guest tokens name its embedding by (any uuid, fixed
#: so that the other site can know it), and ``origins`` the sites (``https://host[:port]``)
#: allowed to frame it. The init job creates or updates the embeddings; Superset's content
#: security policy lets those origins, and no other, frame it. Guests see it with the
#: SUPERSET_GUEST_ROLE role and the row-level security clauses of their token. Callbacks get
#: the configuration, for items that depend on settings (``@EMBEDDED_DASHBOARDS.add()`` on a
#: function of ``(items, config)``).
EMBEDDED_DASHBOARDS: Filter[list[tuple[str, str, list[str]]], [Config]] = Filter()
