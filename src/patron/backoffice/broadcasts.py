"""Mass sends: a broadcast's audience sent a page of members at a time, each message written once.

The API only records the broadcast and answers; workers send it. When its time comes a worker
opens it: counts its audience (so that progress has a whole to measure against) and cuts it into
``LANES`` lanes by member id, each with a cursor. A sender then takes a lane (locked until its
page is recorded, so that the lanes are sent side by side by several senders), renders the next
members of the lane that the filter selects, sends them at the channel's pace, and writes each
message once, with its outcome, in the transaction that moves the lane's cursor on. A sender
killed mid-page leaves its lane where it was: the page is sent again under the same message ids
(made from the broadcast's and the member's), which a provider may use to drop the repeat.

Written once: a message queued first and written again when sent cost every message two rows and
ten index entries, and a lock between them; the slowest quotes beside a broadcast came with the
queueing most of all (BENCHMARKS.md, 2026-12-06). Members the page cannot send now are written
queued, for the ordinary sending: those in quiet hours (due at 09:00), and those whose slot was
missed (due at once)."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patron.backoffice import broadcast_store, messages, rules, store
from patron.backoffice.store import NewMessage
from patron.backoffice.tenancy import TenantInfo, Tenants
from patron.db.pool import Connection, Database

LANES = 16  # a lane is the members whose id begins with one hex digit
LOOK = 250  # members of a lane looked at in one page at most (of whom the filter selects some)


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


def lane_bounds(lane: int) -> tuple[str, str]:
    """The ids of a lane: after the first (exclusive) up to the second (inclusive)."""
    width = 1 << 124
    after = max(lane * width - 1, 0)
    return str(uuid.UUID(int=after)), str(uuid.UUID(int=(lane + 1) * width - 1))


def lanes_from(cursor: str | None) -> list[tuple[int, str | None, bool]]:
    """A new broadcast's lanes ``(lane, cursor, done)``; for one expanded before lanes, up to
    ``cursor`` (every member up to it was queued then), the lanes it passed are done."""
    lanes: list[tuple[int, str | None, bool]] = []
    for lane in range(LANES):
        after, last = lane_bounds(lane)
        if cursor is None or uuid.UUID(cursor) <= uuid.UUID(after):
            lanes.append((lane, None, False))
        elif uuid.UUID(cursor) >= uuid.UUID(last):
            lanes.append((lane, None, True))
        else:
            lanes.append((lane, cursor, False))
    return lanes


def message_ids(broadcast_id: str) -> Callable[[str], str]:
    """The ids of a broadcast's messages, by member: the same however often a page is sent.

    Each is ``uuid5(broadcast id, member id)``, made here from the namespace's bytes read once per
    page: ``uuid.uuid5`` parses the namespace and builds two ``UUID`` objects a call, 9 µs of a
    sender's CPU a message against about 2 (py-spy, bench/backoffice.py, 2026-12-07)."""
    namespace = uuid.UUID(broadcast_id).bytes

    def message_id(member_id: str) -> str:
        digest = bytearray(hashlib.sha1(namespace + member_id.encode()).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
        digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
        h = digest.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    return message_id


def message_id(broadcast_id: str, member_id: str) -> str:
    """A broadcast's message to a member (``message_ids`` for many of one broadcast)."""
    return message_ids(broadcast_id)(member_id)


async def open_broadcasts(db: Database, tenants: Tenants, now: datetime) -> int:
    """Opens one broadcast whose time has come: counts its audience and writes its lanes; then
    marks sent the broadcasts whose lanes are all done. Returns how many it changed."""
    opened = 0
    async with db.transaction() as conn:
        row = await broadcast_store.broadcast_to_open(conn, tenants.only, now)
        if row is not None:
            tenant = await tenants.get(conn, row["tenant_id"])
            who = audience(tenant, row["channel"], row["filter"])
            size = row["audience"]
            if size is None:
                size = await broadcast_store.audience_size(conn, tenant.id, who)
            await broadcast_store.open_lanes(conn, tenant.id, row["id"], lanes_from(row["cursor"]), size)
            opened = 1
    async with db.transaction() as conn:
        return opened + await broadcast_store.finish_broadcasts(conn, tenants.only, now)


@dataclass(frozen=True, slots=True)
class Page:
    """Members of one lane of a broadcast, rendered, to be sent in the transaction that holds the
    lane: ``ready`` to send (each with its member's row), ``failed`` (a template that fails)."""

    tenant_id: int
    broadcast_id: str
    lane: int
    cursor: str | None  # the last member the page covers (None: it covers none)
    done: bool  # the lane has no member after the page
    ready: list[tuple[NewMessage, dict[str, Any]]]
    failed: list[NewMessage]


async def take_page(
    conn: Connection, tenants: Tenants, tenant_id: int, channel: str, limit: int
) -> Page | None:
    """Locks a lane of a broadcast of this channel being sent, and renders the next members of it
    that the filter selects, ``limit`` at most (None: no lane is free)."""
    lane = await broadcast_store.claim_lane(conn, tenant_id, channel)
    if lane is None:
        return None
    tenant = tenants.from_row(lane)
    who = audience(tenant, channel, lane["filter"])
    after, last = lane_bounds(lane["lane"])
    page = await broadcast_store.audience_page(
        conn, tenant_id, who, lane["cursor"] or after, last, LOOK, limit
    )
    ready: list[tuple[NewMessage, dict[str, Any]]] = []
    failed: list[NewMessage] = []
    id_of = message_ids(lane["id"])
    for member in page.chosen:
        if not messages.consented(member, channel):  # consent given, but no address for the channel
            continue
        rendered = messages.render_message(
            tenant,
            member,
            trigger="broadcast",
            channel=channel,
            locale=lane["locale"],
            subject=lane["subject"],
            body=lane["body"],
            variables={},
            dedup_key=None,
            broadcast_id=lane["id"],
            message_id=id_of(member["id"]),
        )
        if rendered.status == "failed":
            failed.append(rendered)
        else:
            ready.append((rendered, member))
    if len(page.chosen) == limit:  # the page ends at its last member chosen; the lane goes on after it
        cursor, done = page.chosen[-1]["id"], False
    else:
        cursor, done = page.last_looked, page.looked < LOOK
    return Page(tenant_id, lane["id"], lane["lane"], cursor, done, ready, failed)


async def record_page(conn: Connection, page: Page, written: list[NewMessage], now: datetime) -> None:
    """Writes the page's messages with their outcomes and moves its lane on, in the transaction
    that holds the lane."""
    await store.insert_messages(conn, page.tenant_id, written, now)
    await broadcast_store.advance_lane(
        conn, page.tenant_id, page.broadcast_id, page.lane, page.cursor, page.done
    )
