"""
The course dashboards in the LMS: platform-plugin-aspects shows them in the instructor
dashboard's "Reports" tab, embedded from Superset with a guest token that the LMS asks for, as
its Superset user, for the course being looked at. Here, through the superset plugin's
extension points only: the embeddings of those dashboards, in each language, for the LMS's
site; the LMS settings are in the openedx-lms-common-settings patch.
"""

from __future__ import annotations

import typing as t

from tutor import hooks
from tutor.types import Config

from tutorsuperset.hooks import EMBEDDED_DASHBOARDS

from .superset import (
    DASHBOARDS,
    INSTRUCTOR_DASHBOARDS,
    asset_uuid,
    dashboard_uuid,
    locales_error,
    translated_uuid,
)

LMS_ORIGIN = "{% if ENABLE_HTTPS %}https{% else %}http{% endif %}://{{ LMS_HOST }}"


def embedding_uuid(slug: str, locale: str) -> str:
    """
    The uuid platform-plugin-aspects embeds a dashboard's copy in `locale` by: it names every
    copy by its translated uuid, English too.
    """
    return translated_uuid(slug, locale)


def instructor_dashboards() -> list[dict[str, t.Any]]:
    """ASPECTS_INSTRUCTOR_DASHBOARDS of platform-plugin-aspects: the English dashboards."""
    return [
        {
            "name": DASHBOARDS[slug][0],
            "slug": slug,
            "uuid": asset_uuid("dashboard", slug),
            "allow_translations": True,
        }
        for slug in INSTRUCTOR_DASHBOARDS
    ]


@EMBEDDED_DASHBOARDS.add()
def _embedded_copies(
    items: list[tuple[str, str, list[str]]], config: Config
) -> list[tuple[str, str, list[str]]]:
    """Each imported copy (one per language of SUPERSET_DASHBOARD_LOCALES), for the LMS."""
    locales = config.get("SUPERSET_DASHBOARD_LOCALES")
    if locales_error(locales):
        return items  # refused by the aspects settings check
    return items + [
        (dashboard_uuid(slug, locale), embedding_uuid(slug, locale), [LMS_ORIGIN])
        for slug in INSTRUCTOR_DASHBOARDS
        for locale in locales
    ]


hooks.Filters.ENV_TEMPLATE_VARIABLES.add_item(
    ("aspects_instructor_dashboards", instructor_dashboards)
)
