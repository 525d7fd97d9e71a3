# Register Superset as an OAuth2 application of the LMS, for single sign-on (like Tutor's own
# CMS application). The client secret comes from the LMS settings, so that it stays out of this
# script, which Tutor prints. --update makes it safe to repeat.
./manage.py lms manage_user superset superset@openedx --unusable-password
echo "Creating or updating the OAuth2 application superset-sso of Superset"
./manage.py lms shell --command "$(cat <<'PYTHON'
import logging

from django.conf import settings
from django.core.management import call_command

# The command logs the client secret of the application it creates or updates.
logging.getLogger(
    "openedx.core.djangoapps.oauth_dispatch.management.commands.create_dot_application"
).setLevel(logging.WARNING)
call_command(
    "create_dot_application",
    "--grant-type", "authorization-code",
    "--redirect-uris", {{ ((("https" if ENABLE_HTTPS else "http") ~ "://" ~ SUPERSET_HOST ~ "/oauth-authorized/openedxsso"))|tojson }},
    "--client-id", {{ SUPERSET_OAUTH2_CLIENT_ID|tojson }},
    "--client-secret", settings.SUPERSET_OAUTH2_CLIENT_SECRET,
    "--scopes", "user_id",
    "--skip-authorization",
    "--update",
    "superset-sso",
    "superset",
)
# `tutor dev` (the LMS's development settings) publishes Superset on a port of this machine,
# without Caddy: it signs people in with an application of its own, as Tutor's Studio does.
if settings.SETTINGS_MODULE.endswith(".development"):
    print("Creating or updating the OAuth2 application superset-sso-dev of Superset")
    call_command(
        "create_dot_application",
        "--grant-type", "authorization-code",
        "--redirect-uris", {{ ("http://" ~ SUPERSET_HOST ~ ":" ~ SUPERSET_DEV_PORT ~ "/oauth-authorized/openedxsso")|tojson }},
        "--client-id", {{ SUPERSET_OAUTH2_CLIENT_ID_DEV|string|tojson }},
        "--client-secret", settings.SUPERSET_OAUTH2_CLIENT_SECRET,
        "--scopes", "user_id",
        "--skip-authorization",
        "--update",
        "superset-sso-dev",
        "superset",
    )
PYTHON
)"
