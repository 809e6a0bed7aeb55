"""Scheduled work: birthday gifts, notices of expiring points, tiers when purchases leave the
window, and deleting old handled events.

Every job is safe to run in several workers at once and again after a crash: a birthday gift
is an entry with the key ``birthday:<year>`` written under the member's lock, an expiry notice
is claimed by inserting its lot into ``expiry_notices``, and a tier is evaluated again only if
it is still due once the member is locked."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from patron import clock as clocks
from patron.backoffice import messages, outbox, rules, schedule_store, store, templates, tiers, webhook_store
from patron.backoffice.tenancy import TenantInfo, Tenants
from patron.db.pool import Connection, Database
from patron.ledger import rules as ledger_rules
from patron.ledger import service as ledger
from patron.ledger import store as ledger_store


async def birthdays(db: Database, tenants: Tenants, now: datetime) -> int:
    """Credits every birthday gift due at ``now``; returns how many were given."""
    async with db.read() as conn:
        infos = [t for t in await tenants.all(conn) if t.program.birthday is not None]
    given = 0
    for tenant in infos:
        gift = tenant.program.birthday
        assert gift is not None
        occurrences = rules.birthday_candidates(now.astimezone(UTC).date(), gift.days_before)
        async with db.read() as conn:
            candidates = await schedule_store.birthday_candidates(conn, tenant.id, occurrences)
            found = await store.members_for_messages(conn, tenant.id, [row["id"] for row in candidates])
        for member in found:
            zone = messages.member_timezone(member, tenant)
            due = rules.birthday_gift_due(
                member["birthday"], gift.days_before, gift.valid_days, now, clocks.zone(zone)
            )
            if due is None or due.expires_at <= now:
                continue
            async with db.transaction() as conn:
                if await give_birthday_gift(
                    conn, tenant, member["id"], due, gift.points, gift.valid_days, now, zone
                ):
                    given += 1
    return given


async def give_birthday_gift(
    conn: Connection,
    tenant: TenantInfo,
    member_id: str,
    due: rules.BirthdayGift,
    points: int,
    valid_days: int,
    now: datetime,
    timezone: str,
) -> bool:
    """The gift lot and its ``points.birthday`` event, once per member and birthday year.
    ``timezone`` is the zone whose midnights bound the lot: its source keeps it, so that the
    balance shows the lot's expiry on that zone's date."""
    debt = await ledger_store.lock_member(conn, tenant.id, member_id)
    key = ledger_rules.birthday_key(due.year)
    if await schedule_store.has_entry_key(conn, tenant.id, member_id, key):
        return False
    made = await ledger.credit(
        conn,
        tenant.id,
        member_id,
        debt,
        kind="birthday",
        points=points,
        at=now,
        window=ledger_rules.Window(due.available_from, due.expires_at),
        source={"birthday": due.year, "timezone": timezone},
        operation="birthday",
        key=key,
        reason="birthday gift",
    )
    data = {
        "member_id": member_id,
        "points": points,
        "year": due.year,
        "lot_id": made.lot_id,
        "available_from": due.available_from.isoformat(),
        "expires_at": due.expires_at.isoformat(),
        "valid_days": valid_days,
    }
    await outbox.emit(conn, tenant.id, "points.birthday", member_id=member_id, data=data)
    return True


async def expiring_points(db: Database, tenants: Tenants, now: datetime, batch: int = 500) -> int:
    """Queues a ``points_expiring`` notice for lots that expire within 7 days, once per lot (one
    message per member for the lots found together). Returns how many lots were announced."""
    async with db.read() as conn:
        tenant_ids = await store.tenants_with_template(conn, "points_expiring", tenants.only)
    until = now + timedelta(days=rules.EXPIRY_NOTICE_DAYS)
    announced = 0
    for tenant_id in tenant_ids:
        while True:
            async with db.transaction() as conn:
                tenant = await tenants.get(conn, tenant_id)
                lots = await schedule_store.expiring_lots(conn, tenant_id, now, until, batch)
                claimed = await schedule_store.claim_notices(conn, tenant_id, lots, now)
                by_member: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for lot in lots:
                    if lot["id"] in claimed:
                        by_member[lot["member_id"]].append(lot)
                for member_id, its_lots in by_member.items():
                    first = min(lot["id"] for lot in its_lots)
                    await messages.queue_trigger(
                        conn,
                        tenant,
                        member_id,
                        "points_expiring",
                        templates.expiring_variables(its_lots),
                        f"x:{first}",
                        now,
                    )
                announced += len(claimed)
            if len(lots) < batch:
                break
    return announced


async def tier_checks(db: Database, tenants: Tenants, now: datetime, batch: int = 200) -> int:
    """Evaluates again the tiers of members whose purchases left the window; returns how many."""
    done = 0
    while True:
        async with db.read() as conn:
            due = await store.due_tier_checks(conn, now, batch, tenants.only)
        for row in due:
            async with db.transaction() as conn:
                tenant = await tenants.get(conn, row["tenant_id"])
                if await tiers.reevaluate_if_due(conn, tenant, row["member_id"], now):
                    done += 1
        if len(due) < batch:
            return done


async def settle_deliveries(db: Database, tenants: Tenants, now: datetime, *, stranded: bool = True) -> int:
    """Webhook deliveries that nothing else would move: those of deleted webhooks fail
    (``webhook_store.fail_deleted``), then, with ``stranded``, those left waiting behind nothing
    are made due (``webhook_store.release_stranded``). Returns how many were moved."""
    async with db.transaction() as conn:
        moved = await webhook_store.fail_deleted(conn, tenants.only)
    if stranded:
        async with db.transaction() as conn:
            moved += await webhook_store.release_stranded(conn, now, tenants.only)
    return moved


async def prune(db: Database, tenants: Tenants, now: datetime, keep_days: int, batch: int = 5000) -> int:
    """Deletes webhook deliveries that finished, and then events that were handled, more than
    ``keep_days`` ago, and the expiry notices of lots that expired that long ago (0: keeps
    everything); returns how many rows went. The outbox and the notices would otherwise grow by
    about a row per receipt each, for ever. Pending deliveries and unhandled events are kept
    whatever their age, and so is the message log (a member's history of what was sent).
    Batches of ``batch`` rows, each its own transaction, so no lock is held for long."""
    if keep_days <= 0:
        return 0
    before = now - timedelta(days=keep_days)
    deleted = 0
    # an event goes only once no delivery names it
    for step in (webhook_store.prune, outbox.prune, schedule_store.prune_notices):
        while True:
            async with db.transaction() as conn:
                gone = await step(conn, before, batch, tenants.only)
            deleted += gone
            if gone < batch:
                break
    return deleted
