#!/usr/bin/env python3
"""
Run platform-plugin-aspects' course sink, unchanged, as the CMS runs it, against a ClickHouse
server; with .venv-openedx's Python:

    run_sink.py publish|dump|retire CONFIG.json

CONFIG: {"clickhouse": EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG, "database": SQLite file,
"courses": [CourseOverview fields, dates in ISO 8601], "modulestore": JSON file of the course
trees (see xmodule/modulestore/django.py)}.

`publish` runs the task the CMS queues when a course is published (dump_course_to_clickhouse)
for each course; `dump` runs the dump_data_to_clickhouse management command (as
`tutor local do dump-data-to-clickhouse` does), with its connection options, without --force;
`retire` runs the sink that deletes the personal data of the learners whose user ids are in
CONFIG["retire"], as the platform does when their accounts are retired.

What stands in for edx-platform, beside this file: the CourseOverview model (same field types,
so the plugin's serializer renders values as on a platform) and the modulestore (published
course trees). The plugin's own settings modules provide the model configuration; the sink,
its serializers, its CSV and its HTTP requests are the plugin's.
"""

import datetime
import json
import logging
import os
import sys
import types
from pathlib import Path

import django
from django.conf import settings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

mode, config_path = sys.argv[1:]
config = json.loads(Path(config_path).read_text(encoding="utf-8"))
os.environ["STANDIN_MODULESTORE"] = config["modulestore"]

from platform_plugin_aspects.settings import common, production  # noqa: E402

# What edx-platform's plugin framework does with the plugin's settings modules, then the
# settings Tutor renders (patch openedx-common-settings).
plugin = types.SimpleNamespace(MAKO_TEMPLATE_DIRS_BASE=[], ENV_TOKENS={})
common.plugin_settings(plugin)
production.plugin_settings(plugin)
plugin_settings = {name: value for name, value in vars(plugin).items() if name.isupper()}
plugin_settings["EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"] = config["clickhouse"]
plugin_settings["EVENT_SINK_CLICKHOUSE_COURSE_OVERVIEWS_ENABLED"] = True

settings.configure(
    SECRET_KEY="stand-in-cms-secret-key",
    USE_TZ=True,
    TIME_ZONE="UTC",
    FEATURES={},
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "openedx.core.djangoapps.content.course_overviews",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": config["database"]}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    **plugin_settings,
)
django.setup()
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

from django.core.management import call_command  # noqa: E402
from openedx.core.djangoapps.content.course_overviews.models import CourseOverview  # noqa: E402
from platform_plugin_aspects.management.commands import dump_data_to_clickhouse  # noqa: E402
from platform_plugin_aspects.sinks import UserRetirementSink  # noqa: E402
from platform_plugin_aspects.tasks import dump_course_to_clickhouse  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
for fields in config["courses"]:
    values = {
        name: datetime.datetime.fromisoformat(value)
        if name in ("start", "end", "enrollment_start", "enrollment_end", "announcement") and value
        else value
        for name, value in fields.items()
    }
    # An existing course is left as it is: its modified time says when it was last published.
    CourseOverview.objects.get_or_create(id=values.pop("id"), defaults=values)

if mode == "publish":
    for fields in config["courses"]:
        dump_course_to_clickhouse(fields["id"])
elif mode == "dump":
    connection = config["clickhouse"]
    call_command(
        dump_data_to_clickhouse.Command(),
        object="course_overviews",
        url=connection["url"],
        username=connection["username"],
        password=connection["password"],
        database=connection["database"],
        sleep_time=0,
    )
elif mode == "retire":
    sink = UserRetirementSink(None, logging.getLogger("retirement"))
    sink.send_item([{"user_id": user_id} for user_id in config["retire"]], many=True)
else:
    sys.exit(f"usage: run_sink.py publish|dump|retire CONFIG.json, not {mode!r}")
