"""``Database.transaction(serial=...)``'s gate: one key's requests one at a time, without a
connection while they wait (tested on the gate alone, with no database)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from patron.db.pool import Database
from patron.errors import Busy


def _database() -> Database:
    return Database("postgresql://nowhere.invalid/patron")  # never opened


async def test_one_key_at_a_time_and_other_keys_alongside() -> None:
    db = _database()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}

    async def hold(key: str) -> None:
        async with db._one_at_a_time(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            await asyncio.sleep(0.01)
            inside[key] -= 1

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(hold(k) for k in "aaaaabbbbb"))
    elapsed = asyncio.get_running_loop().time() - started
    assert most == {"a": 1, "b": 1}  # never two of one key at once
    assert elapsed < 0.09  # the two keys' turns overlapped (one after the other would take 0.1 s)
    assert db._gates == {}  # nothing kept once no one holds or waits


async def test_a_turn_that_does_not_come_is_busy_and_leaves_the_gate_usable() -> None:
    db = _database()
    db.serial_wait = 0.05
    release = asyncio.Event()

    async def holder() -> None:
        async with db._one_at_a_time("m"):
            await release.wait()

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    with pytest.raises(Busy) as refused:
        async with db._one_at_a_time("m"):
            raise AssertionError("the turn came while another held the key")
    assert refused.value.status == 503 and refused.value.code == "busy"
    release.set()
    await holding
    async with db._one_at_a_time("m"):  # the next comes at once
        pass
    assert db._gates == {}


async def test_no_key_is_no_gate() -> None:
    db = _database()
    async with db._one_at_a_time(None), db._one_at_a_time(None):
        assert db._gates == {}


async def test_a_request_arriving_as_a_turn_is_handed_over_still_waits_at_most_serial_wait() -> None:
    """A probe: a request arriving in the step between one turn's end and the next waiter's wake
    found the lock free, took the no-timeout path, and queued behind that waiter without limit."""
    db = _database()
    db.serial_wait = 0.05

    async def next_in_line() -> None:
        async with db._one_at_a_time("m"):
            await asyncio.sleep(0.3)  # holds its turn longer than a newcomer may wait

    async with contextlib.AsyncExitStack() as first:
        await first.enter_async_context(db._one_at_a_time("m"))
        waiting = asyncio.create_task(next_in_line())
        await asyncio.sleep(0)  # it waits for its turn now
    # the first turn just ended; the waiter has not run yet
    started = asyncio.get_running_loop().time()
    with pytest.raises(Busy):
        async with db._one_at_a_time("m"):
            raise AssertionError("a turn came before the waiter's")
    assert asyncio.get_running_loop().time() - started < 0.2
    await waiting
    assert db._gates == {}
