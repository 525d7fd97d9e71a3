"""
Running the stand-in LMS from tests: ``running_lms(...)`` starts it in a subprocess from its
own virtualenv (.venv-lms, from requirements/lms.txt) and yields an ``LmsServer``.

This module runs in the tests' virtualenv, which has neither Django nor PyJWT: keys are made
and JWTs checked with pycryptodome, which Tutor itself uses for the LMS's JWT key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness.processes import terminate

REPO_ROOT = Path(__file__).resolve().parents[3]
LMS_PYTHON = REPO_ROOT / ".venv-lms" / "bin" / "python"
READY_LINE = re.compile(r"listening on (?P<url>\S+), issuer (?P<issuer>\S+)")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0
JWK_KEY_ID = "openedx"  # the key id Tutor gives the LMS's signing key

People = Path | Sequence[Mapping[str, Any]] | Mapping[str, Any]


class LmsError(RuntimeError):
    """The stand-in LMS did not start, stop or answer as expected; the message ends with its log."""


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _base64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_to_base64url(number: int) -> str:
    return _base64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def new_private_key_pem(bits: int = 2048) -> str:
    """An RSA private key (PEM), made as Tutor makes JWT_RSA_PRIVATE_KEY."""
    from Crypto.PublicKey import RSA

    return RSA.generate(bits).export_key().decode()


def public_key_pem(private_key_pem: str) -> str:
    from Crypto.PublicKey import RSA

    return RSA.import_key(private_key_pem).public_key().export_key().decode()


def public_jwk(private_key_pem: str) -> dict[str, str]:
    """The public key as the entry of the LMS's JWT_PUBLIC_SIGNING_JWK_SET that Tutor writes."""
    from Crypto.PublicKey import RSA

    key = RSA.import_key(private_key_pem)
    return {
        "kid": JWK_KEY_ID,
        "kty": "RSA",
        "e": _int_to_base64url(key.e),
        "n": _int_to_base64url(key.n),
    }


