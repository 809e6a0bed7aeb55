"""Signing in and out."""

from __future__ import annotations

import secrets
import unicodedata
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from patron.web import auth, render, users
from patron.web.auth import Form

router = APIRouter()


# what a path and query may hold as they are; anything else (a space, a letter beyond ASCII) is
# percent-encoded, since a Location header carries ASCII only
_URL_SAFE = "/?&=%#:@!$'()*+,;[]~"


def safe_next(request: Request, target: str | None) -> str:
    """A path inside this app to go to after signing in; never an open redirect to another site.
    A control character (a line break, a NUL) cannot be sent in the Location header: such a
    target is ignored, as one to another site is, rather than failing the sign-in."""
    root = render.base(request)
    path = target.partition("?")[0] if target else ""
    if target and root and (path == root or target.startswith(root + "/")):
        target = target[len(root) :]  # "/admin" itself is the app's own root, its query kept
        target = target if target.startswith("/") else "/" + target
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(unicodedata.category(ch) == "Cc" for ch in target)
    ):
        return "/"
    return quote(target, safe=_URL_SAFE)


async def _form(
    request: Request, *, target: str, email: str, error: str | None, status: int, resend: bool = False
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render.page(
        request,
        "login.html",
        None,
        next=target,
        email=email,
        error=error,
        resend=resend,
        login_token=token,
        status_code=status,
    )
    await auth.set_login_cookie(request, response, token)
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None, resend: str = "") -> Response:
    """``resend=1``: a form was sent after the session ended, and was not saved."""
    return await _form(
        request, target=safe_next(request, next), email="", error=None, status=200, resend=resend == "1"
    )


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email", ""))
    password = str(form.get("password", ""))
    target = safe_next(request, str(form.get("next", "")))
    if not await auth.check_login_csrf(request, form.get(auth.CSRF_FIELD)):
        return await _form(
            request, target=target, email=email, error="The form expired; please try again.", status=403
        )
    async with auth.db_of(request).transaction() as conn:
        user = await users.authenticate(conn, email, password)
    if user is None:
        return await _form(request, target=target, email=email, error="Wrong email or password.", status=401)
    response = render.redirect(request, target)
    await auth.start_session(request, response, user["id"])
    response.delete_cookie(auth.LOGIN_COOKIE, path=auth.cookie_path(request))
    return response


@router.post("/logout")
async def logout(request: Request, posted: Form) -> Response:
    response = Response(status_code=303, headers={"Location": render.base(request) + "/login"})
    await auth.end_session(request, response)
    return response
