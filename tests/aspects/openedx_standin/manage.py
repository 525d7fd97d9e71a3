#!/usr/bin/env python3
"""
Stand-in for edx-platform's manage.py: `./manage.py lms|cms COMMAND [ARGS]` runs COMMAND with
Django on SQLite, with the real event-routing-backends and platform-plugin-aspects installed
(.venv-openedx) and the Aspects settings Tutor rendered (standin_settings.py).

Each call is recorded as a JSON line (service, command and arguments) in $OPENEDX_STANDIN_LOG.
edx-platform's user, course and external id lookups come from edx_platform/ (its README), with
the people of $OPENEDX_STANDIN_PEOPLE created as Django users. Commands that need more of
edx-platform (its modulestore) are only parsed, by their real argument parser; the options every
command received are printed.
"""

import json
import os
import sys
from pathlib import Path

NEED_EDX_PLATFORM = {"dump_data_to_clickhouse": "platform_plugin_aspects.management.commands"}
PRINT_OPTIONS = {
    **NEED_EDX_PLATFORM,
    "transform_tracking_logs": "event_routing_backends.management.commands",
}

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / "edx_platform")]
# In place of the settings module Tutor renders (lms.envs.tutor.production, set by the job).
os.environ["DJANGO_SETTINGS_MODULE"] = "standin_settings"

service, *args = sys.argv[1:]
if service not in ("lms", "cms"):
    sys.exit(f"usage: manage.py lms|cms COMMAND, not {service!r}")
os.environ["SERVICE_VARIANT"] = service
if os.environ.get("OPENEDX_STANDIN_LOG"):
    with open(os.environ["OPENEDX_STANDIN_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"service": service, "args": args}) + "\n")

import django  # noqa: E402
from django.core.management import execute_from_command_line  # noqa: E402


def create_people() -> None:
    """The people of $OPENEDX_STANDIN_PEOPLE as Django users, as edx-platform's would be."""
    from django.contrib.auth import get_user_model

    with open(os.environ["OPENEDX_STANDIN_PEOPLE"], encoding="utf-8") as people:
        for person in json.load(people):
            get_user_model().objects.update_or_create(
                id=person["id"],
                defaults={"username": person["username"], "email": person["email"]},
            )


def match_names_without_case() -> None:
    """
    ERB finds its routers by backend name 'xapi' while it stores and compares 'xAPI': it relies
    on edx-platform's MySQL, whose collation ignores case. The router's name column gets the
    same collation here (SQLite changes a column's collation only through its schema text).
    """
    from django.db import connection

    table = "event_routing_backends_routerconfiguration"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA writable_schema = ON")
        cursor.execute(
            "UPDATE sqlite_master SET sql = replace(sql, '\"backend_name\" varchar(50) NOT NULL',"
            " '\"backend_name\" varchar(50) NOT NULL COLLATE NOCASE')"
            " WHERE name = %s AND sql NOT LIKE '%%COLLATE NOCASE%%'",
            [table],
        )
        cursor.execute("PRAGMA writable_schema = OFF")


if args and args[0] in PRINT_OPTIONS:
    import importlib

    django.setup()
    module = importlib.import_module(f"{PRINT_OPTIONS[args[0]]}.{args[0]}")
    parser = module.Command().create_parser("manage.py", args[0])
    options = vars(parser.parse_args(args[1:]))
    print(f"{args[0]} options: {json.dumps(options, sort_keys=True)}", flush=True)
if args and args[0] not in NEED_EDX_PLATFORM:
    from celery import Celery

    # edx-platform's Celery workers, run in this process: a task ends before the command does.
    Celery("lms").conf.task_always_eager = True
    if os.environ.get("OPENEDX_STANDIN_PEOPLE") and args[0] != "migrate":
        django.setup()
        create_people()
    execute_from_command_line(["manage.py", *args])
    if args[0] == "migrate":
        match_names_without_case()
