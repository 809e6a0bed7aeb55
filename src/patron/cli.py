"""The ``patron`` command (contract 1)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console

from patron.config import Settings
from patron.db import migrate
from patron.db import url as db_url
from patron.db.pool import Database
from patron.errors import PatronError

app = typer.Typer(help="Patron: a loyalty and promotion engine for retail chains.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants: loyalty programs served by this Patron.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(db_app, name="db")

console = Console(stderr=True)
T = TypeVar("T")


def database_url(*, upgrade: bool = True) -> str:
    """The database URL (starting the embedded server if needed), migrated to the latest schema."""
    url = db_url.resolve(Settings.from_env())
    if upgrade:
        migrate.upgrade(url)
    return url


def run_with_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(url, min_size=1, max_size=2, name="cli")
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except PatronError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
) -> None:
    """Serve the HTTP API until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    import uvicorn

    from patron.api.app import create_app

    settings = Settings.from_env()
    url = database_url()
    application = create_app(url, pool_min=settings.pool_min, pool_max=settings.pool_max)
    console.print(f"Patron serves on http://{host}:{port} (OpenAPI at /openapi.json, docs at /docs)")
    _exit_cleanly_on_signals()
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


def _exit_cleanly_on_signals() -> None:
    """uvicorn shuts down gracefully and then re-raises the signal, which would kill the process
    before ``atexit`` runs, and so leave the embedded PostgreSQL running. Exit normally instead."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


@tenants_app.command("create")
def tenants_create(
    slug: str,
    currency: str = typer.Option("EUR", help="ISO 4217 currency of the program"),
    timezone: str = typer.Option("UTC", help="default time zone of the program's stores"),
    country: str = typer.Option(None, help="ISO 3166 region of phones written without +"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Create a tenant and print its first admin API key."""
    from patron.tenants import service

    async def work(db: Database) -> dict[str, str]:
        async with db.transaction() as conn:
            made = await service.create(conn, slug, currency=currency, timezone=timezone, country=country)
        return {"tenant": made.slug, "api_key": made.api_key, "key_id": made.key_id}

    result = run_with_db(database_url(), work)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        console.print(f"tenant [bold]{result['tenant']}[/bold] created; admin API key (shown once):")
        sys.stdout.write(result["api_key"] + "\n")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    from patron.tenants import store

    async def work(db: Database) -> list[dict[str, object]]:
        async with db.read() as conn:
            return await store.list_tenants(conn)

    for row in run_with_db(database_url(), work):
        sys.stdout.write(f"{row['slug']}\t{row['created_at'].isoformat()}\n")  # type: ignore[attr-defined]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (also done on every start)."""
    url = database_url(upgrade=False)
    migrate.upgrade(url)
    console.print(f"database at revision {migrate.current(url)}")


@db_app.command("url")
def db_show_url() -> None:
    """Print the database URL (starting the embedded server if needed)."""
    sys.stdout.write(database_url(upgrade=False) + "\n")


@app.command()
def verify(tenant: str = typer.Option(None, help="check one tenant (slug); default: all")) -> None:
    """Check every ledger invariant; exit 1 naming each that fails."""
    from patron import verify as checks
    from patron.tenants import store

    async def work(db: Database) -> list[checks.Failure]:
        async with db.read() as conn:
            tenant_id = await store.tenant_id_by_slug(conn, tenant) if tenant else None
            return await checks.run(conn, tenant_id)

    failures = run_with_db(database_url(), work)
    if not failures:
        console.print(f"[green]ok[/green]: {len(checks.CHECKS)} invariants hold")
        return
    for failure in failures:
        console.print(f"[red]FAILED[/red] {failure.check.name}: {failure.check.description}")
        for row in failure.rows:
            console.print(f"    {json.dumps(row, default=str)}")
    raise typer.Exit(1)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Start everything on the embedded database, create a demo program, and serve it."""
    from patron.tenants import service, store

    async def work(db: Database) -> tuple[str, str]:
        async with db.transaction() as conn:
            existing = [row["slug"] for row in await store.list_tenants(conn)]
            if "demo" in existing:
                return "demo", await service.new_admin_key(conn, "demo", "patron demo")
            made = await service.create(
                conn, "demo", currency="USD", timezone="America/Chicago", country="US"
            )
            return made.slug, made.api_key

    slug, key = run_with_db(database_url(), work)
    console.print(f"demo tenant [bold]{slug}[/bold]; admin API key: [bold]{key}[/bold]")
    console.print(f"API: http://{host}:{port}/v1  docs: http://{host}:{port}/docs")
    serve(host=host, port=port)


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=logging.WARNING)
    app()
