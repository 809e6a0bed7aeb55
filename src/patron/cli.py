"""The ``patron`` command (contract 1)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import alembic.util.exc
import psycopg
import psycopg_pool
import sqlalchemy.exc
import typer
from rich.console import Console

from patron import eventloop
from patron.backoffice import rules
from patron.config import ConfigError, Settings
from patron.db import migrate
from patron.db import url as db_url
from patron.db.pool import Database, stop_when_client_gone
from patron.errors import PatronError

app = typer.Typer(
    help="Patron: a loyalty and promotion engine for retail chains.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # operator errors are one line (main); a bug keeps its traceback
)
tenants_app = typer.Typer(help="Tenants: loyalty programs served by this Patron.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="Users of the admin web app (/admin).", no_args_is_help=True)
app.add_typer(users_app, name="users")

console = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever its length
T = TypeVar("T")


def database_url(*, upgrade: bool = True) -> str:
    """The database URL (starting the embedded server if needed), migrated to the latest schema."""
    url = db_url.resolve(Settings.from_env())
    if upgrade:
        migrate.upgrade(url)
    return url


def run_with_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(url, min_size=1, max_size=2, name="cli", configure=stop_when_client_gone)
        await db.open()
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return eventloop.run(main())
    except PatronError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, help="port to listen on"),
    workers: int = typer.Option(
        1, min=1, max=64, help="server processes sharing the port (on Linux, a socket each)"
    ),
    access_log: bool = typer.Option(
        False,
        "--access-log",
        help="log each request (method, path, status) on stderr; off: it costs the tills",
    ),
) -> None:
    """Serve the HTTP API until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    import os

    import uvicorn

    from patron.api import processes
    from patron.api.app import create_app

    settings = Settings.from_env()
    processes.ensure_port_free(host, port)
    url = database_url()
    log_level = "info" if access_log else "warning"  # uvicorn's access lines are at info
    console.print(f"Patron serves on http://{host}:{port} (OpenAPI at /openapi.json, docs at /docs)")
    _exit_cleanly_on_signals()
    if workers == 1:
        application = create_app(url, pool_min=settings.pool_min, pool_max=settings.pool_max, freeze_gc=True)
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=access_log)
        return
    os.environ["PATRON_DATABASE_URL"] = url  # the workers join the same (possibly embedded) server
    if processes.supported():
        processes.run(
            host,
            port,
            workers,
            url,
            pool_min=settings.pool_min,
            pool_max=settings.pool_max,
            access_log=access_log,
        )
        return
    uvicorn.run(
        "patron.api.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
    )


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
    _print_key(
        result, as_json, f"tenant [bold]{result['tenant']}[/bold] created; admin API key (shown once):"
    )


def _print_key(result: dict[str, str], as_json: bool, heading: str) -> None:
    """A new key: one JSON object, or a heading on stderr and the bare key on stdout (for a pipe)."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        console.print(heading)
        sys.stdout.write(result["api_key"] + "\n")


@tenants_app.command("key")
def tenants_key(
    slug: str,
    role: str = typer.Option("admin", help="admin (everything of the tenant) or pos (checkout and members)"),
    name: str = typer.Option("issued by patron tenants key", help="what the key is for, as listed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Issue a new API key of an existing tenant and print it (the way back in when its last admin
    key was revoked)."""
    from patron.tenants import service

    async def work(db: Database) -> dict[str, str]:
        async with db.transaction() as conn:
            key_id, secret = await service.new_key(conn, slug, name, role)
        return {"tenant": slug, "api_key": secret, "key_id": key_id, "role": role}

    result = run_with_db(database_url(), work)
    _print_key(result, as_json, f"new {role} API key of [bold]{slug}[/bold] (shown once):")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    from patron.tenants import store

    async def work(db: Database) -> list[dict[str, object]]:
        async with db.read() as conn:
            return await store.list_tenants(conn)

    for row in run_with_db(database_url(), work):
        sys.stdout.write(f"{row['slug']}\t{row['created_at'].isoformat()}\n")  # type: ignore[attr-defined]


