"""
JWT access tokens as edx-platform builds them (openedx/core/djangoapps/oauth_dispatch/jwt.py):
the same claims, the email and profile claims only for the scopes that ask for them, signed
with the LMS's private key (the tokens of users named in LMS_JWT_FLAWS with one flaw each);
and their verification, as edx-drf-extensions' JwtAuthentication does it for the APIs
(signature, issuer, audience, expiry).
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from oauth2_provider.models import Application, get_access_token_model

from tests.harness.lms.people import full_name

# Scopes a token gets when none were asked for (edx-platform: "for legacy compatibility").
LEGACY_SCOPES = ["email", "profile"]


def anonymous_user_id(user: AbstractBaseUser) -> str:
    """The `sub` claim: edx-platform's anonymous id (shake_128 of the secret key and user id)."""
    hasher = hashlib.shake_128()
    hasher.update(settings.SECRET_KEY.encode())
    hasher.update(str(user.pk).encode())
    return hasher.hexdigest(16)


def build_jwt(
    user: User,
    scopes: list[str] | None = None,
    expires_in: int | None = None,
    grant_type: str = "",
    asymmetric: bool = True,
) -> str:
    """edx-platform's `_create_jwt`, for an unrestricted application and no role claims."""
    config = settings.LMS_JWT
    scopes = scopes or LEGACY_SCOPES
    now = int(time.time())
    expires_in = config["EXPIRE_SECONDS"] if expires_in is None else expires_in
    payload: dict[str, Any] = {
        "aud": config["AUDIENCE"],
        "exp": now + expires_in,
        "grant_type": grant_type,
        "iat": now,
        "iss": config["ISSUER"],
        "preferred_username": user.username,
        "scopes": scopes,
        "version": config["VERSION"],
        "sub": anonymous_user_id(user),
        "filters": [],
        "is_restricted": False,
        "email_verified": user.is_active,
    }
    for scope in scopes:
        if scope == "user_id":
            payload["user_id"] = user.pk
        elif scope == "email":
            payload["email"] = user.email
        elif scope == "profile":
            payload.update(
                name=full_name(user),
                family_name=user.last_name,
                given_name=user.first_name,
                administrator=user.is_staff,
                superuser=user.is_superuser,
            )
    flaw = config["FLAWS"].get(user.username)
    if flaw == "expired":
        payload["exp"] = now - 60
    elif flaw == "audience":
        payload["aud"] = "another-service"
    elif flaw == "issuer":
        payload["iss"] = "https://another-lms.example/oauth2"
    elif flaw == "unsigned":
        return jwt.encode(payload, None, algorithm=None)
    if asymmetric or config["FORCE_CREATE_ASYMMETRIC"]:
        key = _foreign_private_key() if flaw == "foreign-key" else config["PRIVATE_KEY"]
        return jwt.encode(payload, key, algorithm=config["ALGORITHM"])
    secret = "a-secret-of-no-lms" if flaw == "foreign-key" else config["SECRET_KEY"]
    return jwt.encode(payload, secret, algorithm=config["SYMMETRIC_ALGORITHM"])


@functools.cache
def _foreign_private_key() -> RSAPrivateKey:
    """An RSA key of no LMS, for tokens that LMS_JWT_FLAWS says are forged."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwt_token_response(token_response: dict[str, Any], asymmetric: bool) -> dict[str, Any]:
    """
    The token endpoint's answer with its opaque access token replaced by a JWT, as
    edx-platform's AccessTokenView does when asked for `token_type=jwt`.
    """
    checksum = hashlib.sha256(token_response["access_token"].encode()).hexdigest()
    access_token = (
        get_access_token_model()
        .objects.select_related("user", "application")
        .get(token_checksum=checksum)
    )
    grant_type = access_token.application.authorization_grant_type
    scopes = token_response.get("scope", "").split() or list(LEGACY_SCOPES)
    # edx-platform adds user_id to password-grant tokens only.
    if grant_type == Application.GRANT_PASSWORD and "user_id" not in scopes:
        scopes.append("user_id")
    expires_in = settings.LMS_JWT["EXPIRE_SECONDS"]
    return {
        **token_response,
        "access_token": build_jwt(access_token.user, scopes, expires_in, grant_type, asymmetric),
        "token_type": "JWT",
        "expires_in": expires_in,
        "scope": " ".join(scopes),
    }


@functools.cache
def _public_key(private_key_pem: str) -> RSAPublicKey:
    private_key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    assert isinstance(private_key, RSAPrivateKey), "the LMS signs with an RSA key"
    return private_key.public_key()


def verified_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT this LMS signed; raises jwt.InvalidTokenError otherwise."""
    config = settings.LMS_JWT
    if jwt.get_unverified_header(token).get("alg") == config["SYMMETRIC_ALGORITHM"]:
        key, algorithm = config["SECRET_KEY"], config["SYMMETRIC_ALGORITHM"]
    else:
        key, algorithm = _public_key(config["PRIVATE_KEY"]), config["ALGORITHM"]
    return jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        audience=config["AUDIENCE"],
        issuer=config["ISSUER"],
        options={"require": ["exp", "iat", "iss", "aud", "preferred_username"]},
    )
