"""
The secrets of a Tutor root, to check where they appear: every value of config.yml whose key
ends like a secret's (passwords, bcrypt hashes of passwords, secret keys, tokens), and the
SHA-256 digests that ClickHouse keeps of its users' passwords.
"""

from __future__ import annotations

import hashlib
import re
import typing as t

SECRET_KEY = re.compile(r"(PASSWORD|SECRET|_KEY|TOKEN)$")
# Shorter values (flags, ports) could turn up in any text by chance; generated secrets are longer.
MIN_LENGTH = 8


def secret_values(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    """{key: value} of the secrets saved in config.yml."""
    return {
        key: value
        for key, value in config.items()
        if SECRET_KEY.search(key) and isinstance(value, str) and len(value) >= MIN_LENGTH
    }


def clickhouse_digests(config: t.Mapping[str, t.Any]) -> dict[str, str]:
    """{key: SHA-256 digest} of the ClickHouse users' passwords, as users.xml and SQL hold them."""
    return {
        f"sha256({key})": hashlib.sha256(value.encode()).hexdigest()
        for key, value in secret_values(config).items()
        if "CLICKHOUSE" in key and key.endswith("PASSWORD")
    }


def found_in(text: str, secrets: t.Mapping[str, str]) -> list[str]:
    """The keys of the secrets that `text` holds."""
    return sorted(key for key, value in secrets.items() if value in text)
