"""Admin users: creating them, checking passwords (argon2), changing roles.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's
recommendations); a hash made with older parameters is upgraded at the next sign-in."""

from __future__ import annotations

from typing import Any, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email

from patron.db.pool import Connection
from patron.errors import Conflict, InvalidInput
from patron.tenants import store as tenants
from patron.web import store

Role = Literal["admin", "support"]
ROLES: Final[tuple[Role, ...]] = ("admin", "support")
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024

_hasher = PasswordHasher()
# Verified when the email is unknown, so that a wrong email takes as long as a wrong password.
_DUMMY_HASH: Final = _hasher.hash("patron: no such user")


def normalize_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"email: {exc}", code="invalid_email", field="email") from exc


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInput("role: either admin or support", field="role")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters", field="password")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        # no one types these; twenty NULs passed the length check
        raise InvalidInput("password: no control characters", field="password")
    if not password.strip():  # spaces are kept as typed, but spaces alone are no password
        raise InvalidInput("password: not spaces alone", field="password")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


async def create(conn: Connection, tenant_slug: str, email: str, password: str, role: str = "admin") -> str:
    """A new user of the tenant ``tenant_slug``; returns its id."""
    tenant_id = await tenants.tenant_id_by_slug(conn, tenant_slug)
    return await create_in(conn, tenant_id, email, password, role)


async def create_in(conn: Connection, tenant_id: int, email: str, password: str, role: str) -> str:
    address = normalize_email(email)
    return await store.insert_user(conn, tenant_id, address, hash_password(password), check_role(role))


async def authenticate(conn: Connection, email: str, password: str) -> dict[str, Any] | None:
    """The user with this email and password, or None (unknown, wrong password, or disabled)."""
    try:
        address = normalize_email(email)
    except InvalidInput:
        address = ""
    user = await store.user_for_login(conn, address) if address else None
    if user is None:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user["password_hash"], password) or user["disabled_at"] is not None:
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        await store.set_password_hash(conn, user["id"], _hasher.hash(password))
    await store.mark_login(conn, user["id"])
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def change(
    conn: Connection, tenant_id: int, user_id: str, *, role: str, disabled: bool, acting_user: str
) -> None:
    """Changes a user's role or disables them; the program always keeps one active admin."""
    check_role(role)
    admins = await store.lock_active_admins(conn, tenant_id)  # first: the user read next is then current
    current = await store.get_user(conn, tenant_id, user_id)
    demoted = current["role"] == "admin" and current["disabled_at"] is None and (role != "admin" or disabled)
    if demoted and admins <= 1:
        raise Conflict("the program needs at least one active admin", code="last_admin")
    if user_id == acting_user and disabled:
        raise Conflict("you cannot disable yourself", code="cannot_disable_self")
    await store.update_user(conn, tenant_id, user_id, role=role, disabled=disabled)
    if disabled or role != current["role"]:
        await store.delete_user_sessions(conn, user_id)


async def set_password(conn: Connection, tenant_id: int, user_id: str, password: str) -> None:
    await store.get_user(conn, tenant_id, user_id)
    await store.set_password_hash(conn, user_id, hash_password(password))
    await store.delete_user_sessions(conn, user_id)
