"""
A Tutor plugin for `make demo` only: the demo has no LMS to sign in through, so Superset shows
its own login form, for the admin user that the superset plugin's init job creates.
"""

from tutor import hooks

hooks.Filters.ENV_PATCHES.add_item(
    (
        "superset-config",
        "# make demo: no LMS single sign-on; the admin logs in with Superset's own form.\n"
        "from flask_appbuilder.security.manager import AUTH_DB  # noqa: E402\n\n"
        "AUTH_TYPE = AUTH_DB\n"
        "AUTH_USER_REGISTRATION = False  # no sign-up form (it would need a reCAPTCHA key)",
    )
)
