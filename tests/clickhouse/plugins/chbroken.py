"""A stand-in plugin whose contributed SQL is invalid: the init job must stop on it."""

from tutorclickhouse.hooks import INIT_SQL

INIT_SQL.add_item(("broken statement", "CREATE DATABSE nowhere"))
