"""Real local servers that stand for what the back office talks to: the generic HTTP SMS provider
of contract 9, a webhook receiver that checks signatures, and an SMTP inbox."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from patron.backoffice import rules


@dataclass
class SmsProvider:
    """The generic HTTP SMS provider of contract 9. Answers from ``script`` first (a queue of
    statuses), then at random: ``throttle`` of the requests get 429 and ``fail`` get 500. It
    accepts each message id once (a repeat of an accepted id answers 200 and counts as a
    duplicate), and keeps the time of every request."""

    throttle: float = 0.0
    fail: float = 0.0
    delay: float = 0.0  # seconds before each answer (a slow provider)
    retry_after: str | None = "1"
    seed: int = 7
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    times: list[float] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.times.append(time.monotonic())
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            status, headers = self.script.popleft()
            if status >= 300:
                return web.Response(status=status, headers=headers)
        else:
            draw = self._rng.random()
            if draw < self.throttle:
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return web.Response(status=429, headers=headers)
            if draw < self.throttle + self.fail:
                return web.Response(status=500)
        if body["id"] in self.accepted:
            self.duplicates += 1
            return web.json_response({"duplicate": True})
        self.accepted[body["id"]] = body
        return web.json_response({"accepted": True})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/send", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/send"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def busiest_second(self) -> int:
        """The most requests in any window of one second (of the provider's own clock)."""
        times = sorted(self.times)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most


class ThreadedProvider:
    """An SmsProvider on its own event loop in a thread, so that its clock is not held up by
    whatever the test's own loop does."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> SmsProvider:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.provider.start(), self.loop).result(10)
        return self.provider

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Receiver:
    """A webhook receiver that checks each signature and records events per member. Events
    whose id is in ``refuse`` get a 500 (``refuse[id]`` more times; -1: always)."""

    secret: str
    refuse: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bad_signatures: int = 0
    url: str = ""
    redirect: bool = False  # answer a 302 to a page that answers GETs (a login page's 200)
    padding: int = 0  # bytes of body in an answer that accepts
    delay: float = 0.0  # seconds before answering (a slow receiver)
    trickle: float = 0.0  # seconds over which an accepting answer's body comes, a byte at a time

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.redirect:
            raise web.HTTPFound("/landing")
        if request.headers.get("X-Patron-Signature") != rules.sign(self.secret, raw):
            self.bad_signatures += 1
            return web.Response(status=401)
        event = json.loads(raw)
        self.attempts[event["id"]] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        left = self.refuse.get(event["id"], 0)
        if left != 0:
            self.refuse[event["id"]] = left - 1 if left > 0 else left
            return web.Response(status=500)
        self.events.append(event)
        if self.trickle:
            slow = web.StreamResponse(status=200, headers={"Content-Length": "100"})
            await slow.prepare(request)
            for _ in range(10):
                await slow.write(b"x")
                await asyncio.sleep(self.trickle / 10)
            return slow
        return (
            web.Response(status=200, body=b"x" * self.padding) if self.padding else web.Response(status=204)
        )

    async def landing(self, request: web.Request) -> web.Response:
        return web.Response(status=200, text="sign in")

    @staticmethod
    def member_of(event: dict[str, Any]) -> str | None:
        data = event["data"]
        if event["type"] == "member.created":
            return str(data["id"])
        if event["type"] == "receipt.confirmed":
            return (data.get("member") or {}).get("id")
        if event["type"] in ("receipt.returned", "receipt.cancelled"):
            return (data["receipt"].get("member") or {}).get("id")
        return str(data["member_id"])

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        app.router.add_get("/landing", self.landing)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()


class Inbox:
    """An aiosmtpd handler that keeps every envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.refuse: dict[str, str] = {}  # address -> the answer to its RCPT (greylisting, no mailbox)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"
