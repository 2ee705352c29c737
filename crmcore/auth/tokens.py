"""API tokens: random, shown once, stored as a SHA-256."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "crm_"  # noqa: S105 - a label, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
