"""
Superset's configuration, rendered by the Tutor superset plugin. What it sets comes from the
SUPERSET_* settings (tutor_settings.json) through openedx_config.py: change those, or add the
superset-config patch, not this file. Secrets come from the environment (superset.env), so that
this file holds none.
"""

from openedx_config import *  # noqa: F403
{%- for name, code in superset_jinja_macros() %}


# {{ name }}
{{ code }}


JINJA_CONTEXT_ADDONS[{{ name|tojson }}] = {{ name }}
{%- endfor %}

{{ patch("superset-config") }}
{%- for name, code in superset_extra_config() %}

# {{ name }}
{{ code }}
{%- endfor %}
