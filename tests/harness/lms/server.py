"""
The stand-in LMS as a process: settings from the command line or LMS_* variables, database
schema and people brought up to date, OAuth2 application registered, then Django's threaded
WSGI server until SIGTERM. ``python -m tests.harness.lms --help`` lists the options.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

READY_MESSAGE = "Open edX LMS stand-in listening on {url}, issuer {issuer}"

# option: (environment variable, help)
SETTINGS_OPTIONS = {
    "data": ("LMS_DATA_DIR", "directory of the SQLite database (created if missing)"),
    "users": ("LMS_USERS_FILE", "JSON file of people and course roles (see people.py)"),
    "client_id": ("LMS_OAUTH2_CLIENT_ID", "OAuth2 client id of the registered application"),
    "client_secret": ("LMS_OAUTH2_CLIENT_SECRET", "its client secret"),
    "issuer": ("LMS_JWT_ISSUER", "JWT `iss` (default: http://HOST:PORT/oauth2)"),
    "audience": ("LMS_JWT_AUDIENCE", "JWT `aud` (default: openedx)"),
    "jwt_algorithm": ("LMS_JWT_ALGORITHM", "JWT signing algorithm (default: RS256)"),
    "jwt_secret_key": (
        "LMS_JWT_SECRET_KEY",
        "secret of symmetric (HS256) JWTs (default: the Django secret key)",
    ),
}


def settings_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Options shared by the server and the commands that run beside it on its data."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for option, (variable, help_text) in SETTINGS_OPTIONS.items():
        parser.add_argument(f"--{option.replace('_', '-')}", help=f"{help_text} [{variable}]")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        help="allowed redirect URI of the application; repeat for more [LMS_OAUTH2_REDIRECT_URIS]",
    )
    parser.add_argument(
        "--jwt-private-key",
        type=Path,
        help="PEM file of the RSA key that signs JWTs [LMS_JWT_PRIVATE_KEY: the PEM itself]",
    )
    return parser


def apply_settings(args: argparse.Namespace) -> None:
    """Options given on the command line override the environment that settings.py reads."""
    for option, (variable, _) in SETTINGS_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            os.environ[variable] = (
                str(Path(value).resolve()) if option in ("data", "users") else value
            )
    if args.redirect_uri:
        os.environ["LMS_OAUTH2_REDIRECT_URIS"] = " ".join(args.redirect_uri)
    if args.jwt_private_key:
        os.environ["LMS_JWT_PRIVATE_KEY"] = args.jwt_private_key.read_text()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.harness.lms.settings")


def missing_settings(*variables: str) -> list[str]:
    return [variable for variable in variables if not os.environ.get(variable)]


def prepare_database() -> None:
    """Schema, people and OAuth2 application, as the LMS's init job would leave them."""
    from django.conf import settings
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    from tests.harness.lms.people import load_people

    # The stand-in's own models have no migration files: --run-syncdb creates their tables.
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
    if settings.LMS_USERS_FILE:
        load_people(Path(settings.LMS_USERS_FILE))
    client = settings.LMS_OAUTH2_APPLICATION
    application_model = get_application_model()
    application_model.objects.update_or_create(
        client_id=client["CLIENT_ID"],
        defaults={
            "name": client["CLIENT_ID"],
            "client_type": application_model.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": application_model.GRANT_AUTHORIZATION_CODE,
            "client_secret": client["CLIENT_SECRET"],
            "redirect_uris": " ".join(client["REDIRECT_URIS"]),
            "skip_authorization": client["SKIP_AUTHORIZATION"],
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = settings_parser(
        "python -m tests.harness.lms",
        "Serve a stand-in Open edX LMS: login page, OAuth2 (django-oauth-toolkit) with JWT "
        "access tokens, and the user and course APIs, at edx-platform's paths.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--require-authorization",
        action="store_true",
        help="show the approval page (default: skip it, as for the LMS's own SSO clients)",
    )
    parser.add_argument(
        "--symmetric-jwt-unless-asked",
        action="store_true",
        help="sign token-endpoint JWTs with the secret (HS256) unless the request has "
        "asymmetric_jwt, as edx-platform does without JWT_AUTH_FORCE_CREATE_ASYMMETRIC "
        "(default: always with the private key)",
    )
    args = parser.parse_args(argv)
    apply_settings(args)
    if args.require_authorization:
        os.environ["LMS_OAUTH2_SKIP_AUTHORIZATION"] = "false"
    if args.symmetric_jwt_unless_asked:
        os.environ["LMS_JWT_FORCE_CREATE_ASYMMETRIC"] = "false"
    missing = missing_settings(
        "LMS_DATA_DIR",
        "LMS_OAUTH2_CLIENT_ID",
        "LMS_OAUTH2_CLIENT_SECRET",
        "LMS_OAUTH2_REDIRECT_URIS",
        "LMS_JWT_PRIVATE_KEY",
    )
    if missing:
        parser.error(f"missing settings: {', '.join(missing)}")

    # Django reads its settings once, at setup: bind first, so that the default issuer can
    # name the port actually listened on.
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    try:
        server = ThreadedWSGIServer((args.host, args.port), WSGIRequestHandler)
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    url = f"http://{args.host}:{server.server_port}"
    os.environ.setdefault("LMS_JWT_ISSUER", f"{url}/oauth2")

    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    django.setup()
    Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
    try:
        prepare_database()
    # A bad people file: JSON and PeopleFileError are ValueErrors, a missing field a KeyError.
    except (ValueError, KeyError, OSError) as error:
        print(f"Cannot load {settings.LMS_USERS_FILE}: {error!r}", file=sys.stderr)
        server.server_close()
        return 1
    server.set_app(get_wsgi_application())

    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop.set())
    # Short polls: a stop takes effect at once.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="http", daemon=True).start()
    print(READY_MESSAGE.format(url=url, issuer=settings.LMS_JWT["ISSUER"]), flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    print("stopped", file=sys.stderr, flush=True)
    return 0
