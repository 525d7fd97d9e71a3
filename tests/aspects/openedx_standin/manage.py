#!/usr/bin/env python3
"""
Stand-in for edx-platform's manage.py: `./manage.py lms|cms COMMAND [ARGS]` runs COMMAND with
Django on SQLite, with the real event-routing-backends and platform-plugin-aspects installed
(.venv-openedx) and the Aspects settings Tutor rendered (standin_settings.py).

Each call is recorded as a JSON line (service, command and arguments) in $OPENEDX_STANDIN_LOG.
Commands that need edx-platform itself to run (its users, courses and modulestore) are only
parsed, by their real argument parser, and the options they received are printed.
"""

import json
import os
import sys
from pathlib import Path

NEED_EDX_PLATFORM = {
    "dump_data_to_clickhouse": "platform_plugin_aspects.management.commands",
    "transform_tracking_logs": "event_routing_backends.management.commands",
}

sys.path.insert(0, str(Path(__file__).resolve().parent))
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

if args and args[0] in NEED_EDX_PLATFORM:
    import importlib

    django.setup()
    module = importlib.import_module(f"{NEED_EDX_PLATFORM[args[0]]}.{args[0]}")
    parser = module.Command().create_parser("manage.py", args[0])
    options = vars(parser.parse_args(args[1:]))
    print(f"{args[0]} options: {json.dumps(options, sort_keys=True)}")
else:
    execute_from_command_line(["manage.py", *args])
