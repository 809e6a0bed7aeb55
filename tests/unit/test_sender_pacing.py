"""A worker waits for its send slots by sleeping, on every event loop it may run on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
import uvloop

from patron.backoffice.sender import Sender, SendSettings
from patron.backoffice.transports import Attempt
from patron.clock import utcnow

REAL_SLEEP = asyncio.sleep


class Sleeps:
    """Counts the sender's calls of ``asyncio.sleep`` (the transports here use ``REAL_SLEEP``)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, delay: float) -> Awaitable[None]:
        self.count += 1
        return REAL_SLEEP(delay)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    counter = Sleeps()
    monkeypatch.setattr(asyncio, "sleep", counter)
    return counter


class AcceptingSms:
    async def send(self, *args: Any) -> Attempt:
        return Attempt(ok=True, status=200)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_waiting_for_a_slot_sleeps_a_few_times_a_message_and_never_sends_early(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], sleeps: Sleeps
) -> None:
    """uvloop's timers count whole milliseconds, so a sleep shorter than one returns at once: a
    wait for a slot that slept its exact remainder spun hundreds of times a message there."""
    sender = Sender(cast(Any, None), utcnow, cast(Any, AcceptingSms()), cast(Any, None))
    sent_at: list[tuple[float, float]] = []

    async def one(slot: float, number: int) -> None:
        (attempt,) = await sender._send_group(
            slot, slot + 60, 1, "sms", {}, [{"id": number, "recipient": "+1", "body": "hi"}]
        )
        assert attempt.ok
        sent_at.append((slot, asyncio.get_running_loop().time()))

    async def main() -> None:
        start = asyncio.get_running_loop().time()
        # 100 messages 1.1 ms apart: 900 a second, as a channel of 1,000 a second at 0.9 headroom
        await asyncio.gather(*(one(start + 0.005 + i * 0.0011, i) for i in range(100)))

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    assert len(sent_at) == 100
    assert all(sent >= slot for slot, sent in sent_at)  # never before its slot
    assert sleeps.count <= 3 * 100


class SlowSms:
    """Answers after a while, counting the sends started."""

    def __init__(self) -> None:
        self.started = 0

    async def send(self, *args: Any) -> Attempt:
        self.started += 1
        await REAL_SLEEP(0.01)  # not counted as the sender's waiting
        return Attempt(ok=True, status=200)


def test_a_group_waits_once_and_gives_up_what_the_connections_cannot_take(sleeps: Sleeps) -> None:
    """A group of slots is one sleep; its sends go out together, except those that would wait
    for a connection (they would leave late, bunched with the next group's): given up as late."""
    sms = SlowSms()
    sender = Sender(cast(Any, None), utcnow, cast(Any, sms), cast(Any, None), SendSettings(in_flight=6))
    rows = [{"id": i, "recipient": "+1", "body": "hi"} for i in range(9)]

    async def main() -> tuple[list[Attempt], list[Attempt]]:
        loop = asyncio.get_running_loop()
        slot = loop.time() + 0.005
        first = await sender._send_group(slot, slot + 60, 1, "sms", {}, rows)
        past = loop.time() - 1
        late = await sender._send_group(past, past + 0.02, 1, "sms", {}, rows)
        return first, late

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        first, late = runner.run(main())
    # the group's wait is a sleep or a few (whole milliseconds on uvloop), not one a message;
    # the 9 sends' own 0.01 s answers come after it
    assert sleeps.count <= 3
    assert [a.ok for a in first] == [True] * 6 + [False] * 3
    assert sms.started == 6  # the last 3 were never sent: only 6 connections
    assert not sender._in_flight.locked()  # every place taken was given back
    assert all(not a.ok and a.error == "late" for a in late)  # the slot was long gone
    assert sms.started == 6
