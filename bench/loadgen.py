"""The load generator. It runs in processes of its own (spawned by checkout.py), never in the
server's, and reports how much CPU it used so a reader can tell whether it kept up.

- open loop (``rate``): requests are sent at fixed times t0 + i / rate whether or not earlier
  ones have answered, and latency is measured from the time a request was due, so a stalled
  server cannot hide its stall by slowing the sender (no coordinated omission);
- closed loop (``concurrency``): that many tills each send a request, wait for the answer and
  send the next, for ``duration`` seconds: the most the server can take.

- sweep (``quote_sweep``): every basket of the set quoted once, as its household's member,
  by ``concurrency`` tills: which baskets the optimizer proves optimal (issue 4).

Every checkout result answered (quotes 200, receipts 201) is read for ``optimal`` and the number
of campaigns applied. HTTP/1.1 with keep-alive (aiohttp), bodies encoded with orjson, uvloop when
installed.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

# what every worker needs, set once per process by ``init`` (so it is not pickled per phase)
_DATA: dict[str, Any] = {}

RECEIPT_MIX = {"return": 0.10, "anonymous": 0.20}  # the rest (70%) are member receipts
MEMBER_SPEND = {"number": 0.15, "max": 0.15}  # of member receipts; the rest spend nothing
QUOTE_MIX = {"anonymous": 0.25, "max": 0.25, "number": 0.10}  # of quotes; the rest: member, no spend
CANCEL_SHARE = 0.15  # of returns: cancel the whole receipt instead of returning some units
EXPECTED = {
    "quote": {200},
    "receipt": {201},
    "return": {201},
    "cancel": {200},
}


def runqueue_wait_s(pid: int | str = "self") -> float:
    """Seconds the process's threads have spent runnable but waiting for a CPU (Linux's
    ``/proc/<pid>/task/*/schedstat``; 0 elsewhere). What a busy machine costs a process that
    its own CPU time does not show."""
    waited = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            waited += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return waited / 1e9


def init(baskets: list[dict[str, Any]], members: list[dict[str, Any]]) -> None:
    """Pool initializer: the basket set and the members (with their ids) for this process."""
    _DATA["baskets"] = baskets
    _DATA["members"] = members
    _DATA["by_household"] = {m["household"]: m for m in members}


@dataclass
class Job:
    """One phase for one worker process."""

    phase: str  # warmup | quote_open | quote_closed | quote_sweep | receipts
    base_url: str
    api_key: str
    worker: int
    workers: int
    seed: int
    duration: float
    tag: str  # makes receipt numbers unique to this run
    rate: float = 0.0  # open loop: this worker's arrivals per second
    concurrency: int = 1  # closed loop: tills of this worker


@dataclass
class Till:
    """One till: its own random choices and its own receipts to return, so that what it sends
    depends only on the seed and the answers it gets, never on how the tills interleave."""

    number: int
    rng: random.Random
    returnable: list[dict[str, Any]] = field(default_factory=list)
    sequence: int = 0


@dataclass
class Tally:
    latency_ms: list[float] = field(default_factory=list)  # from sending to the full answer
    intended_ms: list[float] = field(default_factory=list)  # open loop: from the time it was due
    lag_ms: list[float] = field(default_factory=list)  # open loop: how late the generator sent it
    # the server's own time for each answer (its Server-Timing header): what the latency holds
    # beyond it was spent on the way (the network, uvicorn reading the request, the generator)
    server_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    results: int = 0  # checkout results read (quotes 200, receipts 201)
    optimal: int = 0  # of which "optimal": true
    applied: Counter[int] = field(default_factory=Counter)  # campaigns applied -> results
    not_optimal_ms: list[float] = field(default_factory=list)  # their latency from send
    not_optimal_baskets: list[int] = field(default_factory=list)  # their basket ids (the first 100)
    # open loop: (due time, latency from it in ms, basket id) of each request, to tell a slow
    # basket from a stall of the server (many baskets slow at the same moment)
    timeline: list[tuple[float, float, int]] = field(default_factory=list)


def server_time_ms(header: str | None) -> float | None:
    """The ``app`` duration of a ``Server-Timing`` header (``app;dur=1.23``), in milliseconds."""
    for metric in (header or "").split(","):
        name, _, rest = metric.strip().partition(";")
        if name == "app" and rest.startswith("dur="):
            try:
                return float(rest[4:])
            except ValueError:
                return None
    return None


class Worker:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.baskets: list[dict[str, Any]] = _DATA["baskets"]
        self.members: list[dict[str, Any]] = _DATA["members"]
        self.by_household: dict[int, dict[str, Any]] = _DATA["by_household"]
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self.errors: list[dict[str, Any]] = []
        self.headers = {"Authorization": f"Bearer {job.api_key}", "Content-Type": "application/json"}

    # --- bodies ------------------------------------------------------------------------------

    def till(self, number: int) -> Till:
        return Till(number, random.Random(f"{self.job.seed}/{self.job.worker}/{number}"))

    def _member_ref(self, till: Till, household: int) -> dict[str, str]:
        member = self.by_household.get(household) or self.members[till.rng.randrange(len(self.members))]
        pick = till.rng.random()
        if pick < 0.5:
            return {"card": member["card"]}
        if pick < 0.8:
            return {"phone": member["phone"]}
        return {"id": member["id"]}

    def _spend_number(self, basket: dict[str, Any]) -> int:
        amount = sum(float(line["price"]) * line["quantity"] for line in basket["lines"])
        return max(1, min(20, int(amount * 0.2)))

    def _body(
        self, till: Till, *, anonymous: bool, spend: str, basket: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        basket = basket or self.baskets[till.rng.randrange(len(self.baskets))]
        body: dict[str, Any] = {"store": basket["store"], "lines": basket["lines"]}
        if not anonymous:
            body["member"] = self._member_ref(till, basket["household"])
            if spend == "max":
                body["spend_points"] = "max"
            elif spend == "number":
                body["spend_points"] = self._spend_number(basket)
        return body

    def quote_body(self, till: Till) -> tuple[bytes, int]:
        """A quote of the mix, and the id of its basket."""
        pick = till.rng.random()
        anonymous = pick < QUOTE_MIX["anonymous"]
        pick -= QUOTE_MIX["anonymous"]
        spend = "max" if 0 <= pick < QUOTE_MIX["max"] else ""
        if not spend and 0 <= pick - QUOTE_MIX["max"] < QUOTE_MIX["number"]:
            spend = "number"
        basket = self.baskets[till.rng.randrange(len(self.baskets))]
        body = self._body(till, anonymous=anonymous, spend=spend, basket=basket)
        return orjson.dumps(body), int(basket["basket"])

    def receipt_body(self, till: Till, anonymous: bool) -> bytes:
        spend = ""
        if not anonymous:
            pick = till.rng.random()
            if pick < MEMBER_SPEND["number"]:
                spend = "number"
            elif pick < MEMBER_SPEND["number"] + MEMBER_SPEND["max"]:
                spend = "max"
        body = self._body(till, anonymous=anonymous, spend=spend)
        till.sequence += 1
        body["number"] = f"{self.job.tag}-{self.job.worker}-{till.number}-{till.sequence}"
        return orjson.dumps(body)

    # --- requests ----------------------------------------------------------------------------

    async def send(
        self,
        session: aiohttp.ClientSession,
        kind: str,
        path: str,
        body: bytes,
        due: float | None = None,
        basket: int | None = None,
    ) -> tuple[int, bytes, dict[str, Any] | None]:
        """Sends one request and records it; (status, body, the checkout result when there is one)."""
        start = time.perf_counter()
        try:
            async with session.post(self.job.base_url + path, data=body, headers=self.headers) as resp:
                status, payload = resp.status, await resp.read()
                timing = resp.headers.get("Server-Timing")
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, payload, timing = 0, repr(exc).encode(), None
        except asyncio.CancelledError:
            self._record(kind, start, due, "unanswered")  # still waiting when the phase ended
            raise
        took_ms = self._record(kind, start, due, self._outcome(kind, status, payload))
        server_ms = server_time_ms(timing)
        if server_ms is not None:
            self.tallies[kind].server_ms.append(server_ms)
        if due is not None:
            tally = self.tallies[kind]
            tally.timeline.append((due, tally.intended_ms[-1], -1 if basket is None else basket))
        result = None
        if (kind, status) in (("quote", 200), ("receipt", 201)):
            result = orjson.loads(payload)  # after the clock stopped: reading it is not latency
            self._count(self.tallies[kind], result, took_ms, basket)
        return status, payload, result

    def _record(self, kind: str, start: float, due: float | None, outcome: str) -> float:
        end = time.perf_counter()
        tally = self.tallies[kind]
        took_ms = (end - start) * 1000
        tally.latency_ms.append(took_ms)
        if due is not None:
            tally.intended_ms.append((end - due) * 1000)
            tally.lag_ms.append((start - due) * 1000)
        tally.outcomes[outcome] += 1
        return took_ms

    @staticmethod
    def _count(tally: Tally, result: dict[str, Any], took_ms: float, basket: int | None) -> None:
        """Whether the answer's combination of campaigns is proven optimal, and how many applied."""
        tally.results += 1
        tally.applied[len(result.get("campaigns") or ())] += 1
        if result.get("optimal") is True:
            tally.optimal += 1
            return
        tally.not_optimal_ms.append(took_ms)
        if basket is not None and len(tally.not_optimal_baskets) < 100:
            tally.not_optimal_baskets.append(basket)

    def _outcome(self, kind: str, status: int, payload: bytes) -> str:
        if status in EXPECTED[kind]:
            return "ok"
        code = ""
        if status:
            try:
                code = str(orjson.loads(payload)["error"]["code"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                code = ""
        if status == 409 and code == "insufficient_points":
            return "insufficient_points"  # expected: a number the member cannot spend any more
        if len(self.errors) < 20:
            self.errors.append(
                {"kind": kind, "status": status, "body": payload[:300].decode(errors="replace")}
            )
        return f"{status} {code}".strip()

    async def till_operation(self, session: aiohttp.ClientSession, till: Till) -> None:
        """One operation of the receipts mix: a member receipt, an anonymous one, or a return."""
        pick = till.rng.random()
        if pick < RECEIPT_MIX["return"] and till.returnable:
            await self._return(session, till)
            return
        anonymous = pick < RECEIPT_MIX["return"] + RECEIPT_MIX["anonymous"]
        body = self.receipt_body(till, anonymous)
        status, _, result = await self.send(session, "receipt", "/v1/receipts", body)
        if status == 201 and result is not None:
            lines = {line["line"]: line["quantity"] for line in result["lines"]}
            till.returnable.append({"id": result["id"], "lines": lines, "returns": 0})

    async def _return(self, session: aiohttp.ClientSession, till: Till) -> None:
        rng = till.rng
        receipt = till.returnable.pop(rng.randrange(len(till.returnable)))
        if rng.random() < CANCEL_SHARE:
            await self.send(session, "cancel", f"/v1/receipts/{receipt['id']}/cancel", b"")
            return
        lines: dict[int, int] = receipt["lines"]
        chosen = rng.sample(sorted(lines), min(len(lines), rng.choice((1, 1, 1, 2, 3))))
        taken = [{"line": line, "quantity": rng.randint(1, lines[line])} for line in chosen]
        receipt["returns"] += 1
        body = orjson.dumps({"number": f"RET-{receipt['returns']}", "lines": taken})
        status, _, _ = await self.send(session, "return", f"/v1/receipts/{receipt['id']}/returns", body)
        if status != 201:
            return
        for item in taken:
            lines[item["line"]] -= item["quantity"]
            if not lines[item["line"]]:
                del lines[item["line"]]
        if lines:
            till.returnable.append(receipt)

    # --- loops -------------------------------------------------------------------------------

    async def open_loop(self, session: aiohttp.ClientSession) -> None:
        job = self.job
        count = int(job.rate * job.duration)
        offset = job.worker / (job.workers * job.rate)  # interleave the workers' arrivals
        till = self.till(0)
        bodies = [self.quote_body(till) for _ in range(count)]  # built before the clock starts
        start = time.perf_counter() + 0.05
        tasks = []
        for i, (body, basket) in enumerate(bodies):
            due = start + offset + i / job.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(
                    self.send(session, "quote", "/v1/checkout/quote", body, due, basket=basket)
                )
            )
        # an overloaded server would keep the phase going long after its schedule: wait a while,
        # then count what is still unanswered (with its latency so far) and move on
        _, pending = await asyncio.wait(tasks, timeout=max(5.0, job.duration / 2))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def closed_loop(self, session: aiohttp.ClientSession) -> None:
        deadline = time.perf_counter() + self.job.duration
        quotes = self.job.phase == "quote_closed"

        async def run_till(till: Till) -> None:
            while time.perf_counter() < deadline:
                if quotes:
                    body, basket = self.quote_body(till)
                    await self.send(session, "quote", "/v1/checkout/quote", body, basket=basket)
                else:
                    await self.till_operation(session, till)

        await asyncio.gather(*(run_till(self.till(n)) for n in range(self.job.concurrency)))

    async def sweep(self, session: aiohttp.ClientSession) -> None:
        """This worker's share of the baskets (every ``workers``-th), each quoted once as its
        household's member (by card), spending nothing; no new one after ``duration`` seconds."""
        job = self.job
        queue = list(range(job.worker, len(self.baskets), job.workers))
        queue.reverse()
        deadline = time.perf_counter() + job.duration

        async def run_till() -> None:
            while queue and time.perf_counter() < deadline:
                basket = self.baskets[queue.pop()]
                member = self.by_household.get(basket["household"])
                body: dict[str, Any] = {"store": basket["store"], "lines": basket["lines"]}
                if member is not None:
                    body["member"] = {"card": member["card"]}
                await self.send(
                    session, "quote", "/v1/checkout/quote", orjson.dumps(body), basket=int(basket["basket"])
                )

        await asyncio.gather(*(run_till() for _ in range(job.concurrency)))

    async def run(self) -> dict[str, Any]:
        job = self.job
        connector = aiohttp.TCPConnector(limit=0 if job.rate else job.concurrency, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def ping() -> None:
                async with session.get(
                    job.base_url + "/health", timeout=aiohttp.ClientTimeout(total=10)
                ) as resp:
                    await resp.read()

            # connect before the clock; a server still busy with an earlier phase may not answer
            await asyncio.gather(*(ping() for _ in range(job.concurrency)), return_exceptions=True)
            cpu, start, waited = time.process_time(), time.perf_counter(), runqueue_wait_s()
            if job.rate:
                await self.open_loop(session)
            elif job.phase == "quote_sweep":
                await self.sweep(session)
            else:
                await self.closed_loop(session)
            elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
            waited = runqueue_wait_s() - waited
        return {
            "phase": job.phase,
            "worker": job.worker,
            "elapsed_s": elapsed,
            "cpu_s": cpu_used,
            "runqueue_wait_s": waited,
            "tallies": {
                kind: {
                    "latency_ms": t.latency_ms,
                    "intended_ms": t.intended_ms,
                    "lag_ms": t.lag_ms,
                    "server_ms": t.server_ms,
                    "outcomes": dict(t.outcomes),
                    "results": t.results,
                    "optimal": t.optimal,
                    "applied": dict(t.applied),
                    "not_optimal_ms": t.not_optimal_ms,
                    "not_optimal_baskets": t.not_optimal_baskets,
                    "timeline": t.timeline,
                }
                for kind, t in self.tallies.items()
            },
            "errors": self.errors,
        }


def run_job(job: Job) -> dict[str, Any]:
    """Entry point in the worker process."""
    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        factory = None
    # the generator's own garbage collections would show as late requests: none during a phase
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(Worker(job).run())
    finally:
        gc.enable()
        gc.unfreeze()
