"""What the worker does with each outbox event, in the transaction that marks it handled.

Everything here only writes to the database (webhook deliveries, messages, tiers), so handling
an event and marking it handled commit together: a worker killed half-way leaves the event
unhandled and another one does it all again. Unique keys make a second run harmless anyway."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from patron.backoffice import messages, store, templates, tiers
from patron.backoffice import webhook_store as webhooks
from patron.backoffice.outbox import Event
from patron.backoffice.tenancy import TenantInfo
from patron.db.pool import Connection

TRIGGERS = {
    "receipt.confirmed": "receipt",
    "member.created": "welcome",
    "points.birthday": "birthday",
    "member.tier_changed": "tier_changed",
}
RECEIPT_EVENTS = ("receipt.confirmed", "receipt.returned", "receipt.cancelled")


def trigger_variables(event: Event) -> dict[str, Any]:
    data = event.data
    if event.type == "receipt.confirmed":
        return templates.receipt_variables(data)
    if event.type == "points.birthday":
        return templates.birthday_variables(data)
    if event.type == "member.tier_changed":
        return templates.tier_variables(data)
    return {}


def receipt_time(event: Event) -> datetime | None:
    """The sale time of the receipt an event is about (its result's ``at``)."""
    result = event.data.get("receipt", event.data)
    at = result.get("at") if isinstance(result, dict) else None
    return datetime.fromisoformat(at) if isinstance(at, str) else None


async def handle(conn: Connection, tenant: TenantInfo, event: Event, now: datetime) -> None:
    if event.type == "program.tiers_changed":  # internal: no webhook, no message
        await tiers.program_changed(conn, tenant, now)
        return
    subscribers = await webhooks.subscribed(conn, tenant.id, event.type, event.occurred_at)
    await webhooks.insert_deliveries(conn, tenant.id, event.id, event.member_id, subscribers, now)
    member_id = event.member_id
    if member_id is None:
        return
    if event.type == "member.created":
        await tiers.initial(conn, tenant, member_id, now)
    if event.type in RECEIPT_EVENTS:
        await tiers.reevaluate(conn, tenant, member_id, now, receipt_at=receipt_time(event))
    trigger = TRIGGERS.get(event.type)
    receipt_id = event.data.get("id") if trigger == "receipt" else None
    if isinstance(receipt_id, str) and await store.receipt_cancelled(conn, tenant.id, receipt_id):
        # cancelled before the worker came to it: its figures were taken back (the till voided
        # the sale), and the receipt message would tell of points and a balance that are not
        return
    if trigger is not None:
        await messages.queue_trigger(
            conn, tenant, member_id, trigger, trigger_variables(event), f"e:{event.uid}", now
        )
