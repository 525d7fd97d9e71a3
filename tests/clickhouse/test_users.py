"""The USERS extension point's items checked before anything is rendered (no Tutor root)."""

from __future__ import annotations

import pytest
from tutor import exceptions

from tutorclickhouse import users
from tutorclickhouse.hooks import User


def test_a_first_grant_that_depends_on_a_setting_is_refused_naming_the_user() -> None:
    # The first grant replaces all the others: were it skipped, the next would add to what
    # the user had instead.
    user = User("{{ MY_USER }}", "MY_PASSWORD", [("SELECT", "db.pii", "MY_PII_SETTING")])
    with pytest.raises(exceptions.TutorError) as refused:
        list(users.init_sql([user]))
    assert "first grant of the ClickHouse user '{{ MY_USER }}'" in str(refused.value)
    assert "may not depend on MY_PII_SETTING" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "setting"),
    [("{{ MY_USER }}", "MY_USER"), ("{{MY_USER}}", "MY_USER"), ("reader", ""), ("{{ A }}_x", "")],
)
def test_name_setting_is_the_setting_a_name_is_made_of(name: str, setting: str) -> None:
    assert User(name, "MY_PASSWORD", []).name_setting == setting
