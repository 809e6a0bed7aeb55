"""The ``Server-Timing`` header counts milliseconds from the request's arrival to its answer."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from patron.api.middleware import ServerTiming

PAUSE_S = 0.03


async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(PAUSE_S)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_the_header_holds_the_milliseconds_the_answer_took() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await ServerTiming(slow_app)({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)
    start, body = sent
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/plain"  # the app's own headers are kept
    name, _, duration = headers[b"server-timing"].decode().partition(";dur=")
    assert name == "app"
    assert PAUSE_S * 1000 - 1 <= float(duration) < PAUSE_S * 1000 + 1000  # milliseconds, not seconds
    assert body == {"type": "http.response.body", "body": b"ok"}
