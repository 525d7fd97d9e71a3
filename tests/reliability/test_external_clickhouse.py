"""
An external ClickHouse server or ClickHouse Cloud (RUN_CLICKHOUSE false, CLICKHOUSE_HOST the
server, CLICKHOUSE_SECURE_CONNECTION true): nothing of a ClickHouse server is rendered, and every
client of ClickHouse reaches the external host on its HTTPS port, over verified TLS.

Rendered with the four plugins; then `tutor local do init-clickhouse` run against the embedded
server serving HTTPS with a certificate of its own, trusted by the jobs as an image trusts the
public CAs (WGETRC for the clickhouse job's wget, SSL_CERT_FILE for the aspects job's Python).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
import pytest
import requests

from tests.harness.fixtures import ClickHouseServer, running_clickhouse
from tests.harness.processes import free_port
from tests.harness.ralph import RalphProcess
from tests.harness.tutor import TutorRoot
from tests.reliability.conftest import generated, job_dir

HOST = "abc123.eu-west-1.aws.clickhouse.cloud"
HTTPS_PORT = 8443
ALL_PLUGINS = ["clickhouse", "ralph", "superset", "aspects"]
EXTERNAL = {
    "RUN_CLICKHOUSE": False,
    "CLICKHOUSE_SECURE_CONNECTION": True,
    "CLICKHOUSE_HOST": HOST,
    "CLICKHOUSE_ADMIN_USER": "default",
}


@pytest.fixture(scope="module")
def external(make_root) -> TutorRoot:
    return make_root(ALL_PLUGINS, EXTERNAL)


def test_no_clickhouse_server_is_rendered(external: TutorRoot) -> None:
    services = external.compose_config(jobs=True)["services"]
    assert "clickhouse" not in services
    # Nothing waits for a server that is not there.
    for name, service in services.items():
        assert "clickhouse" not in (service.get("depends_on") or {}), name
    manifests = external.manifests()
    servers = [
        (kind, name)
        for kind, name in manifests
        if "clickhouse" in name
        and kind in ("Deployment", "StatefulSet", "Service", "PersistentVolumeClaim")
    ]
    assert servers == []
    # The init job remains: it creates the databases and users on the external server.
    assert ("Job", "clickhouse-job") in manifests
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    assert [name for name, image in images.items() if "clickhouse-server" in image] == [
        "clickhouse-job"
    ]


def test_every_client_uses_the_external_host_over_https(external: TutorRoot) -> None:
    config = external.config()
    url = f"https://{HOST}:{HTTPS_PORT}"
    services = external.compose_config(jobs=True)["services"]

    # Ralph writes statements: host and port; clickhouse-connect speaks HTTPS on 8443.
    ralph = services["ralph"]["environment"]
    prefix = "RALPH_BACKENDS__LRS__CLICKHOUSE__"
    assert (ralph[prefix + "HOST"], ralph[prefix + "PORT"]) == (HOST, str(HTTPS_PORT))

    # Superset reads the reporting models.
    databases = json.loads(
        next(
            line.split("=", 1)[1].strip().strip('"').replace('\\"', '"')
            for line in external.env_file("plugins", "superset", "kustomization.yml").splitlines()
            if "SUPERSET_DATABASES=" in line
        )
    )
    uri = urlsplit(databases["ClickHouse"])
    assert (uri.scheme, uri.hostname, uri.port, uri.query) == (
        "clickhousedb",
        HOST,
        HTTPS_PORT,
        "secure=true",
    )

    # The aspects job (migrations, dbt, its scheduled dbt runs), compose and Kubernetes.
    for name in ("aspects-job", "aspects-dbt"):
        environment = services[name]["environment"]
        assert environment["ASPECTS_CLICKHOUSE_HOST"] == HOST, name
        assert environment["ASPECTS_CLICKHOUSE_PORT"] == str(HTTPS_PORT), name
        assert environment["ASPECTS_CLICKHOUSE_SECURE"].lower() == "true", name
    manifests = external.manifests()
    container = manifests[("Job", "aspects-job")]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (env["ASPECTS_CLICKHOUSE_HOST"], env["ASPECTS_CLICKHOUSE_PORT"]) == (
        HOST,
        str(HTTPS_PORT),
    )
    assert env["ASPECTS_CLICKHOUSE_SECURE"].lower() == "true"

    # platform-plugin-aspects in the LMS and the CMS: the event sink writes course structure.
    for service in ("lms", "cms"):
        settings = external.env_file("apps", "openedx", "settings", service, "production.py")
        assert f'"url": "{url}"' in settings, service

    # The clickhouse init job.
    [(_, script)] = external.init_scripts("clickhouse")
    assert f"clickhouse_url={url}/" in script
    assert config["CLICKHOUSE_ADMIN_PASSWORD"] not in script


def test_an_https_port_ralph_cannot_reach_is_refused(external: TutorRoot) -> None:
    error = external.save_invalid("CLICKHOUSE_HTTPS_PORT", 9440)
    assert "CLICKHOUSE_HTTPS_PORT must be 8443 or 443 with CLICKHOUSE_SECURE_CONNECTION" in error
    assert "9440" in error


# --- init-clickhouse against a server that only speaks verified HTTPS -----------------------


def loopback_address_with_free_port(port: int) -> str:
    """A loopback address (127.0.0.x) where `port` is free: the job needs the HTTPS port 8443."""
    for last in range(2, 64):
        address = f"127.0.0.{last}"
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
            return address
    raise RuntimeError(f"no loopback address has port {port} free")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClickHouseServer, Path]]:
    directory = tmp_path_factory.mktemp("external")
    address = loopback_address_with_free_port(HTTPS_PORT)
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(certificate), "-subj", f"/CN={address}"]
        + ["-addext", f"subjectAltName=IP:{address}"],
        check=True,
        capture_output=True,
    )
    with running_clickhouse(
        directory / "clickhouse",
        "default",
        "cloud-password",
        host=address,
        port=HTTPS_PORT,
        tls=(certificate, key),
    ) as server:
        yield server, certificate


class External:
    """A Tutor root whose ClickHouse is the embedded server over HTTPS, and its CA."""

    def __init__(self, server: ClickHouseServer, certificate: Path, root: TutorRoot) -> None:
        self.server, self.certificate, self.root = server, certificate, root
        # The clickhouse job's wget trusts the CA, as its image trusts the public ones.
        self.wgetrc = root.path / "wgetrc"
        self.wgetrc.write_text(f"ca_certificate = {certificate}\n")

    def client(self):
        return clickhouse_connect.get_client(
            host=self.server.host,
            port=HTTPS_PORT,
            username=self.server.user,
            password=self.server.password,
            secure=True,
            ca_cert=str(self.certificate),
        )


@pytest.fixture(scope="module")
def external_server(
    tls_server: tuple[ClickHouseServer, Path], tmp_path_factory: pytest.TempPathFactory
) -> External:
    server, certificate = tls_server
    root = TutorRoot(tmp_path_factory.mktemp("root")).save(
        ["clickhouse", "ralph", "aspects"],
        {
            **EXTERNAL,
            "CLICKHOUSE_HOST": server.host,
            "CLICKHOUSE_ADMIN_PASSWORD": server.password,
            "RALPH_HOST": "127.0.0.1",
            "RALPH_PORT": free_port(),
        },
    )
    return External(server, certificate, root)


def test_init_clickhouse_on_an_external_server_over_verified_tls(
    external_server: External, tmp_path: Path
) -> None:
    server, certificate, root = (
        external_server.server,
        external_server.certificate,
        external_server.root,
    )
    trusting = external_server.wgetrc
    untrusting = tmp_path / "wgetrc-empty"
    untrusting.write_text("")

    # Without the server's CA, the jobs refuse the server: the clickhouse job...
    refused = root.run(
        "local",
        "do",
        "init-clickhouse",
        check=False,
        ASPECTS_JOB_DIR=job_dir(root),
        WGETRC=str(untrusting),
    )
    assert refused.returncode != 0
    assert f"The TLS certificate of https://{server.host}:{HTTPS_PORT}/ could not be verified" in (
        refused.stdout + refused.stderr
    )

    result = root.run(
        "local",
        "do",
        "init-clickhouse",
        ASPECTS_JOB_DIR=job_dir(root),
        WGETRC=str(trusting),
        SSL_CERT_FILE=str(certificate),
    )
    output = result.stdout + result.stderr
    assert f"Initialising ClickHouse at https://{server.host}:{HTTPS_PORT}/" in output
    assert f"ClickHouse https://{server.host}:{HTTPS_PORT} as ch_migrations" in output
    assert "The schema is now at" in output and "Completed successfully" in output
    assert server.password not in output

    # ... and the aspects job (migrations, dbt) does too, once the databases exist.
    refused = root.init_aspects(check=False)
    assert refused.returncode != 0
    assert f"The TLS certificate of https://{server.host}:{HTTPS_PORT}/ could not be verified" in (
        refused.stdout + refused.stderr
    )
    assert "[1/20] Waiting" not in refused.stdout  # at once: waiting would not help

    client = external_server.client()
    tables = {row[0] for row in client.query("SHOW TABLES FROM reporting").result_rows}
    assert {"xapi_events_parsed", "course_enrollments_daily", "video_engagement"} <= tables
    assert client.command("SELECT groupArray(version_num) FROM xapi.aspects_schema_version")


@pytest.mark.slow
def test_ralph_stores_statements_on_an_external_server_over_verified_tls(
    external_server: External,
) -> None:
    root, certificate = external_server.root, external_server.certificate
    if not external_server.client().command("EXISTS TABLE xapi.xapi_events_all"):
        root.run(
            "local",
            "do",
            "init-clickhouse",
            ASPECTS_JOB_DIR=job_dir(root),
            WGETRC=str(external_server.wgetrc),
            SSL_CERT_FILE=str(certificate),
        )
    client = external_server.client()
    # Ralph, from its rendered settings, stores statements over verified TLS; it refuses a server
    # whose certificate it cannot verify.
    port = int(root.value("RALPH_PORT"))
    lms = (root.value("RALPH_LMS_USERNAME"), root.config()["RALPH_LMS_PASSWORD"])
    statements = generated(20, seed=11)
    for trusted, batch in ((False, statements[:10]), (True, statements[10:])):
        ralph = RalphProcess(
            root, port, environment={"SSL_CERT_FILE": str(certificate)} if trusted else {}
        )
        ralph.start()
        try:
            answer = requests.post(f"{ralph.url}/xAPI/statements", json=batch, auth=lms, timeout=60)
        finally:
            ralph.stop()
        assert answer.ok == trusted, answer.text
    stored = client.command(
        "SELECT count() FROM xapi.xapi_events_all WHERE event_id IN {ids:Array(UUID)}",
        parameters={"ids": [s["id"] for s in statements]},
    )
    assert stored == 10
    assert "certificate verify failed" in ralph.log_path.read_text().lower()
