"""The demo tenant and its reference data: created on the first run, reused on every later one.

Each step inserts only what is missing, so a run that was stopped half way simply goes on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from patron.campaigns import service as campaign_service
from patron.campaigns.model import CampaignIn
from patron.campaigns.rules import CampaignSet
from patron.db.pool import Database
from patron.demo import campaigns, data, store
from patron.errors import Conflict
from patron.program.settings import Program
from patron.tenants import service as tenants
from patron.tenants import store as tenants_store
from patron.web import store as web_store
from patron.web import users as web_users

SLUG = "demo"


@dataclass(slots=True)
class DemoTenant:
    tenant_id: int
    api_key: str
    created: bool
    program: Program


@dataclass(slots=True)
class Loaded:
    """What this run added (0 everywhere on a rerun) and what the tenant holds now."""

    added: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


async def tenant(db: Database) -> DemoTenant:
    """The demo tenant with a new admin key (keys are stored hashed: an old one cannot be shown).

    The demo program is written when the tenant is new, or while it has no receipts yet; after
    that a program changed through the API is left alone."""
    async with db.transaction() as conn:
        slugs = {row["slug"] for row in await tenants_store.list_tenants(conn)}
        if SLUG in slugs:
            tenant_id = await tenants_store.tenant_id_by_slug(conn, SLUG)
            _, api_key = await tenants.new_key(conn, SLUG, "patron demo")
            created = False
        else:
            made = await tenants.create(conn, SLUG, currency="USD", timezone="America/Chicago", country="US")
            tenant_id, api_key, created = made.tenant_id, made.api_key, True
        await tenants_store.lock_settings(conn, tenant_id)
        if created or (await store.counts(conn, tenant_id))["receipts"] == 0:
            await tenants_store.save_settings(
                conn, tenant_id, Program.model_validate(campaigns.PROGRAM).model_dump(mode="json")
            )
        program = Program.model_validate(await store.settings(conn, tenant_id))
    return DemoTenant(tenant_id, api_key, created, program)


DEMO_ADMIN_EMAIL = "admin@demo.patron.dev"


async def admin_user(db: Database, tenant_id: int) -> tuple[str, str]:
    """The demo's admin UI user with a new random password each run (only its hash is stored, so
    an old one cannot be shown again): (email, password)."""
    password = secrets.token_urlsafe(12)
    async with db.transaction() as conn:
        existing = await web_store.user_for_login(conn, DEMO_ADMIN_EMAIL)
        if existing is None:
            await web_users.create_in(conn, tenant_id, DEMO_ADMIN_EMAIL, password, "admin")
        elif existing["tenant_id"] == tenant_id:
            await web_store.set_password_hash(conn, existing["id"], web_users.hash_password(password))
        else:
            raise Conflict(f"{DEMO_ADMIN_EMAIL} is a user of another tenant", code="demo_user_taken")
    return DEMO_ADMIN_EMAIL, password


async def reference_data(
    db: Database, tenant_id: int, year: data.Year, products: list[data.Product] | None = None
) -> Loaded:
    """Stores, products and members (households with their cards), each in one transaction."""
    loaded = Loaded()
    stores = year.stores()
    async with db.transaction() as conn:
        before = await store.counts(conn, tenant_id)
        await store.put_stores(conn, tenant_id, stores)
    loaded.added["stores"] = len(stores) - before["stores"] if before["stores"] < len(stores) else 0

    catalog = products if products is not None else data.products()
    loaded.added["products"] = 0
    if before["products"] < len(catalog):
        async with db.transaction() as conn:
            loaded.added["products"] = await store.add_products(conn, tenant_id, catalog)

    households = year.households()
    loaded.added["members"] = 0
    if before["members"] < len(households):
        async with db.transaction() as conn:
            loaded.added["members"] = await store.add_members(conn, tenant_id, households)

    if any(loaded.added.values()):
        async with db.transaction() as conn:
            await store.analyze(conn)
    async with db.read() as conn:
        loaded.totals = await store.counts(conn, tenant_id)
    return loaded


async def demo_campaigns(db: Database, tenant_id: int, program: Program) -> tuple[int, int]:
    """Creates the demo campaigns not there yet (by name), through the campaigns service as
    ``POST /v1/campaigns`` does; returns (added now, campaigns in all)."""
    windows = {campaign_id: (start, end) for campaign_id, _, start, end in data.campaign_windows()}
    wanted = campaigns.definitions(windows)
    async with db.transaction() as conn:
        existing = {row["name"] for row in await campaign_service.list_all(conn, tenant_id, program.quantum)}
        added = 0
        for definition in wanted:
            if definition["name"] not in existing:
                await campaign_service.create(conn, tenant_id, CampaignIn.model_validate(definition))
                added += 1
    return added, len(existing) + added


async def compiled_campaigns(db: Database, tenant_id: int) -> CampaignSet:
    """The tenant's campaigns compiled for the engine, as the API's cache holds them."""
    async with db.read() as conn:
        return await campaign_service.load_compiled(conn, tenant_id)
