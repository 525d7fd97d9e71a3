"""
Print a JWT access token for one user of a stand-in LMS, built as its token endpoint builds
them, for API tests that need no browser login::

    python -m tests.harness.lms.issue_jwt --data DIR --jwt-private-key key.pem alice

Give it the settings the server runs with (options or LMS_* variables).
"""

from __future__ import annotations

import sys

from tests.harness.lms.server import apply_settings, missing_settings, settings_parser


def main(argv: list[str] | None = None) -> int:
    parser = settings_parser(
        "python -m tests.harness.lms.issue_jwt", "Print a JWT access token for a user."
    )
    parser.add_argument("username")
    parser.add_argument(
        "--scope",
        action="append",
        help="a scope of the token; repeat for more (default: the LMS's default scopes)",
    )
    parser.add_argument(
        "--expires-in", type=int, help="seconds until it expires (negative: already expired)"
    )
    parser.add_argument(
        "--symmetric",
        action="store_true",
        help="sign with the secret (HS256), unless the LMS forces asymmetric JWTs",
    )
    args = parser.parse_args(argv)
    apply_settings(args)
    missing = missing_settings("LMS_DATA_DIR", "LMS_JWT_PRIVATE_KEY", "LMS_JWT_ISSUER")
    if missing:
        parser.error(f"missing settings: {', '.join(missing)}")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User

    from tests.harness.lms.tokens import build_jwt

    user = User.objects.filter(username=args.username).first()
    if user is None:
        print(f"No user {args.username!r} in this LMS", file=sys.stderr)
        return 1
    scopes = args.scope or settings.OAUTH2_PROVIDER["DEFAULT_SCOPES"]
    print(build_jwt(user, scopes, args.expires_in, asymmetric=not args.symmetric))
    return 0


if __name__ == "__main__":
    sys.exit(main())