def sign_jwt(claims: Mapping[str, Any], private_key_pem: str) -> str:
    """An RS256 JWT of `claims`: for tokens the LMS did not issue (forged, foreign keys)."""
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15

    header = _base64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = _base64url(json.dumps(dict(claims)).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = pkcs1_15.new(RSA.import_key(private_key_pem)).sign(SHA256.new(signing_input))
    return f"{header}.{payload}.{_base64url(signature)}"


def verify_jwt(
    token: str, public_key: str | None = None, secret: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """
    The header and claims of a JWT whose signature verifies: RS256/384/512 with `public_key`
    (PEM), HS256 with `secret`; ValueError otherwise. Claims are not checked: callers assert.
    """
    from Crypto.Hash import SHA256, SHA384, SHA512
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15

    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(_base64url_decode(header_part))
    signing_input = f"{header_part}.{payload_part}".encode()
    signature = _base64url_decode(signature_part)
    rsa_hashes = {"RS256": SHA256, "RS384": SHA384, "RS512": SHA512}
    if header.get("alg") in rsa_hashes and public_key:
        digest = rsa_hashes[header["alg"]].new(signing_input)
        pkcs1_15.new(RSA.import_key(public_key)).verify(digest, signature)
    elif header.get("alg") == "HS256" and secret:
        expected = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise ValueError("invalid HS256 signature")
    else:
        raise ValueError(f"cannot verify a JWT signed with {header.get('alg')!r}")
    return header, json.loads(_base64url_decode(payload_part))


class LmsServer:
    """A stand-in LMS running in a subprocess, on its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        people: People,
        redirect_uris: Sequence[str],
        client_id: str = "superset-sso",
        client_secret: str = "superset-sso-secret",
        private_key_pem: str | None = None,
        issuer: str | None = None,
        audience: str = "openedx",
        skip_authorization: bool = True,
        force_asymmetric_jwt: bool = True,
        jwt_secret_key: str | None = None,
        jwt_algorithm: str = "RS256",
        jwt_expire_seconds: int = 3600,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: Path | None = None,
        jwt_flaws: Mapping[str, str] | None = None,
        allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.people = people
        self.redirect_uris = list(redirect_uris)
        self.client_id = client_id
        self.client_secret = client_secret
        self.private_key_pem = private_key_pem or new_private_key_pem()
        self.issuer = issuer  # None: the server's default, known once it runs
        self.audience = audience
        self.skip_authorization = skip_authorization
        # False: the token endpoint signs with the secret unless asked for `asymmetric_jwt`.
        self.force_asymmetric_jwt = force_asymmetric_jwt
        self.jwt_secret_key = jwt_secret_key or secrets.token_urlsafe(32)
        self.jwt_algorithm = jwt_algorithm  # of asymmetric JWTs; edx-platform's default: RS512
        self.jwt_expire_seconds = jwt_expire_seconds
        # {username: flaw}: the tokens of these users come with that flaw (forged, expired...:
        # JWT_FLAWS in the LMS's settings.py), for tests of clients that must refuse them.
        self.jwt_flaws = dict(jwt_flaws or {})
        self.host = host
        # The host names it answers to (Django's ALLOWED_HOSTS): a browser may reach it by
        # the platform's name, mapped to this machine.
        self.allowed_hosts = list(allowed_hosts)
        self.port = port  # 0 until started: then the port it listens on, kept across restarts
        self.log_path = Path(log_path) if log_path else self.data_dir / "lms.log"
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def public_key_pem(self) -> str:
        return public_key_pem(self.private_key_pem)

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key_pem)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def environment(self) -> dict[str, str]:
        """The LMS_* settings the server (and issue_jwt) read, on a clean environment."""
        users_file = self.people if isinstance(self.people, Path) else self.data_dir / "users.json"
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.data_dir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "LMS_DATA_DIR": str(self.data_dir),
            "LMS_USERS_FILE": str(users_file),
            "LMS_OAUTH2_CLIENT_ID": self.client_id,
            "LMS_OAUTH2_CLIENT_SECRET": self.client_secret,
            "LMS_OAUTH2_REDIRECT_URIS": " ".join(self.redirect_uris),
            "LMS_OAUTH2_SKIP_AUTHORIZATION": "true" if self.skip_authorization else "false",
            "LMS_JWT_PRIVATE_KEY": self.private_key_pem,
            "LMS_JWT_AUDIENCE": self.audience,
            "LMS_JWT_ALGORITHM": self.jwt_algorithm,
            "LMS_JWT_EXPIRE_SECONDS": str(self.jwt_expire_seconds),
            "LMS_JWT_SECRET_KEY": self.jwt_secret_key,
            "LMS_JWT_FORCE_CREATE_ASYMMETRIC": "true" if self.force_asymmetric_jwt else "false",
            "LMS_JWT_FLAWS": json.dumps(self.jwt_flaws),
            "LMS_ALLOWED_HOSTS": " ".join(self.allowed_hosts),
        }
        if self.issuer:
            environment["LMS_JWT_ISSUER"] = self.issuer
        return environment

    def start(self) -> LmsServer:
        if not LMS_PYTHON.exists():
            raise LmsError(f"{LMS_PYTHON} does not exist: run `make install`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(self.people, Path):
            (self.data_dir / "users.json").write_text(json.dumps(self.people, indent=2))
        command = [str(LMS_PYTHON), "-m", "tests.harness.lms"]
        command += ["--host", self.host, "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        ready = self._wait_for_ready_line()
        self.port = int(ready["url"].rsplit(":", 1)[1])
        self.issuer = ready["issuer"]
        self._wait_for_heartbeat(deadline)
        return self

    def stop(self) -> None:
        """Stop with SIGTERM, as a service manager would; kill only if it hangs."""
        process, self._process = self._process, None
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if not terminate(process, STOP_TIMEOUT):
            raise LmsError(self._with_log("the LMS ignored SIGTERM"))

    def jwt_for(
        self,
        username: str,
        scopes: Sequence[str] | None = None,
        expires_in: int | None = None,
        symmetric: bool = False,
    ) -> str:
        """A JWT access token for `username`, as the token endpoint would issue it."""
        command = [str(LMS_PYTHON), "-m", "tests.harness.lms.issue_jwt", username]
        command += [f"--scope={scope}" for scope in scopes or ()]
        if expires_in is not None:
            command.append(f"--expires-in={expires_in}")
        if symmetric:
            command.append("--symmetric")
        result = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        if result.returncode != 0:
            raise LmsError(f"issue_jwt {username} failed:\n{result.stderr[-4000:]}")
        return result.stdout.strip()

    def verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a JWT whose signature this LMS's public key (or JWT secret) verifies."""
        return verify_jwt(token, self.public_key_pem, self.jwt_secret_key)[1]

    def __enter__(self) -> LmsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_for_ready_line(self) -> dict[str, str]:
        """The server prints one line, once it listens; reading it needs no polling thread."""
        assert self._process is not None and self._process.stdout is not None
        # readline() blocks: a server that dies closes its stdout, which ends the wait.
        line = self._process.stdout.readline()
        match = READY_LINE.search(line)
        if match is None:
            self._fail(f"the LMS did not report ready (it printed {line!r})")
        return match.groupdict()

    def _wait_for_heartbeat(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/heartbeat", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self._fail(f"{self.url}/heartbeat did not answer within {START_TIMEOUT:.0f}s")

    def _fail(self, reason: str) -> Any:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
        raise LmsError(self._with_log(reason))

    def _with_log(self, reason: str) -> str:
        tail = "\n".join(self.log().splitlines()[-40:])
        return f"{reason} (data directory {self.data_dir}).\nLMS log:\n{tail}"


def superset_client_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """
    running_lms options for the Superset of a Tutor root's configuration: its OAuth2 client, the
    platform's JWT key and issuer, and edx-platform's JWT defaults (RS512, and a shared-secret
    JWT unless asked for an asymmetric one).
    """
    return {
        "client_id": config["SUPERSET_OAUTH2_CLIENT_ID"],
        "client_secret": config["SUPERSET_OAUTH2_CLIENT_SECRET"],
        "private_key_pem": config["JWT_RSA_PRIVATE_KEY"],
        "issuer": config["JWT_COMMON_ISSUER"],
        "force_asymmetric_jwt": False,
        "jwt_algorithm": "RS512",
    }


@contextmanager
def running_lms(
    data_dir: Path | str,
    people: People,
    redirect_uris: Sequence[str],
    **options: Any,
) -> Iterator[LmsServer]:
    """
    A stand-in LMS on `data_dir` for the duration of the block. `people` is the users file
    (a path, or its content: see people.py); options are those of LmsServer (client id and
    secret, private key, issuer, audience, skip_authorization, force_asymmetric_jwt,
    jwt_secret_key, jwt_algorithm, jwt_expire_seconds, host, port, log_path: by default
    lms.log in `data_dir`, jwt_flaws, allowed_hosts).
    """
    with LmsServer(Path(data_dir), people, redirect_uris, **options) as server:
        yield server
