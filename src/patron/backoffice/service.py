"""Back-office use cases behind the API: channels, templates, the message log, broadcasts, webhooks."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from patron.backoffice import broadcast_store, rules, store, templates
from patron.backoffice import webhook_store as webhooks
from patron.backoffice.masking import MASK, masked_url
from patron.backoffice.model import BroadcastIn, EmailChannelIn, SmsChannelIn, TemplateIn, WebhookIn
from patron.db.pool import Connection, Database
from patron.errors import Conflict, InvalidInput, NotFound
from patron.members import store as members
from patron.program.settings import Program


def _uuid(raw: str, what: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError, TypeError) as exc:
        raise NotFound(f"no such {what}", code=f"{what}_not_found") from exc


def _locale(text: str, field: str = "locale") -> str:
    try:
        return templates.normalize_locale(text)
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}", code="invalid_locale", field=field) from exc


async def _check_template(source: str, trigger: str, program: Program, locale: str, field: str) -> None:
    """On a thread: a template working up to its bounds takes up to half a second, which on the
    event loop every till of the process would wait for."""
    try:
        await asyncio.to_thread(templates.check, source, trigger, currency=program.currency, locale=locale)
    except templates.TemplateProblem as exc:
        raise InvalidInput(f"{field}: {exc}", code="invalid_template", field=field) from None


# --- channels --------------------------------------------------------------------------------


def _present_channel(channel: str, row: dict[str, Any]) -> dict[str, Any]:
    """A channel's settings without its secrets (header values, the password, those in the URL)."""
    settings = dict(row["settings"])
    if "headers" in settings:
        settings["headers"] = {name: MASK for name in settings["headers"]}
    if settings.get("password"):
        settings["password"] = MASK
    if settings.get("url"):
        settings["url"] = masked_url(settings["url"])
    return {
        "channel": channel,
        **settings,
        "rate_per_second": row["rate_per_second"],
        "updated_at": row["updated_at"],
    }


async def saved_channel_settings(conn: Connection, tenant_id: int, channel: str) -> dict[str, Any]:
    """A channel's stored settings, secrets included: for the admin form, which never shows the
    secrets and so keeps them when its fields are left empty."""
    row = await store.get_channel(conn, tenant_id, channel)
    return dict(row["settings"]) if row else {}


async def put_sms(conn: Connection, tenant_id: int, body: SmsChannelIn) -> dict[str, Any]:
    settings = {"url": body.url, "headers": body.headers}
    await store.put_channel(conn, tenant_id, "sms", settings, body.rate_per_second)
    return await get_channel(conn, tenant_id, "sms")


async def put_email(conn: Connection, tenant_id: int, body: EmailChannelIn) -> dict[str, Any]:
    settings = body.model_dump(by_alias=True, exclude={"rate_per_second"})
    await store.put_channel(conn, tenant_id, "email", settings, body.rate_per_second)
    return await get_channel(conn, tenant_id, "email")


async def get_channel(conn: Connection, tenant_id: int, channel: str) -> dict[str, Any]:
    row = await store.get_channel(conn, tenant_id, channel)
    if row is None:
        raise NotFound(f"the {channel} channel is not configured", code="channel_not_found")
    return _present_channel(channel, row)


# --- templates -------------------------------------------------------------------------------


def _trigger(trigger: str) -> str:
    if trigger not in templates.TRIGGERS:
        raise NotFound(
            f"no trigger {trigger!r}; triggers: {', '.join(templates.TRIGGERS)}", code="trigger_not_found"
        )
    return trigger


async def put_template(
    conn: Connection, tenant_id: int, program: Program, trigger: str, body: TemplateIn
) -> dict[str, Any]:
    _trigger(trigger)
    locale = _locale(body.locale)
    if body.subject is not None and body.channel == "sms":
        raise InvalidInput("subject: only email messages have a subject", field="subject")
    await _check_template(body.body, trigger, program, locale, "body")
    if body.subject:
        await _check_template(body.subject, trigger, program, locale, "subject")
    return await store.put_template(conn, tenant_id, trigger, body.channel, locale, body.subject, body.body)


async def delete_template(conn: Connection, tenant_id: int, trigger: str, channel: str, locale: str) -> None:
    if not await store.delete_template(conn, tenant_id, _trigger(trigger), channel, _locale(locale)):
        raise NotFound("no such template", code="template_not_found")


# --- messages --------------------------------------------------------------------------------


