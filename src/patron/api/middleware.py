"""ASGI middleware of the API."""

from __future__ import annotations

import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.tenants.cache import PrincipalCache

# Requests that may change what a key's principal carries: keys, program settings, campaigns
# (the API's and the admin web app's forms).
CHANGING = ("/v1/api-keys", "/v1/program", "/v1/campaigns", "/admin")
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ForgetOnChange:
    """After a request that may have changed a tenant's keys, settings or campaigns, and before its
    answer goes out, this process forgets its cached principals: the client's next request sees
    the change even before PostgreSQL's notice of it arrives (other processes wait for the notice)."""

    def __init__(self, app: ASGIApp, principals: PrincipalCache) -> None:
        self.app = app
        self.principals = principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in READ_ONLY_METHODS
            or not scope["path"].startswith(CHANGING)
        ):
            await self.app(scope, receive, send)
            return

        async def forget_then_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.principals.forget_all()
            await send(message)

        await self.app(scope, receive, forget_then_send)


MAX_BODY = 8 * 1024 * 1024  # bytes: a basket of 1,000 lines, or a bulk of thousands of products, is far less


class BodyLimit:
    """Refuses a request whose body is larger than ``limit`` bytes with a 413, before any of it is
    read: the largest request a till or an admin sends is a few hundred kilobytes, and a body of
    gigabytes would otherwise be read into memory whole. A body sent in chunks, without its
    length, is counted as it arrives and cut off at the limit: the app reads it as cut off by the
    client, and its answer (a 400 "error parsing the body") is replaced by the same 413."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(send)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received
            if received > self.limit:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    return {"type": "http.disconnect"}  # the app stops reading; nothing was done
            return message

        async def answered(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and received > self.limit:
                refused = True
                await self._refuse(send)
            if not refused:
                await send(message)

        await self.app(scope, counted, answered)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {"error": {"code": "payload_too_large", "message": f"the body is larger than {self.limit} bytes"}}
        )
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class HeadAsGet:
    """Answers ``HEAD`` as ``GET`` without the body (RFC 9110): monitors and proxies ask ``HEAD
    /health``; FastAPI's routes would answer 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class TrailingSlash:
    """``/v1/members/`` is ``/v1/members``. Starlette would answer a redirect to an absolute URL,
    with no error body, that a till behind a proxy may not follow (and a POST should not)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        raw: bytes = scope.get("raw_path") or path.encode()
        # a literal slash only: a SKU that ends in "/" is sent as "%2F"
        if scope["type"] == "http" and path.startswith("/v1/") and raw.endswith(b"/"):
            scope = {**scope, "path": path.rstrip("/"), "raw_path": raw.rstrip(b"/")}
        await self.app(scope, receive, send)


class ServerTiming:
    """Tells each answer's time in this process (``Server-Timing: app;dur=<ms>``, W3C Server
    Timing): from the request's arrival here to its answer's first byte, so a till's developer
    (browser tools show the header), an operator or a benchmark can tell Patron's own time from the
    network's and the client's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                headers = [*message.get("headers", ()), (b"server-timing", b"app;dur=%.2f" % took)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)
