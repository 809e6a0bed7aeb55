"""The one place where errors become HTTP answers of contract 2's shape:
``{"error": {"code": "...", "message": "..."}}`` (plus ``field`` when one field is at fault)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

from patron.api import deps
from patron.api.responses import JSONResponse
from patron.api.routing import is_json
from patron.conditions import ConditionError
from patron.db.pool import unusable_value
from patron.errors import Busy, PatronError, validation_message

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


DATABASE_UNAVAILABLE = (
    "the connection to the database was lost; send the request again: a receipt, return,"
    " cancellation or adjustment recorded before the loss is answered with its first result,"
    " never recorded twice"
)


DATABASE_FULL = (
    "the database's disk is full; nothing was recorded: send the request again once its operator"
    " has freed space"
)
DATABASE_OUT_OF = "the database is out of resources ({}); nothing was recorded: send the request again later"


BUSY_LOCKED = (
    "what this request must change (the member's points, usually) is held by another request or"
    " an import for too long; nothing was recorded: send it again"
)
BUSY_POOL = (
    "this server is busy: every database connection was in use until the request gave up; nothing"
    " was recorded: send it again"
)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def validation_code(error: Any) -> str:
    """The code of a validation error: a condition that does not parse has its own wherever it is
    given (campaigns, the program, adjustments; contract 6), the rest is ``invalid_input``."""
    return (
        "invalid_condition"
        if isinstance(error.get("ctx", {}).get("error"), ConditionError)
        else "invalid_input"
    )


def _refusal(exc: PatronError, body: dict[str, Any]) -> JSONResponse:
    # RFC 7235: a 401 names the scheme the client should authenticate with; a 503 says when to
    # send the request again
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 503:
        headers = {"Retry-After": "1"}
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    """The field at fault, without where FastAPI found it (a template's own field "body" stays)."""
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    return ".".join(str(p) for p in loc)


def _allowed(request: Request, routes: list[BaseRoute]) -> str:
    """Every method of the path, for a 405's ``Allow`` (RFC 9110): Starlette lists those of the
    first route whose path matched only (DELETE /v1/program answered ``Allow: GET``). HEAD is
    answered as GET (``HeadAsGet``)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    # the routes of a 405's Allow: the routers' (which FastAPI may hold wrapped) and the app's own
    routed = [route for router in routers for route in router.routes]

    @app.exception_handler(PatronError)
    async def _patron(_: Request, exc: PatronError) -> JSONResponse:
        body = error_body(exc.code, exc.message, exc.field)
        if exc.status == 422 and exc.field:
            # the shape of a 422 the request's validation answers for the same field (a birthday
            # after today in the program's zone came without it, one after the furthest zone's with)
            said = exc.message.removeprefix(f"{exc.field}: ")
            body["error"]["details"] = [{"field": exc.field, "message": said}]
        return _refusal(exc, body)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/v1/"):
            # FastAPI reads the body before it asks for the key; contract 2 puts the key first:
            # without one, or with an unknown one, the answer is 401 whatever the body, and a pos
            # key on an admin route is a 403 whatever the body (a malformed one was a 400).
            try:
                principal = await deps.authenticate(request)
                route = request.scope.get("route")
                if isinstance(route, APIRoute) and depends_on(route.dependant, deps.admin):
                    deps.require_admin(principal)
            except PatronError as refused:
                return _refusal(refused, error_body(refused.code, refused.message))
        errors = list(exc.errors())
        if invalid := next((e for e in errors if e.get("type") == "json_invalid"), None):
            reason = (invalid.get("ctx") or {}).get("error")
            message = f"the body is not valid JSON: {reason}" if reason else "the body is not valid JSON"
            return JSONResponse(error_body("malformed_json", message), status_code=400)
        sent = request.headers.get("content-type", "")
        if is_json(sent) and any(
            e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors
        ):
            return JSONResponse(
                error_body("malformed_json", "the body is empty: send a JSON document"), status_code=400
            )
        if not is_json(sent) and any(e.get("loc", ())[:1] == ("body",) for e in errors):
            # a body that was not read as JSON at all (curl's -d sends a form by default)
            message = (
                f"the body must be JSON, sent with Content-Type: application/json (not {sent or 'none'})"
            )
            return JSONResponse(error_body("unsupported_media_type", message), status_code=415)
        first = errors[0] if errors else {"loc": (), "msg": "invalid input"}
        field = _field_name(tuple(first.get("loc", ())))
        message = f"{field}: {validation_message(first)}" if field else validation_message(first)
        details = [
            {"field": _field_name(tuple(e.get("loc", ()))), "message": validation_message(e)} for e in errors
        ]
        body = error_body(validation_code(first), message, field or None)
        body["error"]["details"] = details
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = exc.headers
        if exc.status_code == 405 and (allowed := _allowed(request, [*routed, *app.router.routes])):
            headers = {**(headers or {}), "Allow": allowed}
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(psycopg.DataError)
    async def _unstorable(_: Request, exc: psycopg.DataError) -> JSONResponse:
        # A value the database cannot hold (a NUL character in text, a number beyond its column):
        # it came from the request, whose transaction rolled back, so it is bad input like any other.
        log.info("a request's value could not be stored: %s", exc)
        return JSONResponse(error_body("invalid_input", unusable_value(exc)), status_code=422)

    @app.exception_handler(psycopg.errors.TransactionRollback)
    @app.exception_handler(psycopg.errors.SerializationFailure)
    @app.exception_handler(psycopg.errors.DeadlockDetected)
    async def _rolled_back(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        # A deadlock or a serialization failure: PostgreSQL rolled the whole request back, and the
        # connection is sound. Sending it again is safe, as for a change that raced it (409 retry).
        log.warning(
            "a request was rolled back by the database: %s", str(exc).splitlines()[0] if str(exc) else exc
        )
        message = "a concurrent change got in the way and nothing was recorded; send it again"
        return JSONResponse(error_body("retry", message), status_code=409)

    @app.exception_handler(psycopg.errors.LockNotAvailable)
    async def _lock_held(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        # The API's lock_timeout: a row the request must change (a member's, usually) stayed
        # locked by another transaction; the request was rolled back and the connection is sound.
        log.warning("a request gave up waiting for a lock: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return _refusal(Busy(BUSY_LOCKED), error_body(Busy.code, BUSY_LOCKED))

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def _database_away(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, psycopg_pool.PoolTimeout) and request.app.state.db.busy():
            # Every connection was open and lent out the whole time: requests outnumbered them.
            # The database is fine; nothing was done.
            log.warning("no database connection came free for a request: the pool is exhausted")
            return _refusal(Busy(BUSY_POOL), error_body(Busy.code, BUSY_POOL))
        if isinstance(exc, psycopg.Error) and (exc.sqlstate or "").startswith("53"):
            # Class 53, insufficient resources (a full disk, 53100): the database answered, rolled
            # the request back and kept the connection. Not "the connection was lost", and no
            # pool check; sending it again helps only once the operator has acted.
            said = str(exc).splitlines()[0] if str(exc) else exc.sqlstate
            log.warning("the database is out of resources (SQLSTATE %s): %s", exc.sqlstate, said)
            message = DATABASE_FULL if exc.sqlstate == "53100" else DATABASE_OUT_OF.format(said)
            return JSONResponse(
                error_body("database_full", message), status_code=503, headers={"Retry-After": "30"}
            )
        # The database restarted or is out of reach. Whether a write committed is not known when
        # the connection broke after its COMMIT went out; every write a till sends may be repeated
        # (contract 2), and a repeat of one that was recorded answers its first result, so it is
        # a "send it again", not a 500. The pool drops the broken connection, and the others it
        # holds are tested now, before the next requests meet them.
        log.warning("the database could not be used: %s", str(exc).splitlines()[0] if str(exc) else exc)
        for pool in ("db", "admin_db"):
            if (database := getattr(request.app.state, pool, None)) is not None:
                await database.recover()
        body = error_body("database_unavailable", DATABASE_UNAVAILABLE)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "an unexpected error; nothing was changed"), 500)


def depends_on(dependant: Dependant, call: Any) -> bool:
    """Whether a route's dependencies include ``call`` (``deps.admin``: an admin-only route)."""
    return any(d.call is call or depends_on(d, call) for d in dependant.dependencies)
