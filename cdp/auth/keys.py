"""Write keys and API tokens: random secrets shown once, stored only as a SHA-256 digest.

A digest (not argon2) is right here: the secrets are 256-bit random, so they cannot be guessed
from the digest, and every ingest request must check one in microseconds.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
