"""
The clickhouse plugin's rendered init job, run by `tutor local do init` on this machine
against the embedded ClickHouse server (tests/harness), with host and port overridden.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.aspects.test_clickhouse_access import grants_of
from tests.harness.fixtures import running_clickhouse
from tests.harness.tutor import TutorError, TutorRoot

PLUGINS_ROOT = Path(__file__).parent / "plugins"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, clickhouse_server) -> TutorRoot:
    root = TutorRoot(tmp_path_factory.mktemp("tutor-root"), plugins_root=PLUGINS_ROOT)
    return root.save(
        ["clickhouse"],
        clickhouse_server.tutor_settings(),
    )


@pytest.fixture
def admin(clickhouse_server):
    return clickhouse_server.client()


def run_init(
    root: TutorRoot, tmp_path: Path, settings: dict | None = None, **environment: str
) -> tuple[int, str, list[dict]]:
    """`tutor local do init --limit clickhouse`: exit code, output, jobs the docker stand-in ran."""
    if settings:
        root.save(settings=settings)
    log = tmp_path / "jobs.jsonl"
    log.unlink(missing_ok=True)
    result = root.run(
        "local",
        "do",
        "init",
        "--limit",
        "clickhouse",
        check=False,
        TUTOR_DOCKER_SHIM_LOG=str(log),
        **environment,
    )
    jobs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result.returncode, result.stdout + result.stderr, jobs


def test_init_job_checks_the_admin_login(root: TutorRoot, tmp_path: Path, clickhouse_server):
    code, output, jobs = run_init(root, tmp_path)
    assert code == 0, output
    assert jobs == [{"service": "clickhouse-job", "returncode": 0}]
    assert f"logged in as {clickhouse_server.user}" in output
    assert "ClickHouse is initialised." in output
    assert clickhouse_server.password not in output


def test_wrong_admin_password_fails_with_a_clear_message(
    root: TutorRoot, tmp_path: Path, clickhouse_server
):
    try:
        code, output, jobs = run_init(
            root, tmp_path, {"CLICKHOUSE_ADMIN_PASSWORD": "not-the-password"}
        )
    finally:
        root.save(settings={"CLICKHOUSE_ADMIN_PASSWORD": clickhouse_server.password})
    assert code != 0
    assert jobs == [{"service": "clickhouse-job", "returncode": 1}]
    assert f"ClickHouse refused the admin login of user '{clickhouse_server.user}'" in output
    assert "AUTHENTICATION_FAILED" in output
    assert "Check CLICKHOUSE_ADMIN_USER and CLICKHOUSE_ADMIN_PASSWORD" in output
    assert "not-the-password" not in output


def test_contributed_sql_runs_in_priority_order_and_is_idempotent(
    root: TutorRoot, tmp_path: Path, admin
):
    root.run("plugins", "enable", "chconsumer")
    try:
        code, output, _ = run_init(root, tmp_path)
        assert code == 0, output
        assert output.index("Running init SQL: consumer database") < output.index(
            "Running init SQL: notes table"
        )
        admin.insert("chconsumer.notes", [[1, "kept"]], column_names=["id", "note"])
        schema = admin.command("SHOW CREATE TABLE chconsumer.notes")
        for _ in range(4):
            code, output, _ = run_init(root, tmp_path)
            assert code == 0, output
        assert admin.command("SHOW CREATE TABLE chconsumer.notes") == schema
        assert admin.query("SELECT id, note FROM chconsumer.notes").result_rows == [(1, "kept")]
        comment = admin.query(
            "SELECT comment FROM system.tables WHERE database = 'chconsumer' AND name = 'notes'"
        ).result_rows
        assert comment == [('it\'s "$HOME" `date` \\ CLICKHOUSE_SQL',)]
    finally:
        root.run("plugins", "disable", "chconsumer")


def test_failing_contributed_sql_stops_the_job_with_the_engine_message(
    root: TutorRoot, tmp_path: Path
):
    root.run("plugins", "enable", "chbroken")
    try:
        code, output, jobs = run_init(root, tmp_path)
    finally:
        root.run("plugins", "disable", "chbroken")
    assert code != 0
    assert jobs == [{"service": "clickhouse-job", "returncode": 1}]
    assert "ClickHouse init SQL 'broken statement' failed:" in output
    assert "SYNTAX_ERROR" in output


def test_a_user_declared_by_another_plugin_is_created_and_granted(
    root: TutorRoot, tmp_path: Path, clickhouse_server
):
    root.save(["chuser", "chconsumer"])
    try:
        password = root.config()["CHUSER_PASSWORD"]
        [(_, script)] = root.init_scripts("clickhouse")
        already_logged = len(clickhouse_server.access_log())
        for _ in range(2):  # the second run must be accepted too
            code, output, _ = run_init(root, tmp_path)
            assert code == 0, output
    finally:
        root.run("plugins", "disable", "chuser", "chconsumer")
    # The server gets only the digest, and the job's output neither.
    assert f"IDENTIFIED WITH sha256_hash BY '{hashlib.sha256(password.encode()).hexdigest()}'" in (
        script
    )
    assert password not in script and password not in output
    # After the databases of DEFAULT priority, before the LOW statements that may name users.
    assert (
        output.index("Running init SQL: consumer database")
        < output.index("Running init SQL: user ch_chuser_reader")
        < output.index("Running init SQL: grants of ch_chuser_reader on chuser_notes.*")
        < output.index("Running init SQL: notes table")
    )
    recorded = [
        entry["statement"].replace("`", "")
        for entry in clickhouse_server.access_log()[already_logged:]
    ]
    identified = "IDENTIFIED WITH sha256_hash BY '[HIDDEN]'"
    assert (
        recorded
        == [
            f"CREATE USER IF NOT EXISTS ch_chuser_reader {identified}",
            f"ALTER USER ch_chuser_reader {identified}",
            "GRANT SELECT ON chuser_notes.* TO ch_chuser_reader WITH REPLACE OPTION",
        ]
        * 2
    )
    assert grants_of(recorded) == {"ch_chuser_reader": {("SELECT", "chuser_notes.*")}}
    assert clickhouse_server.client("ch_chuser_reader", password).command("SELECT 1") == 1
    with pytest.raises(Exception, match="AUTHENTICATION_FAILED"):
        clickhouse_server.client("ch_chuser_reader", clickhouse_server.password)


def test_a_user_whose_password_setting_is_missing_is_refused(tmp_path: Path):
    with pytest.raises(TutorError) as refused:
        TutorRoot(tmp_path / "root", plugins_root=PLUGINS_ROOT).save(["clickhouse", "chuserbroken"])
    assert (
        "CHUSERBROKEN_PASSWORD, the password setting of the ClickHouse user 'ch_nobody', "
        "is not a setting"
    ) in str(refused.value)


def test_password_with_shell_and_compose_special_characters(tmp_path: Path):
    password = "p$a$$ss \"w'o`rd\\"
    with running_clickhouse(tmp_path / "clickhouse", "ch_admin", password) as server:
        root = TutorRoot(tmp_path / "root").save(
            ["clickhouse"],
            {
                "CLICKHOUSE_HOST": server.host,
                "CLICKHOUSE_HTTP_PORT": server.port,
                "CLICKHOUSE_ADMIN_PASSWORD": password,
            },
        )
        code, output, _ = run_init(root, tmp_path)
    assert code == 0, output
    assert "logged in as ch_admin" in output


@pytest.fixture(scope="module")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, standing in for an external server's."""
    directory = tmp_path_factory.mktemp("tls")
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(certificate), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return certificate, key


