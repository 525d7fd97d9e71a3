"""
Django settings of the stand-in Open edX (manage.py beside this file): just what
event-routing-backends and platform-plugin-aspects need, on SQLite; their own plugin settings,
applied as edx-platform applies them; then the Aspects settings exactly as Tutor rendered them
into the LMS (or CMS) settings file.
"""

import json
import os
import re
import sys
from pathlib import Path

from event_routing_backends.settings import common as erb_common
from platform_plugin_aspects.settings import common as aspects_common
from platform_plugin_aspects.settings import production as aspects_production

SECRET_KEY = "stand-in-lms-secret-key"
USE_TZ = True
DEBUG = False
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "config_models",
    "celery_utils",
    "eventtracking.django.apps.EventTrackingConfig",
    "event_routing_backends",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["OPENEDX_STANDIN_DATABASE"],
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
# platform-plugin-aspects' views, where edx-platform's plugin framework mounts them.
ROOT_URLCONF = "standin_urls"
LMS_ROOT_URL = os.environ.get("OPENEDX_STANDIN_LMS_ROOT_URL", "http://lms.stand-in")
# event-routing-backends logs, at import, that edx-platform's user and course modules are missing.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"event_routing_backends.helpers": {"level": "CRITICAL"}},
}
# What edx-platform sets and the event-routing-backends settings below build on.
EVENT_TRACKING_ENABLED = True
EVENT_TRACKING_BACKENDS = {}
MAKO_TEMPLATE_DIRS_BASE = []
ENV_TOKENS = {}
# The openedx-filters pipelines that edx-platform and other plugins configured, if any.
OPEN_EDX_FILTERS_CONFIG = json.loads(os.environ.get("OPENEDX_STANDIN_FILTERS", "{}"))
# edx-platform's plugin framework runs each app's settings functions on its settings module.
for plugin_settings in (erb_common, aspects_common, aspects_production):
    plugin_settings.plugin_settings(sys.modules[__name__])

# The Aspects blocks of the settings file that Tutor rendered for this service (lms or cms).
SETTINGS_DIR = Path(os.environ["OPENEDX_STANDIN_SETTINGS_DIR"])
RENDERED = (SETTINGS_DIR / os.environ["SERVICE_VARIANT"] / "production.py").read_text("utf-8")
BLOCK = re.compile(r"^# Open edX Aspects:.*?^# End of the Open edX Aspects[^\n]*$", re.M | re.S)
ASPECTS_BLOCKS = BLOCK.findall(RENDERED)
for block in ASPECTS_BLOCKS:
    exec(block)  # noqa: S102 - the settings Tutor rendered, as Django would load them
