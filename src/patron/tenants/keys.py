"""API keys: random secrets shown once, stored only as SHA-256 hashes.

A key has 256 bits of entropy, so a fast hash is enough (no password-style stretching): nobody
can guess a preimage, and verifying one costs microseconds on every request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "pos"]
ROLES: tuple[Role, ...] = ("admin", "pos")
PREFIX = "ptr_"


@dataclass(frozen=True, slots=True)
class NewKey:
    secret: str
    digest: bytes
    prefix: str


def generate() -> NewKey:
    secret = PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, digest=digest(secret), prefix=secret[:10])


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
