"""Members' tiers as the back office tracks them (contract 3: the highest tier whose threshold is
at most the money paid in the last ``tier_window_days``, net of returns).

Evaluated after each receipt, return and cancellation, and again when a purchase leaves the
window. A change writes ``member.tier_changed`` to the outbox, under the member's lock so that
it takes its place in the member's order of events."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from patron.backoffice import outbox, store
from patron.backoffice.tenancy import TenantInfo
from patron.db.pool import Connection
from patron.ledger import store as ledger_store
from patron.money import format_money

# A purchase leaves the window just after window_days have passed since it.
_LEAVES = timedelta(seconds=1)


async def initial(conn: Connection, tenant: TenantInfo, member_id: str, now: datetime) -> None:
    """A new member starts in the tier of no purchases (no event: nothing changed)."""
    if await store.member_tier(conn, tenant.id, member_id) is None:
        await store.save_member_tier(conn, tenant.id, member_id, tenant.default_tier, Decimal(0), now, None)


async def reevaluate(
    conn: Connection, tenant: TenantInfo, member_id: str, now: datetime, *, receipt_at: datetime | None = None
) -> str | None:
    """Evaluates the member's tier at ``now`` (or at the time of the receipt that prompted it, if
    later: a till may send a receipt a little ahead), counting purchases up to that moment
    included; returns the new tier's code if it changed."""
    program = tenant.program
    await ledger_store.lock_member(conn, tenant.id, member_id)
    moment = max(now, receipt_at) if receipt_at else now
    since = moment - timedelta(days=program.tier_window_days)
    paid, oldest = await store.paid_in_window(conn, tenant.id, member_id, since, moment)
    tier = program.tier_for(paid)
    code = tier.code if tier else None
    next_check = None if oldest is None else oldest + timedelta(days=program.tier_window_days) + _LEAVES
    saved = await store.member_tier(conn, tenant.id, member_id)
    previous = saved["tier"] if saved is not None else tenant.default_tier
    await store.save_member_tier(conn, tenant.id, member_id, code, paid, now, next_check)
    if code == previous:
        return None
    data = {
        "member_id": member_id,
        "tier": tenant.tier(code),
        # a stored "no tier" stays none: ``tenant.tier(None)`` is the tier of no purchases under
        # the program of now, the new base tier when one was just added ("base -> base")
        "previous_tier": None if previous is None else tenant.tier(previous),
        "paid_in_window": format_money(paid, tenant.program.quantum),
    }
    await outbox.emit(conn, tenant.id, "member.tier_changed", member_id=member_id, data=data)
    return code


async def reevaluate_if_due(conn: Connection, tenant: TenantInfo, member_id: str, now: datetime) -> bool:
    """Evaluates again when a purchase has left the window since the last evaluation. Takes the
    member's lock before reading the tier row (the order every other writer uses)."""
    await ledger_store.lock_member(conn, tenant.id, member_id)
    saved = await store.member_tier(conn, tenant.id, member_id)
    if saved is None or saved["next_check_at"] is None or saved["next_check_at"] > now:
        return False
    await reevaluate(conn, tenant, member_id, now)
    return True


async def program_changed(conn: Connection, tenant: TenantInfo, now: datetime, batch: int = 5000) -> None:
    """The program's tiers or tier window changed: every member's tier is due to be evaluated
    again at ``now``, by the schedule's tier checks (in batches, each member under their lock),
    which write ``member.tier_changed`` where the tier changed. Kept tiers were decided by the
    old rules (a window shortened from a year to a day kept "silver" for up to a year).

    Members with receipts in the window whose tier no worker ever evaluated (imported, with
    imported receipts) are made due too, ``batch`` at a time: they held the tier of no purchases,
    and stayed out of every tier's broadcasts until their next receipt."""
    await store.make_tiers_due(conn, tenant.id, now)
    since = now - timedelta(days=tenant.program.tier_window_days)
    after: str | None = None
    while True:
        after = await store.track_tiers_due(conn, tenant.id, tenant.default_tier, since, now, after, batch)
        if after is None:
            return