@users_app.command("create")
def users_create(
    email: str,
    tenant: str = typer.Option(..., "--tenant", help="the tenant (slug) whose program the user runs"),
    role: str = typer.Option("admin", "--role", help="admin (everything) or support (members only)"),
    password: str = typer.Option(
        None,
        "--password",
        help="the password; else PATRON_ADMIN_PASSWORD, else asked for (or the first line of a pipe)",
    ),
) -> None:
    """Create a user who signs in to the admin web app at /admin."""
    import os

    from patron.web import users

    secret = password if password is not None else os.environ.get("PATRON_ADMIN_PASSWORD")
    if secret is None and sys.stdin.isatty():
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    elif secret is None:
        secret = sys.stdin.readline().rstrip("\r\n")  # piped: the first line (kept out of ps)
        if not secret:
            console.print(
                "[red]error:[/red] give --password or PATRON_ADMIN_PASSWORD, or pipe it (no terminal to ask)"
            )
            raise typer.Exit(2)

    async def work(db: Database) -> str:
        async with db.transaction() as conn:
            return await users.create(conn, tenant, email, secret, role)

    user_id = run_with_db(database_url(), work)
    console.print(
        f"user [bold]{email}[/bold] ({role}) of tenant [bold]{tenant}[/bold] created; sign in at /admin"
    )
    sys.stdout.write(user_id + "\n")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (also done on every start)."""
    url = database_url(upgrade=False)
    migrate.upgrade(url)
    console.print(f"database at revision {migrate.current(url)}")


@db_app.command("url")
def db_show_url() -> None:
    """Print the database URL. The embedded server's URL works while another `patron` process
    (serve, worker) holds that server: with none, this command starts it and stops it again."""
    sys.stdout.write(database_url(upgrade=False) + "\n")


@app.command()
def verify(tenant: str = typer.Option(None, help="check one tenant (slug); default: all")) -> None:
    """Check every ledger invariant; exit 1 naming each that fails."""
    from patron import verify as checks
    from patron.tenants import store

    async def work(db: Database) -> tuple[list[checks.Failure], dict[int, str]]:
        async with db.read() as conn:
            tenant_id = await store.tenant_id_by_slug(conn, tenant) if tenant is not None else None
            slugs = {row["id"]: row["slug"] for row in await store.list_tenants(conn)}
            return await checks.run(conn, tenant_id), slugs

    failures, slugs = run_with_db(database_url(), work)
    if not failures:
        console.print(f"[green]ok[/green]: {len(checks.CHECKS)} invariants hold")
        return
    sys.stdout.write("".join(line + "\n" for line in checks.report(failures, slugs)))  # unwrapped, for grep
    console.print(f"[red]{len(failures)} of {len(checks.CHECKS)} invariants fail[/red]")
    raise typer.Exit(1)


@app.command("import")
def import_(
    kind: str = typer.Argument(..., help="stores, products, members, lots or receipts"),
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="a CSV or Parquet file (docs/import.md)"
    ),
    tenant: str = typer.Option(..., "--tenant", help="the tenant (slug) to import into"),
    fmt: str = typer.Option(None, "--format", help="csv or parquet (default: from the file's extension)"),
    rejects: Path = typer.Option(
        None, "--rejects", help="where rejected rows go (default: FILE.rejects.csv)"
    ),
    batch_rows: int = typer.Option(20_000, "--batch-rows", min=1, hidden=True),
    workers: int = typer.Option(1, "--workers", min=1, max=32, help="database connections loading at once"),
) -> None:
    """Import data migrated from another system; a rerun continues an interrupted import.
    Ends with `patron verify` for the tenant (exit 1 if it fails; 2 if the import cannot run)."""
    from patron.importer import command

    code = command.main(
        database_url(),
        kind,
        file,
        tenant=tenant,
        fmt=fmt,
        rejects=rejects,
        batch_rows=batch_rows,
        workers=workers,
        console=console,
    )
    if code:
        raise typer.Exit(code)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="address to serve on"),
    port: int = typer.Option(8000, min=1, max=65535, help="port to serve on"),
    sample: int = typer.Option(None, "--sample", min=1, help="replay only the first N baskets in time order"),
    no_serve: bool = typer.Option(False, "--no-serve", help="load and replay, then exit instead of serving"),
    workers: int = typer.Option(8, "--workers", min=1, max=64, help="households replayed concurrently"),
) -> None:
    """Load a real retailer's year into a demo program (reusing what is there), replay its
    baskets through the checkout engine, and serve the API and admin UI (see docs/demo.md)."""
    from patron.demo import run

    if not no_serve:
        from patron.api import processes

        processes.ensure_port_free(host, port)  # before minutes of loading, not after
    url = database_url()
    try:
        summary = run.run(url, sample=sample, console=console, workers=workers)
    except PatronError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    base = f"http://{host}:{port}"
    console.print(f"demo tenant [bold]demo[/bold]; admin API key: [bold]{summary.api_key}[/bold]")
    where = f"API: {base}/v1  docs: {base}/docs  admin UI: {base}/admin"
    console.print(where if not no_serve else f"not served (--no-serve); `patron serve` would give {where}")
    email, password = summary.admin_login
    console.print(
        f"admin UI sign-in: [bold]{email}[/bold] / [bold]{password}[/bold] (a new password every run)"
    )
    sys.stdout.write(summary.api_key + "\n")
    sys.stdout.flush()
    if not no_serve:
        serve(host=host, port=port, workers=1, access_log=False)


@app.command()
def worker(
    tenant: list[str] = typer.Option(None, "--tenant", help="serve only this tenant (slug; repeatable)"),
    poll: float = typer.Option(0.5, min=0.01, help="seconds a loop waits when it found no work"),
    schedule_every: float = typer.Option(
        60.0, min=0.1, help="seconds between runs of the scheduled jobs (birthdays, tiers, retention)"
    ),
    retry_base: float = typer.Option(1.0, min=0.01, help="seconds before a message's first retry (doubling)"),
    senders: int = typer.Option(2, min=1, max=16, help="message batches sent at once by this process"),
    headroom: float = typer.Option(
        0.9, min=0.1, max=rules.MOST_HEADROOM, help="pace at this share of a channel's rate (at most 0.95)"
    ),
    nice: int = typer.Option(10, min=0, max=19, help="lower CPU priority than `patron serve` beside it"),
    idle: bool = typer.Option(
        True,
        "--idle/--no-idle",
        help="run in Linux's idle scheduling class, with its PostgreSQL sessions: only on CPU time "
        "the tills leave (--no-idle: the nice value alone)",
    ),
    expiry_every: float = typer.Option(
        3600.0, min=0, help="seconds between looks for expiring points (0: at every schedule run)"
    ),
    keep_days: int = typer.Option(
        30,
        min=0,
        help="delete handled events, finished webhook deliveries and notices of expired lots after this many days (0: keep)",
    ),
) -> None:
    """Run a back-office worker until stopped: events, messages, broadcasts, webhooks, birthdays
    (any number may run at once; see docs/backoffice.md)."""
    from patron.backoffice import process

    settings = process.settings_from(
        poll=poll,
        schedule_every=schedule_every,
        retry_base=retry_base,
        senders=senders,
        headroom=headroom,
        expiry_every=expiry_every,
        keep_days=keep_days,
    )
    process.run(database_url(), tenants=tenant or None, settings=settings, nice=nice, idle=idle)


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except OPERATOR_ERRORS as exc:
        # An operator's mistake or an unreachable database: one line, exit 2 ("cannot run"), never
        # a traceback, and never 1, which `verify` and `import` keep for a ledger that fails.
        console.print(f"[red]error:[/red] {_operator_message(exc)}")
        raise SystemExit(2) from None


def _operator_message(exc: BaseException) -> str:
    if isinstance(exc, PatronError):
        return exc.message
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, ConfigError):
        return first
    if isinstance(exc, alembic.util.exc.CommandError):
        return f"{first}: the database's schema is of another version of Patron"
    return f"the database cannot be used: {first}"


OPERATOR_ERRORS = (
    PatronError,
    ConfigError,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.ArgumentError,
    # a database at a revision this Patron does not know (migrated by a newer one): a traceback
    # and exit 1, which for `verify` means a broken ledger
    alembic.util.exc.CommandError,
)
