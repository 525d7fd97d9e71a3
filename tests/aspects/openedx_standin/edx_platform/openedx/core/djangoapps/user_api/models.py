"""edx-platform's user preferences: each person's language (pref-lang), as the test declares it."""

import json
import os


class UserPreference:
    @staticmethod
    def get_value(user, key):
        with open(os.environ["OPENEDX_STANDIN_PEOPLE"], encoding="utf-8") as people:
            preferences = {p["id"]: {"pref-lang": p.get("language")} for p in json.load(people)}
        return preferences.get(user.id, {}).get(key)
