"""Running Patron's coroutines from a command on uvloop, the event loop ``patron serve`` runs on.

The standard loop registers and unregisters a selector key each time psycopg waits on its
socket; a replay or a worker waits thousands of times a second, and on uvloop those waits cost
a fraction as much. uvloop comes with ``uvicorn[standard]``; where it is missing (a platform it
does not build on), the standard loop does the same work, more slowly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
