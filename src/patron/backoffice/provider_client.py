"""A lean HTTP/1.1 client for the SMS provider: one POST a message, over kept-alive connections.

Why not aiohttp, as for webhooks: a broadcast posts up to a thousand messages a second on the
machine that answers the tills, and aiohttp's request path took about 200 µs of CPU a POST there,
most of what a worker spent on a message; this client takes about 60 (bench/provider_client.py,
BENCHMARKS.md). It does only what the provider needs: POST a small body, read the status and
``Retry-After``, read and drop at most ``ANSWER_BYTES`` of the answer's body, keep the connection
when both sides allow it.
Parsing is httptools' (llhttp, the parser under uvicorn), URLs are yarl's, TLS is the event loop's.

The answer is known as soon as its status line and headers are: its body is read afterwards only
to free the connection for the next request, within ``ANSWER_SECONDS``, and a body that comes
slowly, breaks off or runs long only costs the connection."""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools
from yarl import URL

ANSWER_BYTES = 64 * 1024  # of an answer's body read at most: nothing in it is used
ANSWER_SECONDS = 1.0  # spent reading an answer's body at most
IDLE_SECONDS = 15.0  # a connection idle longer is closed when next looked at, not reused
KEEP_PER_ORIGIN = 100  # idle connections kept to one provider at most

Origin = tuple[str, str, int]  # scheme, host, port: connections are shared within one


@dataclass(frozen=True, slots=True)
class Answer:
    """What the provider answered: only its status and ``Retry-After`` count."""

    status: int
    retry_after: str | None = None


class BrokenAnswer(ConnectionError):
    """The connection closed before an answer, or what came back was not HTTP."""


@dataclass(frozen=True, slots=True)
class _Request:
    """A URL and headers made into the bytes of a request, all but the body's length and body."""

    origin: Origin
    server_name: str
    head: bytes

    def to_send(self, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self.head, len(body), body)


@functools.lru_cache(maxsize=256)
def _request(url: str, headers: tuple[tuple[str, str], ...]) -> _Request:
    """The request for a channel's URL and headers, made once for all its messages. The channel's
    settings were checked when saved; what would break the request is refused here again."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host or parsed.port is None:
        raise ValueError(f"not an http:// or https:// URL: {parsed.with_password(None)}")
    lines = [
        f"POST {parsed.raw_path_qs or '/'} HTTP/1.1",
        f"Host: {parsed.host_port_subcomponent}",
        "Content-Type: application/json",
    ]
    given = {name.lower() for name, _ in headers}
    if parsed.user is not None and "authorization" not in given:
        credentials = f"{parsed.user}:{parsed.password or ''}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(credentials).decode('ascii')}")
    for name, value in headers:
        if any(ch in name + value for ch in "\r\n\0") or not name or ":" in name:
            raise ValueError(f"the header {name!r} would break the request")
        lines.append(f"{name}: {value}")
    lines.append("Content-Length: ")
    head = "\r\n".join(lines).encode("utf-8")
    return _Request((parsed.scheme, parsed.raw_host, parsed.port), parsed.raw_host, head)


class _Connection(asyncio.Protocol):
    """One connection to a provider, asked one request at a time."""

    def __init__(self, client: ProviderClient, origin: Origin) -> None:
        self.client = client
        self.origin = origin
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[Answer] | None = None
        self.closed = False
        self.busy = False
        self.idle_since = time.monotonic()
        self.status = 0
        self.retry_after: str | None = None
        self.body_bytes = 0
        self.body_deadline: asyncio.TimerHandle | None = None

    def ask(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and not self.busy
        self.answer = asyncio.get_running_loop().create_future()
        self.busy = True
        self.status, self.retry_after, self.body_bytes = 0, None, 0
        self.transport.write(data)
        return self.answer

    def close(self) -> None:
        self.closed = True
        if self.body_deadline is not None:
            self.body_deadline.cancel()
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's subclasses
        self.client._open.add(self)

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # nothing was asked: a server talking out of turn is not to be trusted
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BrokenAnswer(f"not an HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._open.discard(self)
        self._fail(BrokenAnswer("the provider closed the connection before answering"))

    # --- httptools' callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            return  # an interim answer (100 Continue): the final one follows
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(Answer(self.status, self.retry_after))
        loop = asyncio.get_running_loop()
        self.body_deadline = loop.call_later(ANSWER_SECONDS, self.close)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > ANSWER_BYTES:
            self.close()

    def on_message_complete(self) -> None:
        if self.status < 200:
            self.retry_after = None
            return
        if self.body_deadline is not None:
            self.body_deadline.cancel()
            self.body_deadline = None
        if self.closed or not self.parser.should_keep_alive():
            self.close()
            return
        self.busy = False
        self.idle_since = time.monotonic()
        self.client._keep(self)

    def _fail(self, exc: Exception) -> None:
        """Ends the connection; its request, when still unanswered, with ``exc``."""
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)
        self.close()


class ProviderClient:
    """Posts bodies to providers' URLs, keeping connections open between messages."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> Answer:
        """The provider's answer to ``POST url``; ``TimeoutError`` when none came within
        ``timeout`` seconds (connecting included), ``OSError`` (``BrokenAnswer`` among them)
        when the connection failed, ``ValueError`` for a URL or header that cannot be sent."""
        request = _request(url, tuple(headers.items()))
        async with asyncio.timeout(timeout):
            connection = self._take_idle(request.origin) or await self._connect(request)
            try:
                return await connection.ask(request.to_send(body))
            except BaseException:
                connection.close()
                raise

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        await asyncio.sleep(0)  # lets the transports finish closing

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        stale = time.monotonic() - IDLE_SECONDS
        while idle:
            connection = idle.pop()  # the most recent: the oldest go stale and are dropped
            if not connection.closed and connection.idle_since > stale:
                return connection
            connection.close()
        return None

    async def _connect(self, request: _Request) -> _Connection:
        scheme, host, port = request.origin
        loop = asyncio.get_running_loop()
        secure = scheme == "https"
        context = (self._ssl or _default_context()) if secure else None
        _, connection = await loop.create_connection(
            lambda: _Connection(self, request.origin),
            host,
            port,
            ssl=context,
            server_hostname=request.server_name if secure else None,
        )
        return connection

    def _keep(self, connection: _Connection) -> None:
        """Takes back a connection whose answer was read whole: the next request may use it."""
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= KEEP_PER_ORIGIN:
            connection.close()
        else:
            idle.append(connection)


@functools.cache
def _default_context() -> ssl.SSLContext:
    return ssl.create_default_context()
