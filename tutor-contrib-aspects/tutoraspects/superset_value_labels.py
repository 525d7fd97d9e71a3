"""
Superset code, appended to superset_config.py by the aspects plugin (the superset plugin's
JINJA_MACROS): it runs in Superset, never in Tutor, and imports nothing of Tutor's.

Datasets are shared by the dashboards of every language, so the words among their values
(enrollment tracks and statuses, "Passing", "Correct"...) are put in the reader's language
when a chart is queried: the dataset's SQL says ``{{ aspects_label("<expression>") }}`` and gets
``transform(<expression>, [keys], [labels], <expression>)``. The language is that of the
dashboard the chart is shown in (each language has its copy), else that of Superset's interface.
A value with no label is shown as it is. The labels are part of the cache key of such a
dataset's rows: else Superset would serve rows cached for one language to readers of every other.
(Superset's own ``cache_key_wrapper`` would do it at the cost of building every query twice.)

The plugin appends the tables, rendered from the dashboard catalogs: ``ASPECTS_VALUE_LABELS``
(locale -> key -> label) and ``ASPECTS_DASHBOARD_LOCALES`` (dashboard uuid -> locale).
"""

import functools
import json

# Values of the datasets that are words, by key: their English label, which the dashboard
# catalogs translate.
ASPECTS_ENGLISH_LABELS = {
    # Enrollment tracks (course modes); other tracks are shown as they are.
    "audit": "Audit",
    "verified": "Verified",
    "honor": "Honor",
    "professional": "Professional",
    "no-id-professional": "Professional",
    "credit": "Credit",
    "masters": "Master's",
    "executive-education": "Executive education",
    "unknown": "Unknown",
    # Enrollment statuses.
    "enrolled": "Enrolled",
    "unenrolled": "Unenrolled",
    # Words the datasets show as they are in English.
    **{
        word: word
        for word in (
            "Passing",
            "Not passing",
            "Correct",
            "Incorrect",
            "Outside the outline",
            "Forum",
            "Pages",
            "Completions",
            "Problems",
            "Videos",
            "Other",
        )
    },
}
# Set by the plugin (its tables follow this code in superset_config.py).
ASPECTS_VALUE_LABELS = {"en": ASPECTS_ENGLISH_LABELS}
ASPECTS_DASHBOARD_LOCALES = {}


def aspects_sql_string(text):
    """`text` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def aspects_labelled(expression, labels):
    """SQL of `expression` with each value that `labels` names replaced by its label."""
    labels = {key: label for key, label in labels.items() if key != label}
    if not labels:
        return expression
    keys = ", ".join(aspects_sql_string(key) for key in labels)
    shown = ", ".join(aspects_sql_string(label) for label in labels.values())
    return f"transform({expression}, [{keys}], [{shown}], {expression})"


def aspects_locale_key(locale):
    """A locale as the tables (and platform-plugin-aspects) name it: lower case, `_` for `-`."""
    return str(locale).lower().replace("-", "_")


def aspects_labels_for(locale):
    """The labels of a locale (pt-BR as pt_br), else of its language, else English ones."""
    key = aspects_locale_key(locale or "en")
    for wanted in (key, key.split("_", 1)[0], "en"):
        if wanted in ASPECTS_VALUE_LABELS:
            return ASPECTS_VALUE_LABELS[wanted]
    return {}


@functools.lru_cache(maxsize=1024)
def _aspects_dashboard_locale(dashboard_id):
    from superset.extensions import db
    from superset.models.dashboard import Dashboard

    found = db.session.query(Dashboard.uuid).filter(Dashboard.id == dashboard_id).scalar()
    return ASPECTS_DASHBOARD_LOCALES.get(str(found)) if found else None


def aspects_reader_locale():
    """The language of the dashboard the chart is queried for, else of Superset's interface."""
    from flask import has_request_context, request
    from flask_babel import get_locale

    if not has_request_context():
        return None
    body = request.get_json(silent=True, cache=True) if request.is_json else None
    form_data = body.get("form_data") if isinstance(body, dict) else None
    dashboard_id = form_data.get("dashboardId") if isinstance(form_data, dict) else None
    if isinstance(dashboard_id, int) and (locale := _aspects_dashboard_locale(dashboard_id)):
        return locale
    return get_locale()


def aspects_label(expression):
    """SQL of a dataset's `expression` whose values are words, in the reader's language."""
    return aspects_labelled(expression, aspects_labels_for(aspects_reader_locale()))


def aspects_labels_in_cache_keys(mutate_app):
    """Superset's app mutator, which then keys the cached rows of datasets by their labels."""

    def mutator(app):
        from superset.connectors.sqla.models import SqlaTable

        keyed = SqlaTable.get_extra_cache_keys
        if not getattr(keyed, "aspects_labels", False):

            def get_extra_cache_keys(self, query_obj):
                keys = keyed(self, query_obj)
                if self.sql and "aspects_label(" in self.sql:
                    labels = aspects_labels_for(aspects_reader_locale())
                    keys.append("aspects_label " + json.dumps(labels, sort_keys=True))
                return keys

            get_extra_cache_keys.aspects_labels = True
            SqlaTable.get_extra_cache_keys = get_extra_cache_keys
        mutate_app(app)

    return mutator


# In superset_config.py, whose FLASK_APP_MUTATOR (the superset plugin's) runs after this one.
if "FLASK_APP_MUTATOR" in globals():
    FLASK_APP_MUTATOR = aspects_labels_in_cache_keys(FLASK_APP_MUTATOR)  # noqa: F821
