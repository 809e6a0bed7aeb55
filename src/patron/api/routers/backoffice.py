"""Communications and webhooks (contract 9 and 10): channels, templates, the message log,
broadcasts, webhooks and their deliveries. All admin. Workers (``patron worker``) do the sending."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response

from patron.api.deps import AdminKey
from patron.api.routing import JsonBodyRoute
from patron.backoffice import service
from patron.backoffice import store as backoffice_store
from patron.backoffice.model import (
    BroadcastIn,
    EmailChannelIn,
    MessageTrigger,
    SmsChannelIn,
    TemplateIn,
    WebhookIn,
)
from patron.backoffice.templates import TRIGGERS, VARIABLES

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["communications"])
NEXT = "X-Next-Before"  # the `before` of a list's next page
# a list's 200, with the header that leads to its next page declared
_PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a page of the list",
        "headers": {
            NEXT: {
                "description": "when there may be more: the `before` of the next page, safe in a URL as it is",
                "schema": {"type": "string"},
            }
        },
    }
}
hooks = APIRouter(route_class=JsonBodyRoute, prefix="/v1/webhooks", tags=["webhooks"])

_TEMPLATE_HELP = (
    "A Jinja2 template (sandboxed). Filters: `money`, `number`, `date`, `datetime` (Babel, in the "
    "template's locale and the member's time zone). Variables of every trigger: "
    + "; ".join(VARIABLES["*"])
    + ". Per trigger: "
    + "; ".join(f"`{t}`: {', '.join(VARIABLES[t]) or 'no more'}" for t in TRIGGERS)
    + ". A template that does not parse or names an unknown variable is a 422. Each trigger may have "
    "one template per channel and locale; a member gets the locale of the country of the store of their "
    "latest receipt (else the program's country), else English."
)


@router.put(
    "/channels/sms",
    summary="Configure the SMS provider (admin)",
    description="Creates or replaces the tenant's SMS channel and answers 200 with it as `GET` shows it "
    "(header values and the URL's secrets masked). 422 for a URL that is not http(s) or has spaces or port 0, a "
    "`rate_per_second` below 0.01, a header that is not a valid HTTP header name or whose value has "
    "a line break, or one the HTTP client sets itself (`Content-Length`, `Content-Type`, "
    "`Content-Encoding`, `Host`, `Transfer-Encoding`, `Connection` and the other hop-by-hop headers).",
)
async def put_sms(body: SmsChannelIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.put_sms(conn, ctx.tenant_id, body)


@router.put(
    "/channels/email",
    summary="Configure the SMTP server (admin)",
    description="Creates or replaces the tenant's email channel and answers 200 with it as `GET` shows it "
    "(password masked). `starttls` is a JSON boolean (default false); `rate_per_second` is optional "
    "(at least 0.01). 422 for a host that is not a host name or a `from` that is not an address.",
)
async def put_email(body: EmailChannelIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.put_email(conn, ctx.tenant_id, body)


@router.get(
    "/channels/{channel}",
    summary="A channel's settings, secrets masked (admin)",
    description="`channel` is `sms` or `email`. Its settings, `rate_per_second` and `updated_at`; header "
    "values, the password, the password in the URL and the values of its query parameters named like "
    "secrets (`api_key`, `token`, `sig`...) read `***`. 404 `channel_not_found` when it was never configured.",
)
async def get_channel(channel: Literal["sms", "email"], ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await service.get_channel(conn, ctx.tenant_id, channel)


@router.put(
    "/templates/{trigger}",
    summary="Set a trigger's template for a channel and locale (admin)",
    description=_TEMPLATE_HELP,
)
async def put_template(trigger: str, body: TemplateIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.put_template(conn, ctx.tenant_id, ctx.program, trigger, body)


@router.get(
    "/templates",
    summary="Every template (admin)",
    description="A list (not paginated) sorted by trigger, channel and locale: `trigger`, `channel`, "
    "`locale`, `subject`, `body`, `updated_at`.",
)
async def list_templates(ctx: AdminKey) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        return await backoffice_store.templates(conn, ctx.tenant_id)


@router.delete(
    "/templates/{trigger}",
    status_code=204,
    summary="Remove a template (admin)",
    description="Removes the template of `?channel=` (required) and `?locale=` (default `en`; `ru-RU` and "
    "`ru_RU` are one). Answers 204. 404 `template_not_found` or `trigger_not_found`; 422 `invalid_locale`.",
)
async def delete_template(
    trigger: str, ctx: AdminKey, channel: Literal["sms", "email"], locale: str = "en"
) -> Response:
    async with ctx.db.transaction() as conn:
        await service.delete_template(conn, ctx.tenant_id, trigger, channel, locale)
    return Response(status_code=204)


@router.get(
    "/messages",
    summary="The message log, newest first (admin)",
    description="A list: each message with `id`, `trigger` (`broadcast` for broadcasts), `channel`, `status` "
    "(`queued`, `sent`, `failed`), `attempts`, `created_at`, `sent_at`, and what was sent. When there "
    "may be more, the header `X-Next-Before` holds the `before` of the next page. An unknown `trigger` or "
    "`status` is a 422 naming it with the known ones. A `member` or "
    "`broadcast` this program does not have is a 404 (`member_not_found`, `broadcast_not_found`).",
    responses={**_PAGED, 404: {"description": "`member_not_found` or `broadcast_not_found`"}},
)
async def list_messages(
    ctx: AdminKey,
    response: Response,
    member: str | None = Query(None, description="a member's id"),
    broadcast: str | None = Query(None, description="a broadcast's id"),
    status: Literal["queued", "sent", "failed"] | None = None,
    trigger: MessageTrigger | None = Query(
        None, description="only this trigger's messages (`broadcast`: broadcasts')"
    ),
    limit: int = Query(100, ge=1, le=1000),
    before: str | None = Query(
        None, description="`X-Next-Before` of the previous page, as it came (it needs no encoding)"
    ),
) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        page = await service.list_messages(
            conn,
            ctx.tenant_id,
            member=member,
            broadcast=broadcast,
            status=status,
            trigger=trigger,
            limit=limit,
            before=before,
        )
    if page["next"] is not None:
        response.headers[NEXT] = str(page["next"])
    return list(page["items"])


@router.post(
    "/broadcasts",
    status_code=202,
    summary="Send a message to the members a filter selects (admin)",
    description="Answers at once with the broadcast's `id`; workers queue and send the messages at the "
    "channel's rate (from `send_at` if it is given and in the future), only to members who consented "
    "to the channel, never in their quiet hours (21:00-09:00 local). The body is a template with the "
    "member variables.",
)
async def create_broadcast(body: BroadcastIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.create_broadcast(conn, ctx.tenant_id, ctx.program, body, ctx.now())


@router.get(
    "/broadcasts",
    summary="Broadcasts, newest first (admin)",
    description="A list of broadcasts as `GET /v1/broadcasts/{id}` answers them. When there may be more, "
    "the header `X-Next-Before` holds the `before` of the next page.",
    responses=_PAGED,
)
async def list_broadcasts(
    ctx: AdminKey,
    response: Response,
    limit: int = Query(20, ge=1, le=100),
    before: str | None = Query(
        None, description="`X-Next-Before` of the previous page, as it came (it needs no encoding)"
    ),
) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        page = await service.list_broadcasts(conn, ctx.tenant_id, limit=limit, before=before, now=ctx.now())
    if page["next"] is not None:
        response.headers[NEXT] = str(page["next"])
    return list(page["items"])


@router.get(
    "/broadcasts/{broadcast_id}",
    summary="A broadcast's progress (admin)",
    description="`status`: `scheduled` (until `send_at`), `preparing` (no message written yet), "
    "`sending` (members are left, or messages are queued), `done` or `cancelled`. "
    "`audience`: the members the filter selected when sending began (null before); "
    "`total`: messages written so far (each is written once it is sent, failed, or put off); "
    "`queued`, `sent` and `failed` count them by status, `cancelled` those of the failed that a "
    "cancellation stopped.",
)
async def get_broadcast(broadcast_id: str, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await service.get_broadcast(conn, ctx.tenant_id, broadcast_id, ctx.now())


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    summary="Stop sending a broadcast (admin)",
    description="No more messages are prepared, and those queued fail with the error `broadcast "
    "cancelled`; a message a worker is handing to the provider at that moment still goes. Answers the "
    "broadcast (`status` `cancelled`). Cancelling again answers the same; a broadcast that has sent "
    "everything is a 409 `broadcast_done`.",
    responses={404: {"description": "`broadcast_not_found`"}, 409: {"description": "`broadcast_done`"}},
)
async def cancel_broadcast(broadcast_id: str, ctx: AdminKey) -> dict[str, Any]:
    return await service.cancel_broadcast(ctx.db, ctx.tenant_id, broadcast_id, ctx.now())


@hooks.post(
    "",
    status_code=201,
    summary="Subscribe a URL to events (admin)",
    description="It gets the events that occur after it is created, none from before. "
    "Each event is POSTed as `{id, type, occurred_at, tenant, data}` with the header "
    "`X-Patron-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`. A 2xx answer ends it; "
    "otherwise it is retried with growing delays (10 s up to 3 h) for at least 24 hours. A member's "
    "events arrive in the order they happened: a later one waits until the earlier one was delivered.",
)
async def create_webhook(body: WebhookIn, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.transaction() as conn:
        return await service.create_webhook(conn, ctx.tenant_id, body)


@hooks.get(
    "",
    summary="Every webhook (admin)",
    description="A list (not paginated), oldest first: `id`, `url`, `events`, `created_at`. The secret is "
    "never shown, nor secrets in the URL (read `***` as in a channel's); deleted webhooks are left out.",
)
async def list_webhooks(ctx: AdminKey) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        return await service.list_webhooks(conn, ctx.tenant_id)


@hooks.get(
    "/{webhook_id}",
    summary="A webhook (admin)",
    description="`id`, `url` (its secrets masked), `events` (sorted, each once), `created_at`; never the secret. 404 "
    "`webhook_not_found`, also once deleted.",
)
async def get_webhook(webhook_id: str, ctx: AdminKey) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        return await service.get_webhook(conn, ctx.tenant_id, webhook_id)


@hooks.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Stop a webhook (admin)",
    description="Answers 204. No new deliveries are made for it, and its pending ones fail at once "
    "(`last_error` says why) and are pruned with the rest; its delivery log is no longer shown. Deleting it again is a 404 `webhook_not_found`.",
)
async def delete_webhook(webhook_id: str, ctx: AdminKey) -> Response:
    async with ctx.db.transaction() as conn:
        await service.delete_webhook(conn, ctx.tenant_id, webhook_id, ctx.now())
    return Response(status_code=204)


@hooks.get(
    "/{webhook_id}/deliveries",
    summary="A webhook's delivery log, newest first (admin)",
    description="A list: each delivery with `id`, `event_id`, `type`, `status` (`pending`: to be tried "
    "(again); `delivered`; `failed`: gave up after 24 hours), `attempts`, `last_status`, `last_error`, "
    "`created_at`, `next_attempt_at` (null once nothing more will be tried, and while the delivery waits "
    "behind an earlier pending one of its member), `delivered_at`. When there may be more, the header "
    "`X-Next-Before` holds the `before` of the next page. `attempts` counts the attempts whose "
    "outcome was recorded: a worker stopped (or its database connection lost) between the receiver's "
    "answer and the record sends the event again, with the same `id`, without counting it.",
    responses=_PAGED,
)
async def deliveries(
    webhook_id: str,
    ctx: AdminKey,
    response: Response,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, le=2**63 - 1, description="`X-Next-Before` of the previous page"),
) -> list[dict[str, Any]]:
    async with ctx.db.read() as conn:
        page = await service.deliveries(conn, ctx.tenant_id, webhook_id, limit, before)
    if page["next"] is not None:
        response.headers[NEXT] = str(page["next"])
    return list(page["items"])


routers = (router, hooks)