def test_external_server_over_verified_https(tmp_path: Path, tls_certificate):
    certificate, key = tls_certificate
    with running_clickhouse(
        tmp_path / "clickhouse", "default", "cloud-password", tls=tls_certificate
    ) as server:
        root = TutorRoot(tmp_path / "root").save(
            ["clickhouse"],
            {
                "RUN_CLICKHOUSE": False,
                "CLICKHOUSE_SECURE_CONNECTION": True,
                "CLICKHOUSE_HOST": "localhost",
                "CLICKHOUSE_HTTPS_PORT": server.port,
                "CLICKHOUSE_ADMIN_USER": "default",
                "CLICKHOUSE_ADMIN_PASSWORD": "cloud-password",
            },
        )
        # The job trusts the certificate's issuer, as its image trusts public CAs.
        trusting = tmp_path / "wgetrc"
        trusting.write_text(f"ca_certificate = {certificate}\n")
        code, output, _ = run_init(root, tmp_path, WGETRC=str(trusting))
        assert code == 0, output
        assert f"Initialising ClickHouse at https://localhost:{server.port}/" in output
        assert "logged in as default" in output

        untrusting = tmp_path / "wgetrc-empty"
        untrusting.write_text("")
        code, output, _ = run_init(root, tmp_path, WGETRC=str(untrusting))
        assert code != 0
        assert f"The TLS certificate of https://localhost:{server.port}/ could not be verified" in (
            output
        )
