"""
Ralph's own users come from one table (tutorralph.settings.OWN_USERS): each has its settings,
its auth file entry, a login checked by the init job, and its password in the job's
environment (compose and Kubernetes); the README lists each.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.harness.tutor import TutorRoot
from tutorralph.settings import OWN_USERS

README = Path(__file__).resolve().parents[2] / "tutor-contrib-ralph" / "README.md"
# Other usernames than the defaults: each place must read the setting, not the default.
RENAMED = {f"{user.prefix}_USERNAME": f"own_{user.role.lower()}" for user in OWN_USERS}


@pytest.fixture(scope="module")
def root(make_root) -> TutorRoot:
    return make_root(["ralph"], RENAMED)


def test_the_table_holds_the_admin_and_the_lms_user() -> None:
    assert [user.role for user in OWN_USERS] == ["ADMIN", "LMS"]
    assert len({user.username for user in OWN_USERS}) == len(OWN_USERS)


def test_each_own_user_is_in_the_auth_file_with_its_scopes_and_hash(root: TutorRoot) -> None:
    config = root.config()
    entries = json.loads(root.env_file("plugins", "ralph", "apps", "auth.json"))
    own = entries[: len(OWN_USERS)]
    assert [entry["username"] for entry in own] == list(RENAMED.values())
    for user, entry in zip(OWN_USERS, own, strict=True):
        assert entry["scopes"] == list(user.scopes)
        assert entry["agent"]["account"]["name"] == RENAMED[f"{user.prefix}_USERNAME"]
        assert entry["hash"] == config[f"{user.prefix}_HASHED_PASSWORD"]


def test_the_init_job_logs_in_as_each_own_user_with_its_password(root: TutorRoot) -> None:
    config = root.config()
    [(_, script)] = root.init_scripts("ralph")
    expected = [[RENAMED[f"{user.prefix}_USERNAME"], user.prefix] for user in OWN_USERS]
    assert f"users = {json.dumps(expected)}\n" in script
    passwords = {f"{user.prefix}_PASSWORD": config[f"{user.prefix}_PASSWORD"] for user in OWN_USERS}
    job = root.compose_config(jobs=True)["services"]["ralph-job"]
    assert {k: v for k, v in job["environment"].items() if k in passwords} == passwords
    assert set(job["environment"]) == set(passwords)
    # The generated Secret's name ends with a hash of its content.
    [secret] = [
        doc
        for (kind, name), doc in root.manifests().items()
        if kind == "Secret" and name.startswith("ralph-job-")
    ]
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == passwords


def test_the_readme_describes_each_own_user() -> None:
    readme = README.read_text(encoding="utf-8")
    for user in OWN_USERS:
        assert f"`{user.prefix}_USERNAME` (`{user.username}`)" in readme
