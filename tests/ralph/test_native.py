"""
Ralph run natively from the ralph plugin's rendered settings and auth file, and its rendered
init job run by `tutor local do init` against it.

Ralph's default backend is the platform's MongoDB, which cannot run here; its settings are
checked by Ralph's own settings classes. The running Ralph stores statements in ClickHouse (the
embedded server), switched there by a stand-in plugin through the ralph plugin's hooks, as the
aspects plugin does; the stand-in's table comes from the clickhouse plugin's init job.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.harness.processes import free_port
from tests.harness.ralph import RALPH_BIN, native_settings, running_ralph
from tests.harness.tutor import TutorRoot

PLUGINS_ROOT = Path(__file__).parent / "plugins"


class Ralph:
    """The running Ralph, the root it was rendered from, and its users' credentials."""

    def __init__(self, root: TutorRoot, url: str) -> None:
        config = root.config()
        self.root, self.url = root, url
        self.admin = (root.value("RALPH_ADMIN_USERNAME"), config["RALPH_ADMIN_PASSWORD"])
        self.lms = (root.value("RALPH_LMS_USERNAME"), config["RALPH_LMS_PASSWORD"])

    def post(self, statements, auth) -> requests.Response:
        return requests.post(f"{self.url}/xAPI/statements", json=statements, auth=auth, timeout=30)

    def stored(self, auth=None) -> list[dict]:
        reply = requests.get(
            f"{self.url}/xAPI/statements",
            params={"limit": 1000},
            auth=auth or self.admin,
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()["statements"]


@pytest.fixture(scope="module")
def ralph(tmp_path_factory: pytest.TempPathFactory, clickhouse_server) -> Iterator[Ralph]:
    port = free_port()
    root = TutorRoot(tmp_path_factory.mktemp("tutor-root"), plugins_root=PLUGINS_ROOT)
    root.save(
        ["clickhouse", "ralph", "ralphconsumer"],
        {
            "RALPH_HOST": "127.0.0.1",
            "RALPH_PORT": port,
            "CLICKHOUSE_HOST": clickhouse_server.host,
            "CLICKHOUSE_HTTP_PORT": clickhouse_server.port,
            "CLICKHOUSE_ADMIN_USER": clickhouse_server.user,
            "CLICKHOUSE_ADMIN_PASSWORD": clickhouse_server.password,
        },
    )
    init = root.run("local", "do", "init", "--limit", "clickhouse")
    assert "Running init SQL: statements table" in init.stdout
    with running_ralph(root, port) as url:
        yield Ralph(root, url)


def ralph_python(code: str, environment: dict[str, str]) -> str:
    """Run Python in Ralph's virtualenv, with Ralph's settings in the environment."""
    result = subprocess.run(
        [str(RALPH_BIN / "python"), "-c", code],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_default_mongo_settings_are_valid_for_ralph(make_root) -> None:
    root = make_root(["ralph"], {"MONGODB_USERNAME": "openedx", "MONGODB_PASSWORD": "p@ss/word"})
    settings = native_settings(root)
    printed = ralph_python(
        "from ralph.conf import settings\n"
        "from ralph.backends.lrs.mongo import MongoLRSBackendSettings\n"
        "mongo = MongoLRSBackendSettings()\n"
        "print(settings.RUNSERVER_BACKEND, settings.LRS_RESTRICT_BY_SCOPES)\n"
        "print(mongo.CONNECTION_URI, mongo.DEFAULT_DATABASE, mongo.DEFAULT_COLLECTION)",
        settings,
    )
    assert printed.splitlines() == [
        "mongo True",
        "mongodb://openedx:p%40ss%2Fword@mongodb:27017/?authSource=admin ralph statements",
    ]


@pytest.fixture
def in_clickhouse(clickhouse_server):
    """The verbs of the rows Ralph's backend holds for a statement id, in ClickHouse itself."""
    client = clickhouse_server.client()

    def verbs(statement_id: str) -> list[str]:
        return [
            verb
            for (verb,) in client.query(
                "SELECT JSONExtractString(event, 'verb', 'id') "
                "FROM ralphconsumer.xapi_events_all WHERE event_id = {id:UUID}",
                parameters={"id": statement_id},
            ).result_rows
        ]

    return verbs


def statement(verb: str = "http://adlnet.gov/expapi/verbs/attempted", **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": "http://local.openedx.io", "name": "learner-1"}},
        "verb": {"id": verb},
        "object": {
            "id": "http://local.openedx.io/xblock/block-v1:OpenedX+DemoX+Demo+type@problem+block@p1"
        },
        "timestamp": "2026-11-27T10:00:00+00:00",
        **extra,
    }


def test_lms_user_posts_a_statement_and_the_admin_reads_it(ralph: Ralph) -> None:
    sent = statement()
    reply = ralph.post(sent, ralph.lms)
    assert reply.status_code == 200
    assert reply.json() == [sent["id"]]
    [stored] = [s for s in ralph.stored() if s["id"] == sent["id"]]
    assert stored["verb"] == sent["verb"] and stored["actor"] == sent["actor"]
    # Ralph records who sent it: the LMS user's agent from the rendered auth file.
    assert stored["authority"] == {
        "account": {"homePage": "http://local.openedx.io", "name": ralph.lms[0]},
        "objectType": "Agent",
    }


def test_wrong_password_is_refused(ralph: Ralph) -> None:
    before = len(ralph.stored())
    assert ralph.post(statement(), (ralph.lms[0], "not-the-password")).status_code == 401
    assert (
        requests.get(f"{ralph.url}/whoami", auth=(ralph.admin[0], "x"), timeout=10).status_code
        == 401
    )
    assert len(ralph.stored()) == before


def test_invalid_statements_are_refused_and_nothing_of_the_batch_is_stored(ralph: Ralph) -> None:
    before = len(ralph.stored())
    valid, invalid = statement(), statement()
    del invalid["verb"]
    # Ralph answers schema errors with 422 (FastAPI's validation status, its maintainers'
    # choice) and malformed JSON with 400.
    reply = ralph.post([valid, invalid], ralph.lms)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", 1, "verb"]
    reply = requests.post(
        f"{ralph.url}/xAPI/statements",
        data="{not json",
        headers={"Content-Type": "application/json"},
        auth=ralph.lms,
        timeout=10,
    )
    assert reply.status_code == 400
    assert len(ralph.stored()) == before
    assert valid["id"] not in {s["id"] for s in ralph.stored()}


def test_same_id_with_other_content_conflicts_and_a_replay_is_not_duplicated(
    ralph: Ralph, in_clickhouse
) -> None:
    sent = statement()
    assert ralph.post(sent, ralph.lms).status_code == 200
    changed = {**sent, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}}
    reply = ralph.post(changed, ralph.lms)
    assert reply.status_code == 409
    assert sent["id"] in reply.json()["detail"]
    assert ralph.post(sent, ralph.lms).status_code == 204
    matching = [s for s in ralph.stored() if s["id"] == sent["id"]]
    assert [s["verb"]["id"] for s in matching] == [sent["verb"]["id"]]
    assert in_clickhouse(sent["id"]) == [sent["verb"]["id"]]


def test_the_lms_user_reads_only_what_it_wrote(ralph: Ralph) -> None:
    by_admin = statement()
    assert ralph.post(by_admin, ralph.admin).status_code == 200
    mine = {s["id"] for s in ralph.stored(auth=ralph.lms)}
    assert by_admin["id"] not in mine
    assert by_admin["id"] in {s["id"] for s in ralph.stored()}


def test_statements_are_stored_in_the_backend_the_plugin_chose(ralph: Ralph, in_clickhouse) -> None:
    sent = statement()
    assert ralph.post(sent, ralph.lms).status_code == 200
    assert in_clickhouse(sent["id"]) == [sent["verb"]["id"]]


def run_init(root: TutorRoot) -> tuple[int, str]:
    result = root.run("local", "do", "init", "--limit", "ralph", check=False)
    return result.returncode, result.stdout + result.stderr


def test_init_job_checks_both_users(ralph: Ralph) -> None:
    for _ in range(2):
        code, output = run_init(ralph.root)
        assert code == 0, output
        assert "Ralph answers, its backend too" in output
        assert f"User '{ralph.admin[0]}' logs in, with scopes: all" in output
        assert (
            f"User '{ralph.lms[0]}' logs in, with scopes: statements/read/mine, statements/write"
            in output
        )
        assert "Ralph is initialised." in output
        assert ralph.admin[1] not in output and ralph.lms[1] not in output


def test_init_job_fails_clearly_when_the_auth_file_does_not_match(
    ralph: Ralph, tmp_path: Path
) -> None:
    # A new password whose hash Ralph has not read: its auth file still holds the old one.
    old = ralph.lms[1]
    ralph.root.save(settings={"RALPH_LMS_PASSWORD": "a-new-password"})
    try:
        code, output = run_init(ralph.root)
    finally:
        ralph.root.save(settings={"RALPH_LMS_PASSWORD": old})
    assert code != 0
    assert f"Ralph refused the password of user '{ralph.lms[0]}'" in output
    assert "tutor config save --unset RALPH_LMS_HASHED_PASSWORD" in output
    assert "a-new-password" not in output
