"""Mass sends: a broadcast's filter turned into messages, a page of members at a time.

The API only records the broadcast and answers; workers expand it. Each page is one transaction
that moves the broadcast's cursor on, so a killed worker loses nothing and repeats nothing (and
the dedup key ``b:<broadcast>:<member>`` would stop a repeat anyway).

Pages are expanded just ahead of sending: only while fewer than ``LEAD_SECONDS`` of the channel's
rate of the broadcast's messages are due. Rendering a 100,000-member broadcast at once would be a
burst of work beside the tills for nothing (the messages could only leave at the channel's rate).
The audience is counted once, with the first page, so that progress has a whole to measure against."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from patron.backoffice import broadcast_store, messages, rules, store
from patron.backoffice.tenancy import TenantInfo, Tenants
from patron.db.pool import Database

# A page is one INSERT of its messages: at 1,000 that statement took 20 to 45 ms of a core, once a
# second at 900 messages a second, and the slowest quotes beside a broadcast lined up with those
# statements (bench/backoffice.py, 2026-12-05). Smaller pages cut the same work into short pieces.
PAGE = 250
LEAD_SECONDS = 3.0  # expand while fewer than this many seconds of sending are due
LEAST_AHEAD = 2 * PAGE  # ... and always keep at least this many due


def _listed(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def city_form(city: str) -> str:
    """A filter's city as the audience query compares members' cities: NFC and lower case, so
    "München" written decomposed (macOS, PIM exports) is the same city."""
    return unicodedata.normalize("NFC", city).lower()


def audience(tenant: TenantInfo, channel: str, filter_: dict[str, Any]) -> broadcast_store.Audience:
    cities = _listed(filter_.get("city"))
    return broadcast_store.Audience(
        channel=channel,
        default_tier=tenant.default_tier,
        tiers=_listed(filter_.get("tier")),
        cities=[city_form(c) for c in cities] if cities is not None else None,
        before=rules.filter_moment(filter_.get("last_purchase_before"), tenant.program.timezone),
        after=rules.filter_moment(filter_.get("last_purchase_after"), tenant.program.timezone),
        consents=_listed(filter_.get("consent")),
    )


async def expand(db: Database, tenants: Tenants, now: datetime) -> int:
    """Turns one page of one broadcast's members into queued messages; returns how many members
    were looked at (0: no broadcast is waiting, or each has enough messages due)."""
    async with db.transaction() as conn:
        row = await broadcast_store.claim_expanding_broadcast(
            conn, tenants.only, now, LEAD_SECONDS, LEAST_AHEAD
        )
        if row is None:
            return 0
        tenant = await tenants.get(conn, row["tenant_id"])
        who = audience(tenant, row["channel"], row["filter"])
        # the audience is counted once, at the first page: progress is measured against it
        size = await broadcast_store.audience_size(conn, tenant.id, who) if row["audience"] is None else None
        found, cursor = await broadcast_store.audience_page(conn, tenant.id, who, row["cursor"], PAGE)
        queued = [
            messages.render_message(
                tenant,
                member,
                trigger="broadcast",
                channel=row["channel"],
                locale=row["locale"],
                subject=row["subject"],
                body=row["body"],
                variables={},
                dedup_key=f"b:{row['id']}:{member['id']}",
                broadcast_id=row["id"],
            )
            for member in found
            if messages.consented(member, row["channel"])
        ]
        added = await store.insert_messages(conn, tenant.id, queued, now)
        await broadcast_store.advance_broadcast(conn, tenant.id, row["id"], cursor, added, now, audience=size)
        return max(1, len(found))
