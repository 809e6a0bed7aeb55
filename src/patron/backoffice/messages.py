"""Queueing messages: which template, which locale, which channels, rendered for whom.

A message is queued only for a channel the member consented to and has an address for; it is
rendered now (so the log shows what was sent) and sent later by ``sender``."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from patron.backoffice import store, templates
from patron.backoffice.store import NewMessage
from patron.backoffice.tenancy import TenantInfo
from patron.db.pool import Connection

CHANNELS = ("sms", "email")


def consented(member: dict[str, Any], channel: str) -> bool:
    """The member agreed to this channel and has an address for it."""
    if not (member.get("consents") or {}).get(channel):
        return False
    return bool(member.get("phone") if channel == "sms" else member.get("email"))


def member_timezone(member: dict[str, Any], tenant: TenantInfo) -> str:
    """The time zone of the store of the member's latest receipt, else the program's."""
    return str(member.get("timezone") or tenant.program.timezone)


def member_country(member: dict[str, Any], tenant: TenantInfo) -> str | None:
    return member.get("country") or tenant.program.country


def render_message(
    tenant: TenantInfo,
    member: dict[str, Any],
    *,
    trigger: str,
    channel: str,
    locale: str,
    subject: str | None,
    body: str,
    variables: dict[str, Any],
    dedup_key: str | None,
    broadcast_id: str | None = None,
    message_id: str | None = None,
) -> NewMessage:
    """The message for one member; a template that fails to render is logged as ``failed``.
    ``message_id``: the id it is written with (None: the database makes one)."""
    timezone = member_timezone(member, tenant)
    context = templates.base_variables(
        member,
        tenant.tier(member.get("tier")),
        currency=tenant.program.currency,
        locale=locale,
        timezone=timezone,
    )
    context |= variables
    try:
        text = templates.render(body, context)
        title = templates.render(subject, context) if subject else None
    except templates.TemplateProblem as exc:
        return NewMessage(
            member["id"],
            trigger,
            channel,
            locale,
            subject,
            body,
            timezone,
            dedup_key,
            broadcast_id,
            status="failed",
            error=f"template: {exc}"[:500],
            id=message_id,
        )
    return NewMessage(
        member["id"], trigger, channel, locale, title, text, timezone, dedup_key, broadcast_id, id=message_id
    )


async def queue_trigger(
    conn: Connection,
    tenant: TenantInfo,
    member_id: str,
    trigger: str,
    variables: dict[str, Any],
    dedup_key: str,
    now: datetime,
) -> int:
    """Queues the ``trigger`` message for the member on each channel that has a template for it
    (contract 9: no template, no message). ``dedup_key`` makes a repeat do nothing."""
    found = await store.templates(conn, tenant.id, trigger)
    if not found:
        return 0
    members = await store.members_for_messages(conn, tenant.id, [member_id])
    if not members:
        return 0
    member = members[0]
    by_channel: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for template in found:
        by_channel[template["channel"]][template["locale"]] = template
    queued = []
    for channel, by_locale in sorted(by_channel.items()):
        if not consented(member, channel):
            continue
        locale = templates.choose_locale(list(by_locale), member_country(member, tenant))
        template = by_locale[locale]
        queued.append(
            render_message(
                tenant,
                member,
                trigger=trigger,
                channel=channel,
                locale=locale,
                subject=template["subject"],
                body=template["body"],
                variables=variables,
                dedup_key=f"{dedup_key}:{channel}",
            )
        )
    return await store.insert_messages(conn, tenant.id, queued, now)
