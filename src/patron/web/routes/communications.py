"""Communications (contract 9): channels, templates with a rendered preview, the message log, and
broadcasts with their progress. Everything goes through the back office's use cases."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any, Final

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from patron.backoffice import service
from patron.backoffice import store as backoffice
from patron.backoffice import templates as message_templates
from patron.backoffice.masking import masked_url
from patron.backoffice.model import BroadcastIn, EmailChannelIn, SmsChannelIn, TemplateIn
from patron.errors import Conflict, InvalidInput, NotFound
from patron.web import forms, render
from patron.web.auth import Admin, Form, Viewer

router = APIRouter()
CHANNELS: Final = ("sms", "email")
MESSAGE_PAGE: Final = 50
MESSAGES: Final = {
    "sms": "SMS channel saved.",
    "email": "Email channel saved.",
    "template": "Template saved.",
    "template-deleted": "Template removed.",
}


async def _channels(admin: Admin) -> dict[str, dict[str, Any] | None]:
    found: dict[str, dict[str, Any] | None] = {}
    async with admin.db.read() as conn:
        for channel in CHANNELS:
            try:
                found[channel] = await service.get_channel(conn, admin.tenant_id, channel)
            except NotFound:
                found[channel] = None
    return found


async def _overview(
    request: Request,
    admin: Admin,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    channels = await _channels(admin)
    async with admin.db.read() as conn:
        items = await backoffice.templates(conn, admin.tenant_id)
        recent = await service.list_broadcasts(conn, admin.tenant_id, limit=10, before=None, now=admin.now())
    return render.page(
        request,
        "communications.html",
        admin,
        status_code=status,
        channels=channels,
        templates=items,
        triggers=message_templates.TRIGGERS,
        broadcasts=recent["items"],
        tiers=admin.program.effective_tiers,
        errors=errors or {},
        broadcast_errors=any(key.startswith("broadcast") for key in errors or {}),
        values=values or {},
        ok=MESSAGES.get(request.query_params.get("ok", "")),
    )


@router.get("/communications")
async def overview(request: Request, admin: Viewer) -> Response:
    return await _overview(request, admin)


# --- channels ----------------------------------------------------------------------------------


def _headers(text: str) -> dict[str, str]:
    """``Name: value`` lines into a dict."""
    headers = {}
    for line in text.splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise ValueError(f"not a header line: {line.strip()!r} (write Name: value)")
            headers[name.strip()] = value.strip()
    return headers


def _kept_url(posted: str, stored: str | None) -> str:
    """The URL to save: the stored one when the form sent it back as shown, its secrets masked."""
    return stored if stored and posted == masked_url(stored) else posted


@router.post("/communications/channels/{channel}")
async def save_channel(request: Request, posted: Form, channel: str) -> Response:
    admin = posted.admin
    admin.require_admin("channels")
    if channel not in CHANNELS:
        raise NotFound("no such channel")
    sent = {k: v for k, v in posted.form.items() if isinstance(v, str) and k != "csrf_token"}
    if nul := forms.nul_errors(sent, channel):
        values = {f"{channel}_{k}": v for k, v in sent.items()}
        return await _overview(request, admin, errors=nul, values=values, status=422)
    values = {f"{channel}_{k}": v for k, v in posted.form.items() if isinstance(v, str) and k != "csrf_token"}
    # The secrets are never shown again, so an empty field keeps what is saved; a box removes it.
    forget = posted.text("forget_secrets") == "on"
    try:
        async with admin.db.transaction() as conn:
            stored = await service.saved_channel_settings(conn, admin.tenant_id, channel)
            saved = {} if forget else stored
            if channel == "sms":
                sms = SmsChannelIn.model_validate(
                    {
                        "url": _kept_url(posted.text("url"), stored.get("url")),
                        "rate_per_second": forms.number_or_text(posted.text("rate_per_second")),
                        "headers": _headers(posted.text("headers")) or saved.get("headers") or {},
                    }
                )
                await service.put_sms(conn, admin.tenant_id, sms)
            else:
                email = EmailChannelIn.model_validate(
                    {
                        "host": posted.text("host"),
                        "port": forms.int_or_text(posted.text("port")),
                        "from": posted.text("from"),
                        "username": posted.text("username") or None,
                        "password": posted.text("password") or saved.get("password"),
                        "starttls": posted.text("starttls") == "on",
                        "rate_per_second": forms.number_or_text(posted.text("rate_per_second")),
                    }
                )
                await service.put_email(conn, admin.tenant_id, email)
    except ValidationError as exc:
        errors = {f"{channel}.{k}": v for k, v in forms.errors_by_field(exc).items()}
        return await _overview(request, admin, errors=errors, values=values, status=422)
    except ValueError as exc:
        return await _overview(
            request, admin, errors={f"{channel}.headers": str(exc)}, values=values, status=422
        )
    return render.redirect(request, f"/communications?ok={channel}")


# --- templates ---------------------------------------------------------------------------------


def _trigger(trigger: str) -> str:
    if trigger not in message_templates.TRIGGERS:
        raise NotFound(f"no trigger {trigger!r}")
    return trigger


def _template_page(
    request: Request,
    admin: Admin,
    trigger: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return render.page(
        request,
        "template_form.html",
        admin,
        status_code=status,
        trigger=trigger,
        values=values,
        errors=errors,
        variables=[*message_templates.VARIABLES["*"], *message_templates.VARIABLES[trigger]],
        preview=_rendered(trigger, values, admin),
    )


@router.get("/communications/templates/{trigger}")
async def template_form(
    request: Request, admin: Viewer, trigger: str, channel: str = "sms", locale: str = "en"
) -> Response:
    _trigger(trigger)
    with contextlib.suppress(ValueError):  # "de-DE" is stored as "de_DE"; an unknown one stays as written
        locale = message_templates.normalize_locale(locale)
    values = {
        "channel": channel if channel in CHANNELS else "sms",
        "locale": locale,
        "subject": "",
        "body": "",
    }
    async with admin.db.read() as conn:
        for row in await backoffice.templates(conn, admin.tenant_id, trigger):
            if row["channel"] == values["channel"] and row["locale"] == locale:
                values |= {"subject": row["subject"] or "", "body": row["body"]}
    return _template_page(request, admin, trigger, values, {})


def _rendered(trigger: str, values: dict[str, str], admin: Admin) -> dict[str, str]:
    """The template rendered with the sample variables of its trigger (or the problem)."""
    if not values.get("body"):
        return {}
    try:
        locale = message_templates.normalize_locale(values.get("locale") or "en")
        sample = message_templates.sample_variables(trigger, currency=admin.program.currency, locale=locale)
        result = {"body": message_templates.render(values["body"], sample)}
        if values.get("subject"):
            result["subject"] = message_templates.render(values["subject"], sample)
        return result
    except (message_templates.TemplateProblem, ValueError) as exc:
        return {"error": str(exc)}


@router.post("/communications/templates/{trigger}/preview")
async def template_preview(request: Request, posted: Form, trigger: str) -> Response:
    """An htmx fragment: the template rendered as a member would get it (sample variables)."""
    values = {k: posted.text(k) for k in ("channel", "locale", "subject", "body")}
    return render.page(
        request,
        "_template_preview.html",
        posted.admin,
        preview=_rendered(_trigger(trigger), values, posted.admin),
    )


@router.post("/communications/templates/{trigger}")
async def save_template(request: Request, posted: Form, trigger: str) -> Response:
    admin = posted.admin
    admin.require_admin("templates")
    _trigger(trigger)
    values = {k: posted.text(k) for k in ("channel", "locale", "subject", "body")}
    if nul := forms.nul_errors(values):
        return _template_page(request, admin, trigger, values, nul, 422)
    try:
        body = TemplateIn.model_validate(
            {
                "channel": values["channel"],
                "locale": values["locale"] or "en",
                "subject": values["subject"] or None,
                "body": values["body"],
            }
        )
        async with admin.db.transaction() as conn:
            await service.put_template(conn, admin.tenant_id, admin.program, trigger, body)
    except ValidationError as exc:
        return _template_page(request, admin, trigger, values, forms.errors_by_field(exc), 422)
    except InvalidInput as exc:
        return _template_page(
            request,
            admin,
            trigger,
            values,
            {exc.field or "body": exc.message.removeprefix(f"{exc.field}: ")},
            422,
        )
    return render.redirect(request, "/communications?ok=template")


@router.post("/communications/templates/{trigger}/delete")
async def delete_template(request: Request, posted: Form, trigger: str) -> Response:
    admin = posted.admin
    admin.require_admin("templates")
    async with admin.db.transaction() as conn:
        await service.delete_template(
            conn, admin.tenant_id, _trigger(trigger), posted.text("channel"), posted.text("locale") or "en"
        )
    return render.redirect(request, "/communications?ok=template-deleted")


# --- the message log ---------------------------------------------------------------------------


@router.get("/communications/messages")
async def messages(
    request: Request, admin: Viewer, status: str = "", member: str = "", broadcast: str = "", before: str = ""
) -> Response:
    if status not in ("", "queued", "sent", "failed"):
        status = ""
    async with admin.db.read() as conn:
        page = await service.list_messages(
            conn,
            admin.tenant_id,
            member=member or None,
            broadcast=broadcast or None,
            status=status or None,
            limit=MESSAGE_PAGE,
            before=before or None,
        )
    return render.page(
        request, "messages.html", admin, page=page, status=status, member=member, broadcast=broadcast
    )


# --- broadcasts --------------------------------------------------------------------------------


def _broadcast_document(posted: Form) -> dict[str, Any]:
    filter_: dict[str, Any] = {
        "tier": posted.texts("tier") or None,
        "city": forms.split_lines(posted.text("city")) or None,  # one a line: "Chicago, IL" is one
        "last_purchase_before": posted.text("last_purchase_before") or None,
        "last_purchase_after": posted.text("last_purchase_after") or None,
    }
    send_at = posted.text("send_at")
    return {
        "channel": posted.text("channel"),
        "body": posted.text("body"),
        "subject": posted.text("subject") or None,
        "locale": posted.text("locale") or "en",
        "filter": {k: v for k, v in filter_.items() if v is not None},
        "send_at": forms.local_moment(send_at, posted.admin.program.timezone) if send_at else None,
    }


PAST_GRACE = timedelta(minutes=5)  # a "send at" this far back is taken as a mistake in the form


@router.post("/communications/broadcasts")
async def create_broadcast(request: Request, posted: Form) -> Response:
    admin = posted.admin
    admin.require_admin("broadcasts")
    document = _broadcast_document(posted)
    values: dict[str, Any] = {f"broadcast_{k}": v for k, v in posted.form.items() if isinstance(v, str)}
    values["broadcast_tier"] = posted.texts(
        "tier"
    )  # every box ticked, not the last: else a resend goes to all
    if nul := forms.nul_errors(document, "broadcast"):
        return await _overview(request, admin, errors=nul, values=values, status=422)
    try:
        body = BroadcastIn.model_validate(document)
        if body.send_at is not None and body.send_at < admin.now() - PAST_GRACE:
            # the API sends a past moment at once; a marketer who typed one meant another
            past = "this moment has passed: leave the field empty to send now"
            return await _overview(
                request, admin, errors={"broadcast.send_at": past}, values=values, status=422
            )
        async with admin.db.transaction() as conn:
            made = await service.create_broadcast(conn, admin.tenant_id, admin.program, body, admin.now())
    except ValidationError as exc:
        errors = {f"broadcast.{k}": v for k, v in forms.errors_by_field(exc).items()}
        return await _overview(request, admin, errors=errors, values=values, status=422)
    except InvalidInput as exc:
        return await _overview(
            request,
            admin,
            errors={f"broadcast.{exc.field or 'body'}": exc.message.removeprefix(f"{exc.field}: ")},
            values=values,
            status=422,
        )
    return render.redirect(request, f"/communications/broadcasts/{made['id']}")


async def _broadcast(admin: Admin, broadcast_id: str) -> dict[str, Any]:
    async with admin.db.read() as conn:
        return await service.get_broadcast(conn, admin.tenant_id, broadcast_id, admin.now())


@router.get("/communications/broadcasts/{broadcast_id}")
async def broadcast_page(request: Request, admin: Viewer, broadcast_id: str) -> Response:
    return render.page(request, "broadcast.html", admin, broadcast=await _broadcast(admin, broadcast_id))


@router.post("/communications/broadcasts/{broadcast_id}/cancel")
async def cancel_broadcast(request: Request, posted: Form, broadcast_id: str) -> Response:
    admin = posted.admin
    admin.require_admin("broadcasts")
    with contextlib.suppress(Conflict):  # it sent its last message meanwhile: the page says so
        await service.cancel_broadcast(admin.db, admin.tenant_id, broadcast_id, admin.now())
    return render.redirect(request, f"/communications/broadcasts/{broadcast_id}")


@router.get("/communications/broadcasts/{broadcast_id}/progress")
async def broadcast_progress(request: Request, admin: Viewer, broadcast_id: str) -> Response:
    """An htmx fragment that polls itself until the broadcast is done."""
    return render.page(
        request, "_broadcast_progress.html", admin, broadcast=await _broadcast(admin, broadcast_id)
    )
