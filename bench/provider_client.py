"""What one POST to the SMS provider costs the worker's CPU: Patron's provider client against
aiohttp (which posted to providers before, and still delivers webhooks).

    .venv/bin/python bench/provider_client.py            # 5 rounds of 6,000 posts each way

The provider is ``bench/backoffice.py``'s lean local one, in a process of its own, so that only
the client's CPU is counted (``getrusage`` of this process, user and system). Each round posts
``--posts`` messages, ``--concurrency`` at a time over kept-alive connections, first with one
client and then the other (alternating which goes first), on uvloop as the worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson

from patron.backoffice.provider_client import ProviderClient
from patron.eventloop import run

Post = Callable[[bytes], Awaitable[int]]


def serve_provider() -> None:
    """The child process: the benchmark's provider, until its stdin closes."""
    sys.path.insert(0, str(Path(__file__).parent))
    from backoffice import Provider

    with Provider() as provider:
        print(provider.url, flush=True)
        sys.stdin.read()


async def cpu_per_post(post: Post, posts: int, concurrency: int) -> float:
    """Microseconds of this process's CPU a post, over ``posts`` posts after a warm-up."""

    async def one() -> None:
        body = orjson.dumps({"id": str(uuid.uuid4()), "to": "+79001234567", "text": "Your points: 120. " * 4})
        assert 200 <= await post(body) < 300

    await asyncio.gather(*(one() for _ in range(concurrency)))
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(posts // concurrency):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 1e6 * used / (posts // concurrency * concurrency)


async def measure(url: str, rounds: int, posts: int, concurrency: int) -> dict[str, list[float]]:
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=2 * concurrency, limit_per_host=concurrency)
    results: dict[str, list[float]] = {"patron": [], "aiohttp": []}
    async with aiohttp.ClientSession(connector=connector) as session:
        client = ProviderClient()

        async def with_aiohttp(body: bytes) -> int:
            headers = {"Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers, timeout=timeout) as response:
                await response.read()
                return response.status

        async def with_patron(body: bytes) -> int:
            return (await client.post(url, {}, body, 10.0)).status

        clients: dict[str, Post] = {"patron": with_patron, "aiohttp": with_aiohttp}
        try:
            for number in range(rounds):
                order = ["patron", "aiohttp"] if number % 2 == 0 else ["aiohttp", "patron"]
                for name in order:
                    results[name].append(await cpu_per_post(clients[name], posts, concurrency))
                print(f"round {number + 1}: " + ", ".join(f"{n} {results[n][-1]:.0f} µs" for n in order))
        finally:
            await client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--posts", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--serve-provider", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_provider:
        serve_provider()
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-provider"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        started = time.monotonic()
        results = run(measure(url, args.rounds, args.posts, args.concurrency))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    print(f"CPU of this process a POST, median of {args.rounds} rounds ({time.monotonic() - started:.0f} s):")
    for name, values in results.items():
        print(f"  {name:8} {statistics.median(values):6.0f} µs   ({', '.join(f'{v:.0f}' for v in values)})")
    ratio = statistics.median(results["aiohttp"]) / statistics.median(results["patron"])
    print(f"  aiohttp ÷ patron: {ratio:.2f}")


if __name__ == "__main__":
    main()
