"""edx-platform's external user ids: each person's anonymous xAPI id, as the test declares it."""

import json
import os
from dataclasses import dataclass


class ExternalIdType:
    XAPI = "xapi"
    CALIPER = "caliper"
    LTI = "lti"


@dataclass
class ExternalId:
    external_user_id: str

    @classmethod
    def add_new_user_id(cls, user, type_name):
        """The person's id of that type, and False: the row already exists."""
        with open(os.environ["OPENEDX_STANDIN_PEOPLE"], encoding="utf-8") as people:
            ids = {person["id"]: person[f"{type_name}_id"] for person in json.load(people)}
        return cls(ids[user.id]), False
