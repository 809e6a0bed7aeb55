"""The admin web app in a real browser against a real ``patron serve``: sign in, build a campaign
through the form (an invalid condition first), preview it, see it applied in a quote made through
the API, find a member by a phone typed another way and adjust their points, and see the
dashboard's charts drawn with data. Every page is also photographed into screenshots/."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import TABLET, Server, Shop, shoot, sign_in

pytestmark = pytest.mark.browser

PRODUCTS = [
    {
        "sku": "COL-JKT",
        "name": "Columbia Bugaboo jacket",
        "attributes": {"brand": "Columbia", "category": "jackets"},
    },
    {
        "sku": "COL-PNT",
        "name": "Columbia ski pants",
        "attributes": {"brand": "Columbia", "category": "pants"},
    },
    {"sku": "ACM-TEE", "name": "Acme T-shirt", "attributes": {"brand": "Acme", "category": "tees"}},
    {
        "sku": "NRD-SKI",
        "name": "Nordica skis",
        "attributes": {"brand": "Nordica", "category": "skis", "sport": "ski"},
    },
]
PHONES = [f"+7900555{n:04d}" for n in range(1, 7)]


async def stock(shop: Shop) -> list[str]:
    """A program, two stores, a small catalog, six members and a month of receipts."""
    program = {
        "currency": "RUB",
        "timezone": "Europe/Moscow",
        "country": "RU",
        "activation_delay_days": 0,
        "tiers": [
            {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
            {"code": "gold", "name": "Gold", "threshold": "20000", "earn_percent": "10"},
        ],
    }
    assert (await shop.call("PUT", "/v1/program", program)).status_code == 200
    for code, city in (("MSK", "Moscow"), ("SPB", "Saint Petersburg")):
        store = {"name": f"{city} 1", "country": "RU", "city": city, "timezone": "Europe/Moscow"}
        assert (await shop.call("PUT", f"/v1/stores/{code}", store)).status_code == 201
    assert (await shop.call("POST", "/v1/products:bulk", PRODUCTS)).status_code == 200
    members = []
    for n, phone in enumerate(PHONES):
        body = {"phone": phone, "name": f"Customer {n + 1}", "email": f"c{n + 1}@example.com"}
        response = await shop.call("POST", "/v1/members", body)
        assert response.status_code == 201, response.text
        members.append(response.json()["id"])
    now = datetime.now(UTC)
    for n in range(36):
        at = now - timedelta(days=29 - (n * 29) // 35, hours=n % 5)
        lines = [
            {"sku": PRODUCTS[n % 4]["sku"], "quantity": 1 + n % 2, "price": f"{1000 + 250 * (n % 7)}.00"},
            {"sku": PRODUCTS[(n + 1) % 4]["sku"], "quantity": 1, "price": "990.00"},
        ]
        body = {
            "number": f"E{n}",
            "store": "MSK" if n % 3 else "SPB",
            "at": at.isoformat(),
            "member": {"id": members[n % len(members)]},
            "lines": lines,
        }
        response = await shop.call("POST", "/v1/receipts", body)
        assert response.status_code == 201, response.text
    return members


async def chart_points(tab: Any, canvas_id: str) -> int:
    """How many non-zero values the Chart.js chart on that canvas draws."""
    return int(
        await tab.evaluate(
            """(name) => {
            const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
            const chart = canvas && window.Chart && Chart.getChart(canvas);
            if (!chart) return -1;
            return chart.data.datasets.flatMap(d => d.data).filter(v => Array.isArray(v) ? true : v !== 0).length;
        }""",
            canvas_id,
        )
    )


async def no_sideways_scroll(tab: Any) -> bool:
    return bool(await tab.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"))


async def test_run_a_program_from_the_admin_app(page: Any, server: Server, shop: Shop) -> None:
    members = await stock(shop)
    await page.goto(server.admin + "/login")
    await shoot(page, "login")
    await sign_in(page, server, shop)

    # The dashboard draws its charts, with data.
    await page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('canvas[data-chart=chart-sales]'))"
    )
    for chart in ("chart-sales", "chart-points", "chart-money", "chart-members", "chart-tiers"):
        assert await chart_points(page, chart) > 0, chart
    assert await page.inner_text("[data-kpi=receipts]") == "36"
    await shoot(page, "dashboard")

    # A campaign through the form: an invalid condition is caught as it is typed and on saving.
    await page.click("nav >> text=Campaigns")
    await page.click("text=New campaign")
    await page.fill("input[name=name]", "Columbia week")
    await page.fill("textarea[name=condition]", "brand = 'Columbia' and")
    await page.wait_for_selector("[data-condition-state=invalid]")
    assert "position" in await page.inner_text("#condition-check")
    await page.select_option("select[name=effect_type]", "discount_percent")
    await page.fill("input[name=effect_value]", "15")
    await shoot(page, "campaign-invalid-condition")
    await page.click("button[type=submit]:has-text('Create campaign')")
    await page.wait_for_selector("[data-form-errors]")
    assert "condition" in await page.inner_text("[data-form-errors]")
    assert "/admin/campaigns" in page.url and not re.search(r"/campaigns/[0-9a-f-]{36}", page.url)

    await page.fill("textarea[name=condition]", "brand = 'Columbia'")
    await page.wait_for_selector("[data-condition-state=valid]")
    assert await page.get_attribute("[data-condition-matches]", "data-condition-matches") == "2"
    assert "COL-JKT" in await page.inner_text("#condition-check")

    # The what-if preview replays the month's receipts against the draft.
    await page.click("[data-preview-button]")
    await page.wait_for_selector("[data-preview=done]")
    assert await page.inner_text("[data-preview-figure=examined]") == "36"
    qualifying = int(await page.inner_text("[data-preview-figure=qualifying]"))
    assert qualifying > 0
    assert await page.inner_text("[data-preview-figure=applied]") == str(qualifying)
    assert await page.inner_text("[data-preview-figure=discount]") != "RUB0.00"
    await shoot(page, "campaign-preview")

    await page.click("button[type=submit]:has-text('Create campaign')")
    await page.wait_for_url(re.compile(r".*/admin/campaigns/[0-9a-f-]{36}\?ok=created"))
    campaign_id = re.search(r"/campaigns/([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]
    await shoot(page, "campaign-edit")

    # ... and a quote made through the API applies it.
    quote = await shop.call(
        "POST",
        "/v1/checkout/quote",
        {
            "store": "MSK",
            "member": {"phone": "8 900 555 00 01"},
            "lines": [
                {"sku": "COL-JKT", "quantity": 1, "price": "10000.00"},
                {"sku": "ACM-TEE", "quantity": 1, "price": "1000.00"},
            ],
        },
    )
    assert quote.status_code == 200, quote.text
    result = quote.json()
    assert [c["id"] for c in result["campaigns"]] == [campaign_id]
    assert result["lines"][0]["discount"] == "1500.00" and result["lines"][1]["discount"] == "0.00"

    await page.click("nav >> text=Campaigns")
    assert "Columbia week" in await page.inner_text("main")
    await shoot(page, "campaigns")

    # A member found by a phone typed another way, and their points adjusted.
    member = members[1]
    before = (await shop.call("GET", f"/v1/members/{member}/balance")).json()["available"]
    await page.click("nav >> text=Members")
    await shoot(page, "members")
    await page.fill("input[name=q]", "8 (900) 555-00-02")
    await page.press("input[name=q]", "Enter")
    await page.wait_for_url(re.compile(rf".*/admin/members/{member}$"))
    assert await page.inner_text("[data-member-phone]") == PHONES[1]
    await page.fill("#adjust input[name=points]", "250")
    await page.fill("#adjust input[name=reason]", "apology for a late delivery")
    await page.click("#adjust button[type=submit]")
    await page.wait_for_selector("text=Points adjusted.")
    after = (await shop.call("GET", f"/v1/members/{member}/balance")).json()["available"]
    assert after == before + 250
    assert await page.inner_text("[data-balance=available]") == f"{after:,}"
    assert await chart_points(page, "chart-lots") > 0
    await shoot(page, "member")
    receipt_link = page.locator("a[href*='/admin/receipts/']").first
    await receipt_link.click()
    await page.wait_for_selector("h1:has-text('Receipt')")
    await shoot(page, "receipt")

    # Every other page answers and is photographed.
    for path, name in (
        ("/program", "program"),
        ("/stores", "stores"),
        ("/communications", "communications"),
        ("/webhooks", "webhooks"),
        ("/api-keys", "api-keys"),
        ("/users", "users"),
    ):
        response = await page.goto(server.admin + path)
        assert response is not None and response.status == 200, path
        await shoot(page, name)

    # Communications: a template previewed as it is typed, then saved; the message log; a webhook.
    await page.goto(server.admin + "/communications/templates/receipt")
    await page.fill(
        "textarea[name=body]", "{{ member.name }}: +{{ points_earned }} points, balance {{ balance }}"
    )
    await page.wait_for_selector("[data-template-rendered]:has-text('Anna: +3 points, balance 80')")
    await shoot(page, "template")
    await page.click("button[type=submit]:has-text('Save template')")
    await page.wait_for_selector("text=Template saved.")
    templates = (await shop.call("GET", "/v1/templates")).json()
    assert [t["trigger"] for t in templates] == ["receipt"]
    await page.goto(server.admin + "/communications/messages")
    await shoot(page, "messages")
    await page.goto(server.admin + "/webhooks")
    await page.fill("input[name=url]", "https://crm.example.com/patron")
    await page.check("input[value='receipt.confirmed']")
    await page.fill("input[name=secret]", "a long shared secret")
    await page.click("button[type=submit]:has-text('Create webhook')")
    await page.wait_for_selector("text=Webhook created.")
    await shoot(page, "webhook")

    # A broadcast scheduled for later through the form, then stopped before it starts.
    await page.goto(server.admin + "/communications")
    await page.click("summary:has-text('New broadcast')")
    await page.fill("textarea[name=body]", "{{ member.name }}, -20% on skis this weekend!")
    await page.fill("input[name=send_at]", "2099-12-24T10:00")
    await page.click("button[type=submit]:has-text('Send broadcast')")
    await page.wait_for_selector("[data-broadcast-status=scheduled]")
    await shoot(page, "broadcast")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.click("button:has-text('Stop sending')")
    await page.wait_for_selector("[data-broadcast-status=cancelled]")
    listed = (await shop.call("GET", "/v1/broadcasts")).json()
    assert [b["status"] for b in listed] == ["cancelled"] and listed[0]["send_at"].startswith("2099-12-24")

    # A tablet: every page fits its width (wide tables scroll inside their panels).
    await page.set_viewport_size(TABLET)
    shots = {"/": "dashboard", f"/members/{member}": "member", "/campaigns/new": "campaign-new"}
    pages = [
        *shots,
        "/members",
        "/campaigns",
        f"/campaigns/{campaign_id}",
        "/program",
        "/stores",
        "/communications",
        "/communications/messages",
        "/webhooks",
        "/api-keys",
        "/users",
    ]
    for path in pages:
        await page.goto(server.admin + path)
        await page.wait_for_load_state("networkidle")
        assert await no_sideways_scroll(page), path
        if path in shots:
            await shoot(page, f"tablet-{shots[path]}")
