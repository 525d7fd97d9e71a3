"""
What Tutor plugins contribute to Superset through the superset plugin's hooks, rendered by
Tutor: roles, the LMS's user, asset bundles, embedded dashboards and row-level security
filters. The ``superset`` init job applies them, after ``superset init``, with
``python -m superset_sync`` (sync_contributions.py does the work). Safe to repeat.
"""

import json
import sys

ADMIN_USERNAME = {{ SUPERSET_ADMIN_USERNAME|tojson }}
# (name, base role, [(permission, view), ...])
ROLES = json.loads({{ superset_roles()|list|tojson|tojson }})
# (name, roles, ["schema.table", ...], clause)
RLS_FILTERS = json.loads({{ superset_rls_filters()|list|tojson|tojson }})
ASSET_BUNDLES = json.loads({{ superset_asset_bundles()|list|tojson|tojson }})
# (dashboard uuid or slug, embedding uuid, [allowed origin, ...])
EMBEDDED_DASHBOARDS = json.loads({{ superset_embedded_dashboards()|list|tojson|tojson }})
LMS_USERNAME = {{ SUPERSET_LMS_USERNAME|tojson }}
LMS_EMAIL = {{ (SUPERSET_LMS_USERNAME ~ "@" ~ LMS_HOST)|tojson }}
LMS_ROLE = {{ superset_lms_role|tojson }}

if __name__ == "__main__":
    from sync_contributions import SyncError, main

    try:
        main()
    except SyncError as error:
        sys.exit(f"Superset: {error}")
