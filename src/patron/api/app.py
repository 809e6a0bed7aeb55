"""The composition root: builds the app from settings. Tests build the same app with their own."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from patron import __version__
from patron.api import errors, openapi
from patron.api.deps import ProgramCache
from patron.api.middleware import BodyLimit, ForgetOnChange, HeadAsGet, ServerTiming, TrailingSlash
from patron.api.responses import JSONResponse
from patron.api.routers import backoffice, campaigns, catalog, checkout, keys, members, program
from patron.campaigns.service import CampaignCache
from patron.clock import Clock, utcnow
from patron.db import statistics
from patron.db.pool import Connection, Database
from patron.tenants.cache import PrincipalCache
from patron.web.app import create_web_app

DESCRIPTION = """
Patron answers a till while the customer waits: discounts, points earned and spendable, the best
combination of promotions; then records the sale and takes returns exactly.

**Auth**: `Authorization: Bearer <api_key>`. Keys have the role `admin` (everything of its tenant)
or `pos` (checkout, receipts, returns, creating, finding and reading members and balances).

**Errors** always look like `{"error": {"code": "snake_case", "message": "...", "field": "..."}}`;
bad input is a 422 (400 for malformed JSON) and changes nothing. Money is a decimal string in the
currency's minor units, points are integers, times are RFC 3339 with an offset.

**Conventions the contract leaves open** (docs/input.md):

- A request body is JSON sent with `Content-Type: application/json`; without it the answer is a 415
  `unsupported_media_type`. A body over 8 MB is a 413 `payload_too_large`, refused before it is read
  (one sent in chunks, without its length, once past 8 MB).
- Points, quantities, line numbers and counts are JSON integers: `true`, `"5"` and `1.0` are a 422.
  Money sent in a basket is decimal text such as `"49.90"`: a JSON number, an exponent, separators or
  spaces are a 422. Money in answers is decimal text with the currency's minor units.
- A value the database cannot store (a NUL character, a number beyond a column) is a 422
  `invalid_input`; the request changed nothing. A NUL anywhere in a body is refused before the body
  is read, with `field` its path (`lines.0.attributes.brand`).
- `HEAD` answers as `GET`, without the body.
- No key, or a key that is not a Bearer token: 401 `unauthorized`; an unknown or revoked key: 401
  `invalid_api_key`; a `pos` key on an admin operation: 403 `forbidden`, whatever the body. An id of another tenant,
  or an id that is not a UUID, answers 404 like an unknown one.
- Retries: a receipt repeats by (store, number), a return by (receipt, number), a cancellation and a
  card attachment are idempotent, an adjustment repeats by its key. Repeats are compared by value:
  `"49.9"` equals `"49.90"`, and one moment written with two offsets is one moment. Each operation
  says what a repeat answers.
- In a query string, write the `+` of a phone number or of a time's offset as `%2B`: a bare `+`
  reads as a space.
"""


# A serving process allocates and frees many short-lived containers per request. With Python's
# default thresholds (700, 10, 10) each of its processes ran a full collection about every 1.5 s
# under 200 quotes/s, 2 to 8 ms each, freeing nothing; with these, a handful a run (BENCHMARKS.md).
SERVING_GC_THRESHOLDS = (20_000, 20, 100)


# How long a request's statement waits for a row another transaction holds (a member's, behind a
# slow transaction or an import's batch) before the request gives up with 503 ``busy``: without
# it, such requests held their connections for as long as the lock was held.
LOCK_TIMEOUT = 5.0


def create_app(
    database_url: str,
    *,
    clock: Clock = utcnow,
    pool_min: int = 2,
    pool_max: int = 10,
    freeze_gc: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
) -> FastAPI:
    """The HTTP API on ``database_url`` (already migrated). ``freeze_gc`` is for a serving process:
    what exists once it has started (modules, pools) is left out of every later garbage
    collection, and collections run less often (``SERVING_GC_THRESHOLDS``), which keeps the
    collector's pauses out of the tills' answer times."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def till_session(conn: Connection) -> None:
            await conn.execute(f"SET lock_timeout = {round(lock_timeout * 1000)}")

        db = Database(database_url, min_size=pool_min, max_size=pool_max, name="api", configure=till_session)
        await db.open()
        app.state.db = db
        # The admin web app's own small pool: its reports never hold a connection a till waits for.
        admin_db = Database(database_url, min_size=1, max_size=4, name="admin")
        await admin_db.open()
        app.state.admin_db = admin_db
        background = [
            asyncio.create_task(statistics.keep_fresh(admin_db)),
            asyncio.create_task(app.state.principals.follow(database_url)),
        ]
        if freeze_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(*SERVING_GC_THRESHOLDS)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await admin_db.close()
            await db.close()

    app = FastAPI(
        title="Patron",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JSONResponse,
        lifespan=lifespan,
        # TrailingSlash takes a /v1/ path's slash off; Starlette's redirect would put it back
        # where a route has a path parameter (/v1/products -> /v1/products/, without end)
        redirect_slashes=False,
    )
    app.state.clock = clock
    app.state.programs = ProgramCache()
    app.state.campaigns = CampaignCache()
    app.state.principals = PrincipalCache()
    # Checkout first: routes are matched in order, and the tills' calls are most of the traffic;
    # then communications and webhooks (docs/backoffice.md).
    routers = (
        checkout.router,
        keys.router,
        program.router,
        catalog.router,
        members.router,
        campaigns.router,
        *backoffice.routers,
    )
    for router in routers:
        app.include_router(router)
    errors.install(app, routers)
    openapi.document(app, routers)

    @app.get("/admin", include_in_schema=False)
    async def admin_home(request: Request) -> RedirectResponse:
        # the mount below answers paths under /admin/ only; the query goes along (?days=30)
        query = request.url.query
        return RedirectResponse("/admin/" + (f"?{query}" if query else ""))

    app.mount("/admin", create_web_app(app))  # the admin web app (docs/admin.md)

    @app.get(
        "/health",
        tags=["operations"],
        summary="Liveness: answers while the process runs",
        description='No key needed. Answers 200 `{"status": "ok"}`; `HEAD /health` answers the same without '
        "a body. It does not check the database.",
    )
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: answers 200 while the database answers",
        description='No key needed. 200 `{"status": "ready"}` when a statement reaches the database, else 503 '
        "`database_unavailable`: for a load balancer, which should send tills elsewhere meanwhile.",
        responses={
            503: {
                "description": "no statement reaches the database (`database_unavailable`, with `Retry-After`)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    )
    async def ready(request: Request) -> dict[str, str]:
        async with request.app.state.db.read() as conn:
            await conn.execute("SELECT 1")
        return {"status": "ready"}

    app.add_middleware(ForgetOnChange, principals=app.state.principals)
    app.add_middleware(HeadAsGet)
    app.add_middleware(TrailingSlash)
    app.add_middleware(BodyLimit)
    app.add_middleware(ServerTiming)  # added last, so it runs first: its time covers the others'
    return app


def app_from_env() -> FastAPI:
    """The app for ``patron serve --workers N``: each worker process builds its own from the
    (already resolved and migrated) PATRON_DATABASE_URL that ``serve`` hands down."""
    from patron.config import Settings

    settings = Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("PATRON_DATABASE_URL is not set")
    return create_app(
        settings.database_url, pool_min=settings.pool_min, pool_max=settings.pool_max, freeze_gc=True
    )
