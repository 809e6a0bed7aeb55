"""Commands run their coroutines on uvloop, like ``patron serve``."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from patron import eventloop


def test_a_command_runs_on_uvloop_and_returns_what_its_coroutine_returns() -> None:
    async def which_loop() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    assert issubclass(eventloop.run(which_loop()), uvloop.Loop)


def test_an_error_in_the_coroutine_reaches_the_caller() -> None:
    async def failing() -> None:
        raise LookupError("nothing here")

    with pytest.raises(LookupError, match="nothing here"):
        eventloop.run(failing())