def _next(last: dict[str, Any] | None) -> str | None:
    """The ``X-Next-Before`` of a page whose last row is ``last``: its (created_at, id), in
    characters a URL carries as they are (UTC with ``Z``, ``_`` between): the ``+00:00`` of
    ``created_at.isoformat()`` pasted into ``?before=`` came as a space and was refused."""
    if last is None:
        return None
    return f"{last['created_at'].astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}_{last['id']}"


def _cursor(text: str | None) -> tuple[datetime, str] | None:
    if not text:
        return None
    # the form before ``_next``'s, "<isoformat>|<id>", is still read, its "+" read as a space too
    at, _, row_id = text.rpartition("_") if "|" not in text else text.partition("|")
    try:
        moment = datetime.fromisoformat(re.sub(r" ([0-9]{2}:[0-9]{2})$", r"+\1", at))
        if moment.tzinfo is None:
            raise ValueError("no offset")
        return moment, str(uuid.UUID(row_id))
    except ValueError as exc:
        message = "before: give the `X-Next-Before` header of the previous page, as it came"
        raise InvalidInput(message, field="before") from exc


async def list_messages(
    conn: Connection,
    tenant_id: int,
    *,
    member: str | None,
    broadcast: str | None,
    status: str | None,
    limit: int,
    before: str | None,
    trigger: str | None = None,
) -> dict[str, Any]:
    member_id = _uuid(member, "member") if member else None
    if member_id is not None and not await members.exists(conn, tenant_id, member_id):
        raise NotFound("no such member", code="member_not_found")
    broadcast_id = _uuid(broadcast, "broadcast") if broadcast else None
    if broadcast_id is not None and await broadcast_store.broadcast(conn, tenant_id, broadcast_id) is None:
        raise NotFound("no such broadcast", code="broadcast_not_found")  # as for an unknown member
    items = await store.list_messages(
        conn,
        tenant_id,
        member_id=member_id,
        broadcast_id=broadcast_id,
        status=status,
        trigger=trigger,
        limit=limit,
        before=_cursor(before),
    )
    return {"items": items, "next": _next(items[-1] if len(items) == limit else None)}


# --- broadcasts ------------------------------------------------------------------------------


async def create_broadcast(
    conn: Connection, tenant_id: int, program: Program, body: BroadcastIn, now: datetime
) -> dict[str, Any]:
    locale = _locale(body.locale)
    if body.subject is not None and body.channel == "sms":
        raise InvalidInput("subject: only email messages have a subject", field="subject")
    await _check_template(body.body, "broadcast", program, locale, "body")
    if body.subject:
        await _check_template(body.subject, "broadcast", program, locale, "subject")
    if body.filter.tier is not None:
        known = {tier.code for tier in program.effective_tiers}
        wanted = [body.filter.tier] if isinstance(body.filter.tier, str) else body.filter.tier
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise InvalidInput(f"filter.tier: the program has no tier {unknown[0]!r}", field="filter.tier")
    # checked here, where a date can be read in the program's zone and so compared with a moment
    if rules.empty_window(
        body.filter.last_purchase_after, body.filter.last_purchase_before, program.timezone
    ):
        raise InvalidInput(
            "filter: last_purchase_after must be before last_purchase_before (such a window selects no one)",
            field="filter",
        )
    broadcast_id = await broadcast_store.insert_broadcast(
        conn,
        tenant_id,
        channel=body.channel,
        locale=locale,
        subject=body.subject,
        body=body.body,
        filter_=body.filter.model_dump(exclude_none=True),
        now=now,
        send_at=body.send_at if body.send_at is not None and body.send_at > now else None,
    )
    return await get_broadcast(conn, tenant_id, broadcast_id, now)


async def get_broadcast(conn: Connection, tenant_id: int, raw_id: str, now: datetime) -> dict[str, Any]:
    row = await broadcast_store.broadcast(conn, tenant_id, _uuid(raw_id, "broadcast"))
    if row is None:
        raise NotFound("no such broadcast", code="broadcast_not_found")
    return _broadcast(row, now)


async def list_broadcasts(
    conn: Connection, tenant_id: int, *, limit: int, before: str | None, now: datetime
) -> dict[str, Any]:
    """Broadcasts, newest first, a page at a time (``next`` as in the message log)."""
    rows = await broadcast_store.list_broadcasts(conn, tenant_id, limit, _cursor(before))
    last = rows[-1] if len(rows) == limit else None
    return {"items": [_broadcast(row, now) for row in rows], "next": _next(last)}


