"""Signing in to the admin web app: session cookies, CSRF tokens and roles.

- The session cookie holds a random 256-bit token, signed with the installation's key
  (itsdangerous), HttpOnly, SameSite=Lax, Secure over HTTPS, scoped to the app's path. The database
  keeps only the token's SHA-256, so sessions can be listed and ended, and a database dump opens
  none. A session ends after 12 idle hours or 7 days, whichever comes first.
- Every state-changing request carries the session's CSRF token, in a form field ``csrf_token``
  or (htmx) the ``X-CSRF-Token`` header; the sign-in form, which has no session yet, uses a signed
  cookie of its own (double submit).
- Roles: ``admin`` does everything; ``support`` sees everything and looks after members (points
  adjustments) but changes no configuration: program, campaigns, stores, channels, templates,
  broadcasts, webhooks, API keys and users are admin-only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData

from patron.checkout.service import Caller
from patron.clock import Clock
from patron.db.pool import Database
from patron.errors import Forbidden
from patron.program.settings import Program
from patron.web import store
from patron.web.store import SessionUser

SESSION_COOKIE: Final = "patron_admin"
LOGIN_COOKIE: Final = "patron_admin_login"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "x-csrf-token"
IDLE: Final = timedelta(hours=12)
LIFETIME: Final = timedelta(days=7)
TOUCH_EVERY: Final = timedelta(minutes=5)


class LoginRequired(Exception):
    """No live session: the app answers with the sign-in page."""


@dataclass(frozen=True, slots=True)
class Admin:
    """A signed-in user of the admin app, with what the use cases need."""

    db: Database
    user: SessionUser
    program: Program
    clock: Clock

    @property
    def tenant_id(self) -> int:
        return self.user.tenant_id

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def csrf_token(self) -> str:
        return self.user.csrf_token

    def now(self) -> datetime:
        return self.clock()

    def caller(self) -> Caller:
        """The checkout use cases' view of this user: same tenant, program and clock as the API."""
        return Caller(db=self.db, tenant_id=self.tenant_id, program=self.program, now=self.now())

    def require_admin(self, what: str = "this") -> None:
        if not self.is_admin:
            raise Forbidden(
                f"only an admin may change {what}; you are signed in as support", code="forbidden"
            )


@dataclass(frozen=True, slots=True)
class Posted:
    """A state-changing request whose CSRF token checked out, with its form."""

    admin: Admin
    form: FormData

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value.strip() if isinstance(value, str) else default

    def exact(self, name: str) -> str:
        """The field as typed, spaces at either end kept: a password is checked as it was set."""
        value = self.form.get(name, "")
        return value if isinstance(value, str) else ""

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str)]


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def signer(request: Request) -> URLSafeSerializer:
    """The cookie signer, made once per process from the installation's key."""
    state = request.app.state
    if getattr(state, "signer", None) is None:
        async with db_of(request).transaction() as conn:
            key = await store.secret(conn, secrets.token_bytes(32))
        state.signer = URLSafeSerializer(key, salt="patron-admin")
    result: URLSafeSerializer = state.signer
    return result


def db_of(request: Request) -> Database:
    """The admin app's own pool (opened by the API's lifespan), apart from the one tills use."""
    state = request.app.state.api.state
    database: Database = getattr(state, "admin_db", None) or state.db
    return database


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.api.state.clock
    return clock


def cookie_path(request: Request) -> str:
    return request.scope.get("root_path", "") or "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def start_session(request: Request, response: Response, user_id: str) -> None:
    """Signs the user in: a new session row and its cookie."""
    token = secrets.token_urlsafe(32)
    now = clock_of(request)()
    async with db_of(request).transaction() as conn:
        await store.delete_expired_sessions(conn, now)
        await store.insert_session(
            conn, token_hash(token), user_id, secrets.token_urlsafe(32), now, now + IDLE
        )
    value = (await signer(request)).dumps(token)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(LIFETIME.total_seconds()),
        path=cookie_path(request),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


ONCE_FOR: Final = timedelta(minutes=1)


async def show_once(request: Request, value: dict[str, Any]) -> None:
    """Keeps ``value`` for the next page this session opens, and for that page only, for a
    minute, in the session's row: a form answers with a redirect, so reloading the page it leads
    to resubmits nothing (an API key created twice, before), and the value never leaves the server
    but on that page."""
    token = await _cookie_token(request)
    if token is None:
        raise LoginRequired
    async with db_of(request).transaction() as conn:
        await store.keep_once(conn, token_hash(token), value, clock_of(request)() + ONCE_FOR)


async def take_once(request: Request) -> dict[str, Any] | None:
    """What ``show_once`` kept for this session; taking it forgets it."""
    token = await _cookie_token(request)
    if token is None:
        return None
    async with db_of(request).transaction() as conn:
        return await store.take_once(conn, token_hash(token), clock_of(request)())


async def end_session(request: Request, response: Response) -> None:
    token = await _cookie_token(request)
    if token is not None:
        async with db_of(request).transaction() as conn:
            await store.delete_session(conn, token_hash(token))
    response.delete_cookie(SESSION_COOKIE, path=cookie_path(request), httponly=True, samesite="lax")


async def _cookie_token(request: Request) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        token = (await signer(request)).loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


async def signed_in(request: Request) -> Admin:
    """The dependency of every page: the user behind the session cookie, or LoginRequired."""
    token = await _cookie_token(request)
    if token is None:
        raise LoginRequired
    now = clock_of(request)()
    digest = token_hash(token)
    db = db_of(request)
    async with db.read() as conn:
        user = await store.session_user(conn, digest, now)
    if user is None:
        raise LoginRequired
    if now - user.seen_at > TOUCH_EVERY:
        async with db.transaction() as conn:
            await store.touch_session(conn, digest, now, min(now + IDLE, user.created_at + LIFETIME))
    programs = request.app.state.api.state.programs
    program: Program = programs.get(user.tenant_id, user.version, user.settings)
    return Admin(db=db, user=user, program=program, clock=clock_of(request))


def _same(given: Any, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def posted(request: Request, admin: Annotated[Admin, Depends(signed_in)]) -> Posted:
    """The dependency of every state-changing request: the session plus a matching CSRF token."""
    form = await request.form()
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not _same(given, admin.csrf_token):
        raise Forbidden(
            "the form expired or came from another site; reload the page and try again", code="csrf"
        )
    return Posted(admin=admin, form=form)


# --- the sign-in form's CSRF (no session yet): a signed double-submit cookie ----------------------


async def set_login_cookie(request: Request, response: Response, token: str) -> None:
    """Sets the sign-in form's token (made with ``secrets.token_urlsafe``) in a signed cookie too."""
    response.set_cookie(
        LOGIN_COOKIE,
        (await signer(request)).dumps(token),
        max_age=3600,
        path=cookie_path(request),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


async def check_login_csrf(request: Request, given: Any) -> bool:
    raw = request.cookies.get(LOGIN_COOKIE)
    if not raw:
        return False
    try:
        expected = (await signer(request)).loads(raw)
    except BadSignature:
        return False
    return isinstance(expected, str) and _same(given, expected)


Viewer = Annotated[Admin, Depends(signed_in)]
Form = Annotated[Posted, Depends(posted)]
