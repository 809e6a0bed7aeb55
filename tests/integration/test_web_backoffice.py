"""Communications and webhooks in the admin app: channels, templates with their rendered
preview, the message log, broadcasts with their progress, webhooks with their delivery log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from patron.backoffice import outbox, webhook_store
from patron.backoffice import service as backoffice_service
from patron.backoffice import store as backoffice
from patron.db.pool import Database
from tests.integration.conftest import Tenant
from tests.integration.test_web import Browser, signed_in


@pytest.fixture
async def admin_browser(app: FastAPI, db: Database, tenant: Tenant) -> AsyncIterator[Browser]:
    browser = await signed_in(app, db, tenant)
    yield browser
    await browser.client.aclose()


async def test_channels_are_set_through_the_back_office(admin_browser: Browser, tenant: Tenant) -> None:
    page = await admin_browser.get("/communications")
    assert page.status_code == 200 and "not configured" in page.text
    bad = await admin_browser.post("/communications/channels/sms", {"url": "ftp://x", "rate_per_second": "0"})
    assert bad.status_code == 422
    assert 'id="err-sms-url"' in bad.text and 'id="err-sms-rate_per_second"' in bad.text
    headers = "Authorization: Bearer secret-token\nX-Account: 42"
    saved = await admin_browser.post(
        "/communications/channels/sms",
        {"url": "https://sms.example.com/send", "rate_per_second": "25", "headers": headers},
    )
    assert saved.status_code == 303
    sms = (await tenant.call("GET", "/v1/channels/sms")).json()
    assert (sms["url"], sms["rate_per_second"]) == ("https://sms.example.com/send", 25)
    assert sms["headers"] == {"Authorization": "***", "X-Account": "***"}
    email = {"host": "smtp.example.com", "port": "587", "from": "club@example.com", "starttls": "on"}
    assert (await admin_browser.post("/communications/channels/email", email)).status_code == 303
    assert (await tenant.call("GET", "/v1/channels/email")).json()["starttls"] is True
    page = await admin_browser.get("/communications")
    assert "secret-token" not in page.text and "https://sms.example.com/send" in page.text


async def test_saving_a_channel_keeps_the_secrets_it_does_not_show(
    admin_browser: Browser, tenant: Tenant, db: Database
) -> None:
    sms = {"url": "https://sms.example.com/send", "rate_per_second": 5, "headers": {"X-Key": "topsecret"}}
    assert (await tenant.call("PUT", "/v1/channels/sms", sms)).status_code == 200
    email = {"host": "smtp.example.com", "port": 2525, "from": "club@example.com", "password": "pw-secret"}
    assert (await tenant.call("PUT", "/v1/channels/email", email)).status_code == 200

    async def stored(channel: str) -> dict[str, object]:
        async with db.read() as conn:
            return await backoffice_service.saved_channel_settings(conn, tenant.tenant_id, channel)

    # the rate changed, the headers left empty (they are never shown): kept
    rate = {"url": sms["url"], "rate_per_second": "10", "headers": ""}
    assert (await admin_browser.post("/communications/channels/sms", rate)).status_code == 303
    assert (await stored("sms"))["headers"] == {"X-Key": "topsecret"}
    assert (await tenant.call("GET", "/v1/channels/sms")).json()["rate_per_second"] == 10
    port = {"host": "smtp.example.com", "port": "2526", "from": "club@example.com", "password": ""}
    assert (await admin_browser.post("/communications/channels/email", port)).status_code == 303
    assert (await stored("email"))["password"] == "pw-secret"
    # new headers replace the saved ones; the box removes them
    anew = {**rate, "headers": "X-Other: 1"}
    assert (await admin_browser.post("/communications/channels/sms", anew)).status_code == 303
    assert (await stored("sms"))["headers"] == {"X-Other": "1"}
    assert (
        await admin_browser.post("/communications/channels/sms", {**rate, "forget_secrets": "on"})
    ).status_code == 303
    assert (await stored("sms"))["headers"] == {}
    assert (
        await admin_browser.post("/communications/channels/email", {**port, "forget_secrets": "on"})
    ).status_code == 303
    assert (await stored("email"))["password"] is None


async def test_secrets_in_urls_are_masked_on_the_pages_and_kept_when_a_form_sends_them_back(
    admin_browser: Browser, tenant: Tenant, db: Database
) -> None:
    url = "https://apiuser:S3cretPass@sms.example.com/send?api_key=TOPSECRET"
    assert (
        await tenant.call("PUT", "/v1/channels/sms", {"url": url, "rate_per_second": 5})
    ).status_code == 200
    hook = {"url": "http://user:pw@hooks.test/a", "events": ["member.created"], "secret": "s"}
    hook_id = (await tenant.call("POST", "/v1/webhooks", hook)).json()["id"]
    page = await admin_browser.get("/communications")
    assert "S3cretPass" not in page.text and "TOPSECRET" not in page.text
    assert "https://apiuser:***@sms.example.com/send?api_key=***" in page.text
    for path in ("/webhooks", f"/webhooks/{hook_id}"):
        shown = (await admin_browser.get(path)).text
        assert ":pw@" not in shown and "http://user:***@hooks.test/a" in shown
    # the form sends the masked URL back with a new rate: the stored one is kept
    masked = {"url": "https://apiuser:***@sms.example.com/send?api_key=***", "rate_per_second": "10"}
    assert (await admin_browser.post("/communications/channels/sms", masked)).status_code == 303
    async with db.read() as conn:
        saved = await backoffice_service.saved_channel_settings(conn, tenant.tenant_id, "sms")
    assert saved["url"] == url
    assert (await tenant.call("GET", "/v1/channels/sms")).json()["rate_per_second"] == 10
    # another host with the *** left in: refused at the field, not saved as the secrets
    moved = {**masked, "url": masked["url"].replace("sms.example.com", "sms2.example.com")}
    refused = await admin_browser.post("/communications/channels/sms", moved)
    assert refused.status_code == 422 and "give the secret itself" in refused.text
    async with db.read() as conn:
        assert (await backoffice_service.saved_channel_settings(conn, tenant.tenant_id, "sms"))["url"] == url
    # and through the API: a URL copied from an answer
    copied = await tenant.call("PUT", "/v1/channels/sms", {"url": moved["url"], "rate_per_second": 5})
    assert copied.status_code == 422 and copied.json()["error"]["field"] == "url"
    hook = {"url": "http://user:***@hooks.test/a", "events": ["member.created"], "secret": "s"}
    assert (await tenant.call("POST", "/v1/webhooks", hook)).status_code == 422


async def test_a_refused_channel_form_keeps_its_boxes_as_they_were_sent(
    admin_browser: Browser, tenant: Tenant
) -> None:
    """The STARTTLS box came back ticked as saved, not as sent: a fixed port then saved it ticked."""
    saved = {
        "host": "smtp.example.com",
        "port": 587,
        "from": "club@example.com",
        "password": "pw",
        "starttls": True,
    }
    assert (await tenant.call("PUT", "/v1/channels/email", saved)).status_code == 200
    starttls = re.compile(r'<input type="checkbox" name="starttls"( checked)?>')
    forget = re.compile(r'<input type="checkbox" name="forget_secrets"( checked)?> Remove the saved password')

    shown = await admin_browser.get("/communications")
    assert starttls.findall(shown.text) == [" checked"] and forget.findall(shown.text) == [""]
    refused = await admin_browser.post(
        "/communications/channels/email",
        {"host": "smtp.example.com", "port": "0", "from": "club@example.com", "forget_secrets": "on"},
    )
    assert refused.status_code == 422 and 'id="err-email-port"' in refused.text
    assert starttls.findall(refused.text) == [""]  # unticked, as sent
    assert forget.findall(refused.text) == [" checked"]
    ticked = await admin_browser.post(
        "/communications/channels/email",
        {"host": "smtp.example.com", "port": "0", "from": "club@example.com", "starttls": "on"},
    )
    assert starttls.findall(ticked.text) == [" checked"] and forget.findall(ticked.text) == [""]
    assert (await tenant.call("GET", "/v1/channels/email")).json()["starttls"] is True  # nothing saved


async def test_templates_with_a_rendered_preview(admin_browser: Browser, tenant: Tenant) -> None:
    form = await admin_browser.get("/communications/templates/receipt")
    assert "receipt.points_earned" in form.text
    body = "{{ member.name }}: +{{ points_earned }} points, balance {{ balance }}"
    preview = await admin_browser.post(
        "/communications/templates/receipt/preview", {"channel": "sms", "body": body}
    )
    assert 'data-template-state="valid"' in preview.text
    assert "Anna: +3 points, balance 80" in preview.text
    broken = await admin_browser.post(
        "/communications/templates/receipt/preview", {"channel": "sms", "body": "{{ member.nme }}"}
    )
    assert 'data-template-state="invalid"' in broken.text
    refused = await admin_browser.post(
        "/communications/templates/receipt", {"channel": "sms", "body": "{{ nope }}"}
    )
    assert refused.status_code == 422
    assert (await tenant.call("GET", "/v1/templates")).json() == []
    saved = await admin_browser.post(
        "/communications/templates/receipt", {"channel": "sms", "locale": "en", "body": body}
    )
    assert saved.status_code == 303
    assert [(t["trigger"], t["body"]) for t in (await tenant.call("GET", "/v1/templates")).json()] == [
        ("receipt", body)
    ]
    again = await admin_browser.get(
        "/communications/templates/receipt", params={"channel": "sms", "locale": "en"}
    )
    assert "Anna: +3 points" in again.text  # the saved text, rendered
    removed = await admin_browser.post(
        "/communications/templates/receipt/delete", {"channel": "sms", "locale": "en"}
    )
    assert removed.status_code == 303
    assert (await tenant.call("GET", "/v1/templates")).json() == []
    assert (await admin_browser.get("/communications/templates/nonsense")).status_code == 404


async def test_a_template_opened_with_its_locale_written_another_way_shows_the_saved_one(
    admin_browser: Browser, tenant: Tenant
) -> None:
    """``?locale=de-DE`` showed an empty form although ``de_DE`` was saved; saving it then replaced it."""
    body = "Hallo {{ member.name }}"
    saved = await admin_browser.post(
        "/communications/templates/receipt", {"channel": "sms", "locale": "de-DE", "body": body}
    )
    assert saved.status_code == 303
    for written in ("de-DE", "de_DE"):
        page = await admin_browser.get(
            "/communications/templates/receipt", params={"channel": "sms", "locale": written}
        )
        assert f">{body}</textarea>" in page.text, written
        assert 'name="locale" value="de_DE"' in page.text, written
    unknown = await admin_browser.get(
        "/communications/templates/receipt", params={"channel": "sms", "locale": "xx-nope"}
    )
    assert unknown.status_code == 200 and 'name="locale" value="xx-nope"' in unknown.text
    stored = (await tenant.call("GET", "/v1/templates")).json()
    assert [(t["locale"], t["body"]) for t in stored] == [("de_DE", body)]


async def test_a_broadcast_is_scheduled_in_the_programs_time_zone(
    admin_browser: Browser, tenant: Tenant
) -> None:
    assert (await tenant.call("PATCH", "/v1/program", {"timezone": "Asia/Vladivostok"})).status_code == 200
    made = await admin_browser.post(
        "/communications/broadcasts", {"channel": "sms", "body": "Soon", "send_at": "2099-12-24T10:00"}
    )
    assert made.status_code == 303, made.text
    broadcast_id = made.headers["location"].rsplit("/", 1)[1]
    broadcast = (await tenant.call("GET", f"/v1/broadcasts/{broadcast_id}")).json()
    assert (broadcast["status"], broadcast["send_at"]) == ("scheduled", "2099-12-24T00:00:00Z")  # UTC+10
    page = await admin_browser.get(f"/communications/broadcasts/{broadcast_id}")
    assert 'data-broadcast-status="scheduled"' in page.text and "Stop sending" in page.text
    refused = await admin_browser.post(
        "/communications/broadcasts", {"channel": "sms", "body": "Soon", "send_at": "next week"}
    )
    assert refused.status_code == 422 and "broadcast.send_at" in refused.text
    past = await admin_browser.post(
        "/communications/broadcasts", {"channel": "sms", "body": "Soon", "send_at": "2020-01-01T10:00"}
    )
    assert past.status_code == 422 and "has passed" in past.text  # not sent at once without a word
    assert len((await tenant.call("GET", "/v1/broadcasts")).json()) == 1


async def test_a_refused_broadcast_keeps_its_ticked_tiers(admin_browser: Browser, tenant: Tenant) -> None:
    """The form came back with every other field and no tier ticked: fixing the error and sending
    again went to every member, where the marketer meant gold ones."""
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "silver", "name": "Silver", "threshold": "100", "earn_percent": "6"},
        {"code": "gold", "name": "Gold", "threshold": "1000", "earn_percent": "7"},
    ]
    assert (await tenant.call("PATCH", "/v1/program", {"tiers": tiers})).status_code == 200
    form = {"channel": "sms", "body": "Hi", "subject": "SMS has none", "tier": ["silver", "gold"]}
    refused = await admin_browser.post("/communications/broadcasts", form)
    assert refused.status_code == 422
    ticked = re.findall(r'name="tier" value="(\w+)"( checked)?', refused.text)
    assert ticked == [("base", ""), ("silver", " checked"), ("gold", " checked")]
    assert (await tenant.call("GET", "/v1/broadcasts")).json() == []
    # a filter's own field is marked where it is typed, not only in the list at the top
    for field, value in (("city", "Chi\x00cago"), ("last_purchase_after", "2026-02-30")):
        marked = await admin_browser.post(
            "/communications/broadcasts", {"channel": "sms", "body": "Hi", field: value}
        )
        assert marked.status_code == 422 and f'id="err-broadcast-filter-{field}"' in marked.text, field


async def test_a_broadcast_to_a_city_with_a_comma_keeps_it_whole(
    admin_browser: Browser, tenant: Tenant
) -> None:
    """The city filter was split at commas: "Chicago, IL" became the cities "Chicago" and "IL"."""
    made = await admin_browser.post(
        "/communications/broadcasts", {"channel": "sms", "body": "Hi", "city": "New York\r\nChicago, IL"}
    )
    assert made.status_code == 303
    broadcast_id = re.search(r"/broadcasts/([0-9a-f-]{36})$", made.headers["location"]).group(1)  # type: ignore[union-attr]
    assert (await tenant.call("GET", f"/v1/broadcasts/{broadcast_id}")).json()["filter"] == {
        "city": ["New York", "Chicago, IL"]
    }
    refused = await admin_browser.post(
        "/communications/broadcasts",
        {"channel": "sms", "body": "{{ nope }}", "city": "New York\r\nChicago, IL"},
    )
    assert refused.status_code == 422
    assert (
        '<textarea name="city" rows="2" placeholder="Moscow&#10;Kazan">New York\r\nChicago, IL</textarea>'
        in refused.text
    )


async def test_broadcasts_show_their_progress_and_the_message_log_lists_messages(
    admin_browser: Browser, tenant: Tenant, db: Database
) -> None:
    member = (
        await tenant.call("POST", "/v1/members", {"phone": "+79004440001", "consents": {"sms": True}})
    ).json()["id"]
    refused = await admin_browser.post(
        "/communications/broadcasts", {"channel": "sms", "body": "{{ member.nope }}"}
    )
    assert refused.status_code == 422 and "broadcast.body" in refused.text
    made = await admin_browser.post(
        "/communications/broadcasts",
        {"channel": "sms", "body": "Hello {{ member.phone }}", "city": "Moscow\r\n\r\n Chicago, IL "},
    )
    assert made.status_code == 303
    broadcast_id = re.search(r"/broadcasts/([0-9a-f-]{36})$", made.headers["location"]).group(1)  # type: ignore[union-attr]
    assert (await tenant.call("GET", f"/v1/broadcasts/{broadcast_id}")).json()["filter"] == {
        "city": ["Moscow", "Chicago, IL"]
    }
    page = await admin_browser.get(f"/communications/broadcasts/{broadcast_id}")
    assert 'data-broadcast-status="preparing"' in page.text and 'hx-trigger="every 2s"' in page.text
    # each city quoted, so that one holding a comma reads as one
    assert '<dd class="small" data-broadcast-filter>city: “Moscow”, “Chicago, IL”</dd>' in page.text

    async with db.transaction() as conn:
        now = datetime.now(UTC)
        queued = [
            backoffice.NewMessage(
                member,
                "broadcast",
                "sms",
                "en",
                None,
                f"Hello {n}",
                "UTC",
                f"t-{broadcast_id}-{n}",
                broadcast_id=broadcast_id,
                status=status,
            )
            for n, status in enumerate(("queued", "sent", "failed"))
        ]
        await backoffice.insert_messages(conn, tenant.tenant_id, queued, now)
        await conn.execute(
            "UPDATE broadcasts SET status = 'expanded', total = 3 WHERE tenant_id = %s AND id = %s",
            (tenant.tenant_id, broadcast_id),
        )
    progress = await admin_browser.get(f"/communications/broadcasts/{broadcast_id}/progress")
    assert 'data-broadcast-status="sending"' in progress.text
    assert "1 sent, 1 failed, 1 waiting, of 3" in progress.text
    async with db.transaction() as conn:  # still expanding: progress is of the audience
        await conn.execute(
            "UPDATE broadcasts SET status = 'expanding', audience = 10 WHERE tenant_id = %s AND id = %s",
            (tenant.tenant_id, broadcast_id),
        )
    progress = await admin_browser.get(f"/communications/broadcasts/{broadcast_id}/progress")
    assert "1 sent, 1 failed, 1 waiting, of 10 (3 prepared so far" in progress.text
    assert 'style="width: 20.0%"' in progress.text
    log = await admin_browser.get("/communications/messages", params={"broadcast": broadcast_id})
    assert all(f"Hello {n}" in log.text for n in range(3))
    failed = await admin_browser.get("/communications/messages", params={"status": "failed"})
    assert "Hello 2" in failed.text and "Hello 0" not in failed.text
    page = await admin_browser.get(f"/communications/broadcasts/{broadcast_id}")
    assert "Stop sending" in page.text
    stopped = await admin_browser.post(f"/communications/broadcasts/{broadcast_id}/cancel", {})
    assert stopped.status_code == 303
    page = await admin_browser.get(f"/communications/broadcasts/{broadcast_id}")
    assert 'data-broadcast-status="cancelled"' in page.text and "Stop sending" not in page.text
    # the one still waiting is not sent: told apart from the one the provider failed
    assert "1 sent, 1 failed, 1 not sent (stopped), 0 waiting" in page.text
    assert 'hx-trigger="every 2s"' not in page.text
    overview = await admin_browser.get("/communications")
    assert f"/admin/communications/broadcasts/{broadcast_id}" in overview.text
    assert "1 sent, 1 failed, 1 not sent (stopped) of 3" in overview.text


async def test_webhooks_and_their_delivery_log(admin_browser: Browser, tenant: Tenant, db: Database) -> None:
    bad = await admin_browser.post("/webhooks", {"url": "not a url", "secret": "s"})
    assert bad.status_code == 422 and 'id="err-url"' in bad.text and 'id="err-events"' in bad.text
    # an item of the list refused: shown at the list's field (it was keyed events.0, shown nowhere)
    bogus = {
        "url": "https://crm.example.com/hook",
        "events": ["receipt.confirmed", "bogus.event"],
        "secret": "s",
    }
    refused = await admin_browser.post("/webhooks", bogus)
    assert refused.status_code == 422
    shown = re.search(r'<span class="error" id="err-events">([^<]*)</span>', refused.text)
    assert shown and shown.group(1).startswith(
        "&#34;bogus.event&#34;: Input should be &#39;member.created&#39;"
    )
    assert (await tenant.call("GET", "/v1/webhooks")).json() == []
    made = await admin_browser.post(
        "/webhooks",
        {
            "url": "https://crm.example.com/hook",
            "events": ["receipt.confirmed", "points.adjusted"],
            "secret": "shh",
        },
    )
    assert made.status_code == 303
    hook_id = re.search(r"/webhooks/([0-9a-f-]{36})", made.headers["location"]).group(1)  # type: ignore[union-attr]
    listed = (await tenant.call("GET", "/v1/webhooks")).json()
    assert [(h["id"], h["events"]) for h in listed] == [(hook_id, ["points.adjusted", "receipt.confirmed"])]
    empty = await admin_browser.get(f"/webhooks/{hook_id}")
    assert "Nothing delivered yet" in empty.text and "shh" not in empty.text

    async with db.transaction() as conn:
        await outbox.emit(conn, tenant.tenant_id, "points.adjusted", member_id=None, data={"points": 5})
        found = await (
            await conn.execute("SELECT max(id) AS id FROM outbox WHERE tenant_id = %s", (tenant.tenant_id,))
        ).fetchone()
        assert found is not None and found["id"] is not None
        await webhook_store.insert_deliveries(
            conn, tenant.tenant_id, found["id"], None, [hook_id], datetime.now(UTC)
        )
    log = await admin_browser.get(f"/webhooks/{hook_id}")
    assert "points.adjusted" in log.text and ">pending<" in log.text
    assert "/members/" not in log.text  # an event of no member links to none

    joined = await tenant.call("POST", "/v1/members", {"phone": "+79005550199"})
    assert joined.status_code == 201, joined.text
    member_id = joined.json()["id"]
    async with db.transaction() as conn:
        await outbox.emit(conn, tenant.tenant_id, "points.adjusted", member_id=member_id, data={"points": 7})
        found = await (
            await conn.execute("SELECT max(id) AS id FROM outbox WHERE tenant_id = %s", (tenant.tenant_id,))
        ).fetchone()
        assert found is not None
        await webhook_store.insert_deliveries(
            conn, tenant.tenant_id, found["id"], member_id, [hook_id], datetime.now(UTC)
        )
    log = await admin_browser.get(f"/webhooks/{hook_id}")
    assert f'/members/{member_id}"' in log.text  # whose delivery it is, for an operator to follow
    assert (await admin_browser.post(f"/webhooks/{hook_id}/delete")).status_code == 303
    assert (await tenant.call("GET", "/v1/webhooks")).json() == []
    assert (await admin_browser.get(f"/webhooks/{hook_id}")).status_code == 404


async def test_a_nul_character_in_a_back_office_form_is_that_fields_error(
    admin_browser: Browser, tenant: Tenant
) -> None:
    """A NUL gave a whole error page and lost the form; nothing is saved either way."""
    nul = "text may not hold the NUL character"
    hook = await admin_browser.post(
        "/webhooks", {"url": "https://crm.example.com/hook", "events": ["points.adjusted"], "secret": "s\x00"}
    )
    assert hook.status_code == 422 and f'<span class="error" id="err-secret">{nul}</span>' in hook.text
    assert 'value="https://crm.example.com/hook"' in hook.text
    assert (await tenant.call("GET", "/v1/webhooks")).json() == []

    email = {"host": "smtp.exa\x00mple.com", "port": "587", "from": "club@example.com"}
    channel = await admin_browser.post("/communications/channels/email", email)
    assert (
        channel.status_code == 422 and f'<span class="error" id="err-email-host">{nul}</span>' in channel.text
    )
    assert (await tenant.call("GET", "/v1/channels/email")).status_code == 404

    template = await admin_browser.post(
        "/communications/templates/receipt", {"channel": "sms", "locale": "en", "body": "Hi\x00"}
    )
    assert template.status_code == 422 and f'<span class="error" id="err-body">{nul}</span>' in template.text
    assert (await tenant.call("GET", "/v1/templates")).json() == []

    broadcast = await admin_browser.post("/communications/broadcasts", {"channel": "sms", "body": "Sale\x00"})
    assert broadcast.status_code == 422
    assert f'<span class="error" id="err-broadcast-body">{nul}</span>' in broadcast.text
    assert (await tenant.call("GET", "/v1/broadcasts")).json() == []