def _finished(row: dict[str, Any]) -> datetime | None:
    """When a done broadcast's last message was settled, sent or failed; one with no message
    (nobody matched its filter) finished when its audience was found."""
    moments = [row[key] for key in ("expanded_at", "last_sent_at", "last_failed_at") if row[key] is not None]
    return max(moments, default=None)


def _broadcast(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A broadcast as the API answers it; its status from its row, its counts and the time."""
    # ``expanding``: being sent (its lanes not all done); ``expanded``: every member's message written
    if row["status"] == "cancelled":
        status = "cancelled"
    elif row["status"] == "expanding" and row["send_at"] is not None and row["send_at"] > now:
        status = "scheduled"
    elif row["status"] == "expanding" and row["total"] == 0:
        status = "preparing"
    elif row["status"] == "expanding" or row["queued"]:
        status = "sending"
    else:
        status = "done"
    return {
        "id": row["id"],
        "status": status,
        "channel": row["channel"],
        "locale": row["locale"],
        "subject": row["subject"],
        "body": row["body"],
        "filter": row["filter"],
        "created_at": row["created_at"],
        "send_at": row["send_at"],
        "audience": row["audience"],
        "total": row["total"],
        "queued": row["queued"],
        "sent": row["sent"],
        "failed": row["failed"],
        "cancelled": row["cancelled"],
        "finished_at": _finished(row) if status == "done" else None,
        "cancelled_at": row["cancelled_at"],
    }


async def cancel_broadcast(db: Database, tenant_id: int, raw_id: str, now: datetime) -> dict[str, Any]:
    """Stops sending a broadcast, so that none of it goes out once this answers, in two steps:

    1. its status becomes cancelled and its queued messages that no worker holds fail, committed
       at once: from then on a worker that claims one of its messages fails it instead of sending
       it (a single step that waited on each held message let the workers send dozens more);
    2. the pages and messages workers held (a batch in flight, a fraction of a second) are
       waited for: once sent they stay sent, and one back for a retry (or written queued, its
       slot missed) fails as cancelled.

    Cancelling again changes nothing; a broadcast that has sent everything is a 409."""
    broadcast_id = _uuid(raw_id, "broadcast")
    async with db.transaction() as conn:
        row = await broadcast_store.lock_broadcast(conn, tenant_id, broadcast_id)
        if row is None:
            raise NotFound("no such broadcast", code="broadcast_not_found")
        if row["status"] == "expanded" and not await broadcast_store.has_queued_messages(
            conn, tenant_id, broadcast_id
        ):
            raise Conflict("the broadcast has been sent: nothing is left to cancel", code="broadcast_done")
        if row["status"] != "cancelled":
            await broadcast_store.cancel_broadcast(conn, tenant_id, broadcast_id, now)
    async with db.transaction() as conn:
        await broadcast_store.wait_for_lanes(conn, tenant_id, broadcast_id)
        await broadcast_store.fail_queued(conn, tenant_id, broadcast_id, wait=True)
        return await get_broadcast(conn, tenant_id, broadcast_id, now)


# --- webhooks --------------------------------------------------------------------------------


def _present_webhook(row: dict[str, Any]) -> dict[str, Any]:
    """A webhook as it is shown: never its secret, nor one written into its URL."""
    return {**row, "url": masked_url(row["url"])}


async def create_webhook(conn: Connection, tenant_id: int, body: WebhookIn) -> dict[str, Any]:
    return _present_webhook(await webhooks.insert(conn, tenant_id, body.url, list(body.events), body.secret))


async def list_webhooks(conn: Connection, tenant_id: int) -> list[dict[str, Any]]:
    return [_present_webhook(row) for row in await webhooks.list_all(conn, tenant_id)]


async def get_webhook(conn: Connection, tenant_id: int, raw_id: str) -> dict[str, Any]:
    row = await webhooks.get(conn, tenant_id, _uuid(raw_id, "webhook"))
    if row is None:
        raise NotFound("no such webhook", code="webhook_not_found")
    return _present_webhook(row)


async def delete_webhook(conn: Connection, tenant_id: int, raw_id: str, now: datetime) -> None:
    if not await webhooks.delete(conn, tenant_id, _uuid(raw_id, "webhook"), now):
        raise NotFound("no such webhook", code="webhook_not_found")


async def deliveries(
    conn: Connection, tenant_id: int, raw_id: str, limit: int, before: int | None
) -> dict[str, Any]:
    webhook = await get_webhook(conn, tenant_id, raw_id)
    items = await webhooks.deliveries(conn, tenant_id, webhook["id"], limit, before)
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}
