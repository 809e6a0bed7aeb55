"""The admin web app, mounted by the API's composition root under /admin.

It is a FastAPI sub-application so that it has its own error pages (HTML, not the API's JSON) and
no OpenAPI schema, yet it uses the API's database pool, clock and program cache: the parent app is
kept in ``state.api`` and read per request, after the parent's lifespan has opened the pool."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from patron.db.pool import unusable_value
from patron.errors import PatronError, validation_message
from patron.web import render
from patron.web.auth import LoginRequired
from patron.web.routes import (
    campaigns,
    communications,
    dashboard,
    keys,
    login,
    members,
    program,
    stores,
    webhooks,
)
from patron.web.routes import users as users_routes

log = logging.getLogger(__name__)


class CachedStatic(StaticFiles):
    """Static files with a day of browser caching (their names change with the version query)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def create_web_app(api: FastAPI) -> FastAPI:
    web = FastAPI(title="Patron admin", openapi_url=None, docs_url=None, redoc_url=None)
    web.state.api = api
    web.state.signer = None
    web.mount("/static", CachedStatic(directory=render.HERE / "static"), name="static")
    for module in (
        login,
        dashboard,
        members,
        campaigns,
        program,
        stores,
        communications,
        webhooks,
        keys,
        users_routes,
    ):
        web.include_router(module.router)
    _install_errors(web)

    @web.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return web


def _install_errors(web: FastAPI) -> None:
    @web.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        if request.headers.get("hx-request") == "true" and request.method in ("GET", "HEAD"):
            # a fragment (a progress poll, "older entries"): signing in leads back to its page
            page = _page_of(request, request.headers.get("hx-current-url", "")) or render.base(request) + "/"
            location = f"{render.base(request)}/login?next={quote(page)}"
        elif request.method in ("GET", "HEAD"):
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            location = f"{render.base(request)}/login?next={quote(target)}"
        else:
            # a form sent after the session ended: its path answers POST only (a 405 after signing
            # in), so the user goes back to the page the form was on and is asked to send it again
            location = f"{render.base(request)}/login?next={quote(_form_page(request))}&resend=1"
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": location})
        return Response(status_code=303, headers={"Location": location})

    @web.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # the browser left before sending the whole form (htmx drops a check as the user types on):
        # no one reads an answer, and it is no error of Patron's
        return Response(status_code=400)

    @web.exception_handler(PatronError)
    async def _patron(request: Request, exc: PatronError) -> Response:
        return _error_page(request, exc.status, exc.message)

    @web.exception_handler(psycopg.DataError)
    async def _unstorable(request: Request, exc: psycopg.DataError) -> Response:
        # as in the API (api/errors.py): a value from the form that the database cannot hold
        return _error_page(request, 422, unusable_value(exc))

    @web.exception_handler(psycopg.OperationalError)
    @web.exception_handler(psycopg_pool.PoolTimeout)
    async def _database_away(request: Request, exc: Exception) -> Response:
        # as in the API: the pools test their other connections before the next request meets one
        log.warning("the database could not be used: %s", str(exc).splitlines()[0] if str(exc) else exc)
        for pool in ("db", "admin_db"):
            if (database := getattr(request.app.state.api.state, pool, None)) is not None:
                await database.recover()
        return _error_page(request, 503, "the database could not be reached: try again in a moment")

    @web.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = next(iter(exc.errors()), {"msg": "invalid input"})
        return _error_page(request, 422, validation_message(first))

    @web.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return _error_page(request, exc.status_code, "page not found" if exc.status_code == 404 else message)


def _form_page(request: Request) -> str:
    """The page a form was sent from (its Referer) when it is a page of this app on this host
    that answers GET, else the dashboard. A refused form's page is its POST address, which a GET
    answers with a 405."""
    return _page_of(request, request.headers.get("referer", "")) or render.base(request) + "/"


def _page_of(request: Request, url: str) -> str | None:
    """``url``'s path and query if it is a page of this app on this host that answers GET."""
    root = render.base(request)
    parts = urlsplit(url)
    inside = parts.path == root or parts.path.startswith(root + "/")
    if parts.netloc != request.url.netloc or not inside:
        return None
    scope = {"type": "http", "method": "GET", "path": parts.path[len(root) :] or "/", "root_path": ""}
    if not any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


def _error_page(request: Request, status: int, message: str) -> Response:
    if request.headers.get("hx-request") == "true":
        # htmx swaps only 2xx answers by default: show the error where the fragment would go.
        return render.page(request, "_error.html", None, message=message, status=status)
    return render.page(request, "error.html", None, status_code=status, message=message, status=status)
