"""A stand-in plugin whose ClickHouse user names a password setting that nobody defines."""

from tutorclickhouse.hooks import USERS, User

USERS.add_item(User("ch_nobody", "CHUSERBROKEN_PASSWORD", [("SELECT", "nowhere.*")]))
