"""``patron import KIND FILE``: the import with a progress bar, its summary, then ``patron verify``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from patron import eventloop, verify
from patron.db.pool import stop_when_client_gone
from patron.importer import runner


def main(
    url: str,
    kind: str,
    file: Path,
    *,
    tenant: str,
    fmt: str | None,
    rejects: Path | None,
    batch_rows: int,
    console: Console,
    workers: int = 1,
) -> int:
    """Runs the import and then verify; the exit code: 0 done and verified, 1 verify failed,
    2 the import could not run."""
    if kind not in runner.KINDS:  # before the progress bar: one line, as every operator's mistake
        console.print(f"[red]error:[/red] unknown kind {kind!r}: one of {', '.join(runner.KINDS)}")
        return 2
    target = rejects or runner.default_rejects(file)
    if not target.parent.is_dir() or not os.access(target.parent, os.W_OK):
        # checked first: the rejects are written at the end, after every good row has loaded
        console.print(
            f"[red]error:[/red] the rejects cannot be written to {target.parent}: no such writable folder"
        )
        return 2
    if target.is_dir():
        console.print(f"[red]error:[/red] --rejects names a folder, {target}: name a file in it")
        return 2
    if target.exists() and target.resolve() == file.resolve():
        console.print(
            f"[red]error:[/red] --rejects names the file being imported: {file} would be overwritten"
        )
        return 2
    try:
        report = _with_progress(url, kind, file, tenant, fmt, rejects, batch_rows, workers, console)
    except KeyboardInterrupt:
        console.print("interrupted: what was committed stays; run the same command again to continue")
        return 130
    except (runner.ImportFailed, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except psycopg.Error as exc:
        console.print(f"[red]error:[/red] the database refused a batch: {exc}")
        console.print("what was committed stays; run the same command again to continue")
        return 2
    _summary(report, console)
    failures = eventloop.run(_verify(url, report.tenant_id))
    if not failures:
        console.print(f"verify: [green]ok[/green], {len(verify.CHECKS)} invariants hold for tenant {tenant}")
        return 0
    sys.stdout.write(
        "".join(f"verify: {line}\n" for line in verify.report(failures, {report.tenant_id: tenant}))
    )
    return 1


def _with_progress(
    url: str,
    kind: str,
    file: Path,
    tenant: str,
    fmt: str | None,
    rejects: Path | None,
    batch_rows: int,
    workers: int,
    console: Console,
) -> runner.Report:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn(
            "{task.fields[loaded]:,} loaded, {task.fields[rejected]:,} rejected, {task.fields[rate]:,.0f} rows/s"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"import {kind}", total=None, loaded=0, rejected=0, rate=0.0)
        began = time.perf_counter()

        def update(position: int, total: int, report: runner.Report) -> None:
            elapsed = max(time.perf_counter() - began, 1e-6)
            bar.update(
                task,
                completed=position,
                total=total,
                loaded=report.total_loaded,
                rejected=report.total_rejected,
                rate=report.rows / elapsed,
            )

        report = runner.run(
            url,
            tenant,
            kind,
            file,
            fmt=fmt,
            rejects=rejects,
            batch_rows=batch_rows,
            progress=update,
            workers=workers,
        )
        bar.update(task, completed=1, total=1, loaded=report.total_loaded, rejected=report.total_rejected)
    return report


def _summary(report: runner.Report, console: Console) -> None:
    records = "" if report.kind != "receipts" else f" ({report.total_records:,} receipts)"
    if report.already_done:
        console.print(
            f"{report.file.name} was imported already: nothing to load. It loaded {report.total_loaded:,} rows"
            f"{records} and rejected {report.total_rejected:,}."
        )
    else:
        resumed = f", resumed at line {report.resumed_at_line:,}" if report.resumed_at_line else ""
        rate = report.rows / report.seconds if report.seconds else 0.0
        console.print(
            f"{report.file.name}: {report.loaded:,} rows loaded, {report.rejected:,} rejected in this run"
            f" ({report.batches} batches, {report.seconds:.1f} s, {rate:,.0f} rows/s{resumed});"
            f" in all {report.total_loaded:,} loaded{records}, {report.total_rejected:,} rejected."
        )
    if report.rejects_file is not None:
        console.print(f"rejected rows, with the reason and line of each: {report.rejects_file}")


async def _verify(url: str, tenant_id: int) -> list[verify.Failure]:
    """``patron verify`` for the tenant. Each check scans the whole tenant, where hash joins are
    right; without this setting the checks' ``LIMIT 20`` lures the planner into nested loops
    that take hours over millions of freshly loaded rows."""
    connect = psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True)
    async with await connect as conn:
        await stop_when_client_gone(conn)
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_nestloop = off")
            return await verify.run(conn, tenant_id)
