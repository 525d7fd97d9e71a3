"""
A stand-in for a plugin that needs its own ClickHouse user: one item of
tutorclickhouse.hooks.USERS, whose password is the plugin's own secret.
"""

from tutor import hooks

from tutorclickhouse.hooks import USERS, User

hooks.Filters.CONFIG_DEFAULTS.add_item(("CHUSER_USER", "ch_chuser_reader"))
hooks.Filters.CONFIG_UNIQUE.add_item(("CHUSER_PASSWORD", "{{ 24|random_string }}"))

USERS.add_item(User("{{ CHUSER_USER }}", "CHUSER_PASSWORD", [("SELECT", "chuser_notes.*")]))
