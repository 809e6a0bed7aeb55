"""The admin web app over HTTP (in process): sign-in, sessions, CSRF on every form, roles, and
the pages that change things doing so through the same use cases as the API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from patron.db.pool import Database
from patron.errors import Conflict
from patron.web import forms, users
from tests.conftest import ManualClock
from tests.integration.conftest import Tenant
from tests.integration.test_checkout import member_with, receipt, setup_shop

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Browser:
    """A signed-in (or not) browser: keeps cookies and the latest CSRF token it was shown."""

    client: httpx.AsyncClient
    csrf: str = ""
    pages: list[str] = field(default_factory=list)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        response = await self.client.get("/admin" + path, **kw)
        tokens = set(_CSRF.findall(response.text))
        assert "" not in tokens, f"a form on {path} has no CSRF token"
        if tokens:
            (self.csrf,) = tokens
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.csrf)
        return await self.client.post("/admin" + path, data=body)

    async def login(self, email: str, password: str = PASSWORD, next_path: str = "/") -> httpx.Response:
        await self.get("/login")
        return await self.post("/login", {"email": email, "password": password, "next": next_path})


async def make_user(db: Database, tenant: Tenant, role: str = "admin") -> str:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    async with db.transaction() as conn:
        await users.create_in(conn, tenant.tenant_id, email, PASSWORD, role)
    return email


async def signed_in(app: FastAPI, db: Database, tenant: Tenant, role: str = "admin") -> Browser:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test")
    browser = Browser(client)
    response = await browser.login(await make_user(db, tenant, role))
    assert response.status_code == 303, response.text
    await browser.get("/members")  # not the dashboard, which keeps its figures a minute
    return browser


@pytest.fixture
async def admin_browser(app: FastAPI, db: Database, tenant: Tenant) -> Any:
    browser = await signed_in(app, db, tenant, "admin")
    yield browser
    await browser.client.aclose()


@pytest.fixture
async def support_browser(app: FastAPI, db: Database, tenant: Tenant) -> Any:
    browser = await signed_in(app, db, tenant, "support")
    yield browser
    await browser.client.aclose()


def web_routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    """Every route of the admin app mounted on ``app`` (path inside the mount, methods)."""
    from starlette.routing import Mount, Route

    def walk(routes: list[Any], prefix: str) -> list[tuple[str, set[str]]]:
        found: list[tuple[str, set[str]]] = []
        for route in routes:
            if isinstance(route, Route):
                found.append((prefix + route.path, set(route.methods or ())))
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                found += walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "routes") and not isinstance(route, Mount):
                found += walk(route.routes, prefix)
        return found

    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
    routes = walk(mount.routes, "")
    assert len(routes) > 10, "the admin app's routes were not found"
    return routes


# --- sign-in and sessions ------------------------------------------------------------------------


async def test_pages_need_a_session(client: httpx.AsyncClient, app: FastAPI) -> None:
    for path, methods in web_routes(app):
        if "GET" not in methods or path == "/login":
            continue
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = await client.get("/admin" + concrete)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login?next=/admin"), path


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant)
    browser = Browser(client)
    wrong = await browser.login(email, "not the password")
    assert wrong.status_code == 401
    assert "Wrong email or password" in wrong.text
    assert "patron_admin=" not in wrong.headers.get("set-cookie", "")

    response = await browser.login(email.upper(), next_path="/members")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/members"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("patron_admin="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    stolen = client.cookies.get("patron_admin")
    assert stolen

    page = await browser.get("/")
    assert page.status_code == 200
    assert email in page.text
    out = await browser.post("/logout")
    assert out.status_code == 303
    # The old cookie no longer opens anything, even if someone kept it.
    replay = await client.get("/admin/", cookies={"patron_admin": stolen})
    assert replay.status_code == 303


async def test_sign_in_needs_its_form_token_and_never_redirects_elsewhere(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant)
    browser = Browser(client)
    await browser.get("/login")
    forged = await browser.post("/login", {"email": email, "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403
    away = await browser.login(email, next_path="//evil.example/")
    assert away.status_code == 303
    assert away.headers["location"] == "/admin/"
    for root in ("/admin", "/admin/"):  # the app's own root, written either way
        home = await Browser(client).login(email, next_path=root)
        assert home.headers["location"] == "/admin/", root


async def test_a_next_with_a_control_character_is_ignored_and_other_letters_are_encoded(
    app: FastAPI, client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant)
    # A line break in the Location header failed the answer after the session row was made.
    for bad in ("/members\nx", "/members\r\nSet-Cookie: a=b", "/members\x00", "/members\x7f", "/m\x85"):
        browser = Browser(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test")
        )
        shown = await browser.get("/login?next=" + quote(bad))
        assert 'name="next" value="/"' in shown.text, repr(bad)
        response = await browser.post("/login", {"email": email, "password": PASSWORD, "next": bad})
        assert response.status_code == 303, repr(bad)
        assert response.headers["location"] == "/admin/", repr(bad)
        assert (await browser.get("/members")).status_code == 200, repr(bad)
        await browser.client.aclose()
    # Letters beyond ASCII cannot go in a header either: they are percent-encoded, not refused.
    response = await Browser(client).login(email, next_path="/members?q=Иван Петров")
    assert response.status_code == 303
    assert (
        response.headers["location"]
        == "/admin/members?q=%D0%98%D0%B2%D0%B0%D0%BD%20%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2"
    )
    # the app's own root with a query: it went to /admin/admin?days=30, a 404; and /admin dropped it
    again = Browser(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test"))
    rooted = await again.login(email, next_path="/admin?days=30")
    assert rooted.headers["location"] == "/admin/?days=30"
    await again.client.aclose()
    bare = await client.get("/admin?days=30")
    assert bare.status_code in (307, 308) and bare.headers["location"] == "/admin/?days=30"


async def test_a_form_sent_after_the_session_ended_leads_back_to_its_page(
    app: FastAPI, db: Database, tenant: Tenant
) -> None:
    """The sign-in went on to the form's POST-only path: "405 Method Not Allowed"."""
    email = await make_user(db, tenant)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test")
    browser = Browser(client)  # no session: it ended
    store = {"code": "S1", "name": "First"}
    sent = await client.post(
        "/admin/stores", data=store, headers={"Referer": "http://patron.test/admin/stores?edit=S1"}
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/admin/login?next=/admin/stores%3Fedit%3DS1&resend=1"
    shown = await browser.get(sent.headers["location"].removeprefix("/admin"))
    assert "the form you sent was not saved" in shown.text
    assert 'name="next" value="/stores?edit=S1"' in shown.text
    signed = await browser.post("/login", {"email": email, "password": PASSWORD, "next": "/stores?edit=S1"})
    assert signed.headers["location"] == "/admin/stores?edit=S1"
    assert (await browser.get("/stores?edit=S1")).status_code == 404  # nothing was saved
    assert (await tenant.call("GET", "/v1/stores/S1")).status_code == 404
    await client.aclose()
    # another site's page, or none: the dashboard; htmx is told where to go
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test")
    for referer in (
        {"Referer": "https://evil.example/admin/stores"},
        {},
        {"Referer": "http://patron.test/v1/x"},
    ):
        away = await client.post("/admin/stores", data=store, headers=referer)
        assert away.headers["location"] == "/admin/login?next=/admin/&resend=1", referer
    htmx = await client.post(
        "/admin/campaigns/condition",
        data={"condition": "a = 1"},
        headers={"HX-Request": "true", "Referer": "http://patron.test/admin/campaigns/new"},
    )
    assert htmx.status_code == 204
    assert htmx.headers["HX-Redirect"] == "/admin/login?next=/admin/campaigns/new&resend=1"
    # a refused form's page is its POST address, which a GET answers with a 405: the dashboard
    refused_page = {"Referer": "http://patron.test/admin/communications/broadcasts"}
    away = await client.post("/admin/communications/broadcasts", data={"body": "x"}, headers=refused_page)
    assert away.headers["location"] == "/admin/login?next=/admin/&resend=1"
    # a fragment polled or loaded by htmx (a broadcast's progress): back to the page it is on
    fragment = await client.get(
        "/admin/communications/broadcasts/00000000-0000-0000-0000-000000000000/progress",
        headers={"HX-Request": "true", "HX-Current-URL": "http://patron.test/admin/members?q=x"},
    )
    assert fragment.headers["HX-Redirect"] == "/admin/login?next=/admin/members%3Fq%3Dx"
    await client.aclose()


async def test_a_form_cut_off_by_the_browser_is_no_error(
    app: FastAPI, admin_browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    """htmx drops a condition check as the user types on: the cut-off POST logged "unexpected
    error" with two tracebacks."""
    await admin_browser.get("/campaigns/new")
    cookie = "; ".join(f"{name}={value}" for name, value in admin_browser.client.cookies.items())
    body = f"csrf_token={admin_browser.csrf}&condition=brand".encode()
    chunks = [{"type": "http.request", "body": body, "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"host", b"patron.test"),
        (b"cookie", cookie.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body) + 500).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/admin/campaigns/condition",
        "raw_path": b"/admin/campaigns/condition",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("patron.test", 80),
    }
    with caplog.at_level(logging.ERROR):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_forged_or_foreign_cookie_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/", cookies={"patron_admin": "abc.def"})
    assert response.status_code == 303


async def test_a_disabled_user_cannot_sign_in(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    email = await make_user(db, tenant, "support")
    async with db.transaction() as conn:
        user = await users.authenticate(conn, email, PASSWORD)
        assert user is not None
        await conn.execute("UPDATE admin_users SET disabled_at = now() WHERE id = %s", (user["id"],))
    assert (await Browser(client).login(email)).status_code == 401


async def test_sessions_end_after_twelve_idle_hours(
    app: FastAPI, db: Database, tenant: Tenant, clock: ManualClock
) -> None:
    from datetime import UTC, datetime

    clock.fixed = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    browser = await signed_in(app, db, tenant)
    clock.fixed += timedelta(hours=11)
    assert (await browser.get("/")).status_code == 200  # seen: the session slides on
    clock.fixed += timedelta(hours=11)
    assert (await browser.get("/")).status_code == 200
    clock.fixed += timedelta(hours=12, minutes=1)
    assert (await browser.get("/")).status_code == 303
    await browser.client.aclose()


async def test_every_form_needs_the_csrf_token(app: FastAPI, admin_browser: Browser) -> None:
    posts = [path for path, methods in web_routes(app) if "POST" in methods and path != "/login"]
    assert len(posts) >= 8
    for path in posts:
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        missing = await admin_browser.post(concrete, {"name": "x"}, csrf=False)
        assert missing.status_code == 403, path
        wrong = await admin_browser.post(concrete, {"csrf_token": "not-it"})
        assert wrong.status_code == 403, path
    # The session survived: the token was refused, not the user.
    assert (await admin_browser.get("/")).status_code == 200


async def test_the_csrf_token_also_comes_as_an_htmx_header(admin_browser: Browser, tenant: Tenant) -> None:
    response = await admin_browser.client.post(
        "/admin/stores",
        data={"code": "HX1", "name": "Via htmx"},
        headers={"HX-Request": "true", "X-CSRF-Token": admin_browser.csrf},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/admin/stores")
    assert (await tenant.call("GET", "/v1/stores/HX1")).json()["name"] == "Via htmx"


# --- roles ---------------------------------------------------------------------------------------


async def test_support_sees_but_cannot_change_the_configuration(
    support_browser: Browser, tenant: Tenant
) -> None:
    before = (await tenant.call("GET", "/v1/program")).json()
    page = await support_browser.get("/program")
    assert page.status_code == 200
    assert "signed in as support" in page.text
    refused = await support_browser.post(
        "/program", {"currency": "EUR", "timezone": "UTC", "earn_percent": "50"}
    )
    assert refused.status_code == 403
    assert (await tenant.call("GET", "/v1/program")).json() == before
    assert (await support_browser.post("/stores", {"code": "S9", "name": "No"})).status_code == 403
    assert (await tenant.call("GET", "/v1/stores/S9")).status_code == 404
    for path in ("/api-keys", "/users"):
        assert (await support_browser.get(path)).status_code == 403
    assert (await support_browser.post("/api-keys", {"role": "admin"})).status_code == 403
    assert (
        await support_browser.post("/users", {"email": "x@example.com", "role": "admin"})
    ).status_code == 403
    nav = (await support_browser.get("/")).text
    assert "/admin/users" not in nav and "/admin/members" in nav


async def test_support_adjusts_a_members_points(support_browser: Browser, tenant: Tenant) -> None:
    await setup_shop(tenant)
    member = await member_with(tenant, phone="+79005550011")
    await support_browser.get(f"/members/{member}")
    key = re.search(r'name="key" value="([^"]+)"', (await support_browser.get(f"/members/{member}")).text)
    assert key
    response = await support_browser.post(
        f"/members/{member}/adjustments", {"key": key.group(1), "points": "150", "reason": "goodwill"}
    )
    assert response.status_code == 303
    balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
    assert balance["available"] == 150


# --- members -------------------------------------------------------------------------------------


async def test_find_a_member_by_phone_in_another_format_card_email_or_name(
    admin_browser: Browser, tenant: Tenant
) -> None:
    await setup_shop(tenant)
    body = {
        "phone": "+79001234567",
        "name": "Anna Petrova",
        "email": "anna@example.com",
        "cards": ["CARD-77"],
    }
    member = (await tenant.call("POST", "/v1/members", body)).json()["id"]
    for query in ("8 (900) 123-45-67", "+7 900 123 45 67", "CARD-77", "ANNA@example.com"):
        response = await admin_browser.get("/members", params={"q": query})
        assert response.status_code == 303, query
        assert response.headers["location"] == f"/admin/members/{member}", query
    listed = await admin_browser.get("/members", params={"q": "petro"})
    assert listed.status_code == 200
    assert f"/admin/members/{member}" in listed.text
    nothing = await admin_browser.get("/members", params={"q": "nobody at all"})
    assert "No member matches" in nothing.text


async def test_part_of_a_national_number_with_its_prefix_finds_the_members_holding_it(
    admin_browser: Browser, tenant: Tenant
) -> None:
    """ "030 1234 000" in Germany is the start of +49 30 1234 000x: its 0 is the national prefix,
    which an E.164 number does not hold (a probe found no one, where the whole number worked)."""
    assert (await tenant.call("PUT", "/v1/program", {"country": "DE"})).status_code == 200
    ids = {}
    for phone in ("+493012340000", "+493012340007", "+79301234000"):
        ids[phone] = (await tenant.call("POST", "/v1/members", {"phone": phone})).json()["id"]
    listed = await admin_browser.get("/members", params={"q": "030 1234 000"})
    assert listed.status_code == 200
    found = set(re.findall(r"/admin/members/([0-9a-f-]{36})", listed.text))
    # the Russian number holds the digits too, but not after Germany's code
    assert found == {ids["+493012340000"], ids["+493012340007"]}
    whole = await admin_browser.get("/members", params={"q": "030 1234 0007"})
    assert whole.headers["location"] == f"/admin/members/{ids['+493012340007']}"


async def test_a_search_with_more_matches_than_shown_says_so(admin_browser: Browser, tenant: Tenant) -> None:
    for n in range(51):
        body = {"phone": f"+7900555{n:04}", "name": f"Bulk {n:02}"}
        assert (await tenant.call("POST", "/v1/members", body)).status_code == 201
    many = await admin_browser.get("/members", params={"q": "Bulk"})
    assert "The first 50 matches" in many.text and many.text.count("Bulk ") >= 50
    few = await admin_browser.get("/members", params={"q": "Bulk 1"})
    assert "The first 50 matches" not in few.text and "Bulk 10" in few.text


async def test_member_page_shows_balance_lots_receipts_returns_and_history(
    admin_browser: Browser, tenant: Tenant
) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant, points=300, phone="+79001112233")
    sale = await receipt(
        tenant,
        {
            "store": "MSK",
            "member": {"id": member},
            "lines": [{"sku": "SKI", "quantity": 2, "price": "1000.00"}],
            "spend_points": 100,
        },
    )
    returned = await tenant.call(
        "POST",
        f"/v1/receipts/{sale['id']}/returns",
        {"number": "RET-1", "lines": [{"line": 1, "quantity": 1}]},
    )
    assert returned.status_code == 201
    balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
    page = await admin_browser.get(f"/members/{member}")
    assert page.status_code == 200
    available = re.search(r'data-balance="available">([^<]+)<', page.text)
    assert available and available.group(1).replace(",", "") == str(balance["available"])
    assert 'data-chart="chart-lots"' in page.text
    assert "RET-1" in page.text
    assert f"/admin/receipts/{sale['id']}" in page.text
    assert ">spend<" in page.text and ">earn<" in page.text and ">adjustment<" in page.text
    detail = await admin_browser.get(f"/receipts/{sale['id']}")
    assert detail.status_code == 200
    assert "partially_returned" in detail.text


async def test_adjust_points_through_the_form(admin_browser: Browser, tenant: Tenant) -> None:
    await setup_shop(tenant)
    member = await member_with(tenant, phone="+79001112244")
    page = await admin_browser.get(f"/members/{member}")
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key
    form = {"key": key.group(1), "points": "500", "reason": "apology", "valid_days": "30"}
    first = await admin_browser.post(f"/members/{member}/adjustments", form)
    assert first.status_code == 303
    assert first.headers["location"] == f"/admin/members/{member}?ok=adjusted"
    again = await admin_browser.post(f"/members/{member}/adjustments", form)  # a double submit
    assert again.status_code == 303
    balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
    assert balance["available"] == 500
    history = (await tenant.call("GET", f"/v1/members/{member}/history")).json()["items"]
    assert [(e["kind"], e["points"], e["reason"]) for e in history] == [("adjustment", 500, "apology")]
    shown = await admin_browser.get(f"/members/{member}")
    assert (
        '>adjustment</span> <span class="small muted">a manual credit or debit</span>' in shown.text
    )  # kinds explained
    # the browser's Back: a fresh page (a new key) with the form refilled, sent again
    back = await admin_browser.post(f"/members/{member}/adjustments", {**form, "key": str(uuid.uuid4())})
    assert back.status_code == 409 and 'id="err-repeat"' in back.text and 'name="repeat"' in back.text
    assert "(Europe/Moscow): tick the box" in back.text  # the program's time, as the history shows it
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["available"] == 500
    meant = await admin_browser.post(
        f"/members/{member}/adjustments", {**form, "key": str(uuid.uuid4()), "repeat": "on"}
    )
    assert meant.status_code == 303  # ticked: another one, on purpose
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["available"] == 1000
    other_reason = {"key": str(uuid.uuid4()), "reason": "taken back", "points": "-500"}
    assert (await admin_browser.post(f"/members/{member}/adjustments", other_reason)).status_code == 303

    too_much = await admin_browser.post(
        f"/members/{member}/adjustments", {"key": str(uuid.uuid4()), "points": "-501", "reason": "oops"}
    )
    assert too_much.status_code == 409
    assert "cannot spend 501 points" in too_much.text
    retry_key = re.search(r'name="key" value="([^"]+)"', too_much.text)
    assert retry_key and retry_key.group(1) != key.group(1)  # a retry is a new adjustment
    bad = await admin_browser.post(
        f"/members/{member}/adjustments",
        {"key": str(uuid.uuid4()), "points": "10", "reason": "x", "spend_condition": "brand = "},
    )
    assert bad.status_code == 422
    assert 'id="err-spend_condition"' in bad.text
    zero = await admin_browser.post(
        f"/members/{member}/adjustments", {"key": "k", "points": "0", "reason": "x"}
    )
    assert zero.status_code == 422
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["available"] == 500
    # ASCII digits and a sign only, as the API reads them (int() took these)
    before = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["available"]
    for points, days in (("1_000", ""), ("５", ""), ("١٠", ""), ("10", "3_0"), ("10", "３０")):
        odd = await admin_browser.post(
            f"/members/{member}/adjustments",
            {"key": str(uuid.uuid4()), "points": points, "reason": "odd digits", "valid_days": days},
        )
        assert odd.status_code == 422, (points, days)
        field = "points" if not days else "valid_days"
        assert f'id="err-{field}"' in odd.text, (points, days)
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["available"] == before
    signed = await admin_browser.post(
        f"/members/{member}/adjustments",
        {"key": str(uuid.uuid4()), "points": "+25", "reason": "signed", "valid_days": "30"},
    )
    assert signed.status_code == 303
    history = (await tenant.call("GET", f"/v1/members/{member}/history")).json()["items"]
    assert (history[0]["kind"], history[0]["points"], history[0]["reason"]) == ("adjustment", 25, "signed")


async def test_a_members_receipts_are_paged(admin_browser: Browser, tenant: Tenant) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant, phone="+79001112255")
    for n in range(53):
        sale = {"store": "MSK", "number": f"P-{n:02}", "member": {"id": member}}
        await receipt(tenant, {**sale, "lines": [{"sku": "TEE", "quantity": 1, "price": "10.00"}]})
    first = await admin_browser.get(f"/members/{member}")
    assert "1 to 50 of 53" in first.text and "?receipts=50#receipts" in first.text
    assert "MSK · P-52" in first.text and "MSK · P-02" not in first.text  # newest first
    older = await admin_browser.get(f"/members/{member}", params={"receipts": "50"})
    assert "51 to 53 of 53" in older.text and "?receipts=0#receipts" in older.text
    assert [n for n in range(53) if f"MSK · P-{n:02}<" in older.text] == [0, 1, 2]
    beyond = await admin_browser.get(f"/members/{member}", params={"receipts": "9999"})
    assert "51 to 53 of 53" in beyond.text  # past the end: the last page
    assert (await admin_browser.get(f"/members/{member}", params={"receipts": "x"})).status_code == 200


async def test_another_tenants_member_is_not_found(admin_browser: Browser, other_tenant: Tenant) -> None:
    stranger = (await other_tenant.call("POST", "/v1/members", {"phone": "+4915112345678"})).json()["id"]
    assert (await admin_browser.get(f"/members/{stranger}")).status_code == 404
    assert (await admin_browser.get("/members/not-a-uuid")).status_code == 404
    key = {"key": "k", "points": "5", "reason": "x"}
    assert (await admin_browser.post(f"/members/{stranger}/adjustments", key)).status_code == 404


# --- program, stores, keys, users ----------------------------------------------------------------


async def test_program_form_saves_like_the_api(admin_browser: Browser, tenant: Tenant) -> None:
    page = await admin_browser.get("/program")
    assert 'value="RUB"' in page.text
    form = {
        "currency": "RUB",
        "timezone": "Europe/Moscow",
        "country": "ru",
        "point_value": "0.50",
        "earn_percent": "7",
        "max_spend_percent": "30",
        "no_spend_condition": "category = 'tobacco'",
        "activation_delay_days": "0",
        "points_valid_days": "180",
        "return_policy": "withhold",
        "tier_window_days": "365",
        "tier_code": ["base", "gold", ""],
        "tier_name": ["Base", "Gold", ""],
        "tier_threshold": ["0", "10000", ""],
        "tier_earn_percent": ["5", "10", ""],
        "birthday_points": "300",
        "birthday_valid_days": "14",
        "birthday_days_before": "3",
    }
    saved = await admin_browser.post("/program", form)
    assert saved.status_code == 303, saved.text
    program = (await tenant.call("GET", "/v1/program")).json()
    assert program["point_value"] == "0.50" and program["earn_percent"] == "7"
    assert program["country"] == "RU" and program["return_policy"] == "withhold"
    assert [t["code"] for t in program["tiers"]] == ["base", "gold"]
    assert program["birthday"] == {"points": 300, "valid_days": 14, "days_before": 3}

    bad = await admin_browser.post(
        "/program", {**form, "timezone": "Mars/Olympus", "tier_threshold": ["0", "0", ""]}
    )
    assert bad.status_code == 422
    assert 'id="err-timezone"' in bad.text
    finer = await admin_browser.post("/program", {**form, "point_value": "0.125"})  # below a kopeck
    assert finer.status_code == 422 and 'id="err-point_value"' in finer.text
    # a cleared field is an error by it, not its default (a time zone turned UTC without a word)
    cleared = await admin_browser.post("/program", {**form, "timezone": "", "activation_delay_days": " "})
    assert cleared.status_code == 422
    assert 'id="err-timezone"' in cleared.text and 'id="err-activation_delay_days"' in cleared.text
    only_token = await admin_browser.post("/program", {})
    assert only_token.status_code == 422
    assert (await tenant.call("GET", "/v1/program")).json() == program


async def test_stores_form(admin_browser: Browser, tenant: Tenant) -> None:
    created = await admin_browser.post(
        "/stores",
        {"code": "KZN", "name": "Kazan", "city": "Kazan", "country": "ru", "timezone": "Europe/Moscow"},
    )
    assert created.status_code == 303
    assert (await tenant.call("GET", "/v1/stores/KZN")).json() == {
        "code": "KZN",
        "name": "Kazan",
        "country": "RU",
        "city": "Kazan",
        "timezone": "Europe/Moscow",
    }
    bad = await admin_browser.post("/stores", {"code": "bad code", "name": "", "timezone": "Nowhere/City"})
    assert bad.status_code == 422
    assert 'id="err-code"' in bad.text and 'id="err-timezone"' in bad.text
    assert "give a value" in bad.text and "valid string" not in bad.text  # the empty name, in words
    kazan = {"city": "Kazan", "country": "ru", "timezone": "Europe/Moscow"}
    nul = await admin_browser.post("/stores", {"code": "NUL", "name": "a\x00b", **kazan})
    assert nul.status_code == 422 and "NUL character" in nul.text
    assert (await tenant.call("GET", "/v1/stores/NUL")).status_code == 404
    listed = await admin_browser.get("/stores")
    assert "KZN" in listed.text
    # the form to add a store does not replace one; its Edit form does
    again = await admin_browser.post("/stores", {"code": "KZN", "name": "Renamed", **kazan})
    assert again.status_code == 409 and 'id="err-code"' in again.text
    assert (await tenant.call("GET", "/v1/stores/KZN")).json()["name"] == "Kazan"
    edit = await admin_browser.get("/stores", params={"edit": "KZN"})
    assert 'name="editing" value="KZN"' in edit.text
    renamed = await admin_browser.post(
        "/stores", {"code": "KZN", "name": "Renamed", "editing": "KZN", **kazan}
    )
    assert renamed.status_code == 303
    assert (await tenant.call("GET", "/v1/stores/KZN")).json()["name"] == "Renamed"
    # a code cannot change: the Edit form made a second store with a changed one
    assert re.search(r'<input name="code" value="KZN" required readonly>', edit.text)
    moved = await admin_browser.post("/stores", {"code": "KZ2", "name": "Moved", "editing": "KZN", **kazan})
    assert moved.status_code == 422
    assert (
        '<span class="error" id="err-code">a store&#39;s code cannot change: this form edits KZN;'
        " add a store for a new code</span>" in moved.text
    )
    assert (await tenant.call("GET", "/v1/stores/KZ2")).status_code == 404
    assert (await tenant.call("GET", "/v1/stores/KZN")).json()["name"] == "Renamed"


async def test_api_keys_are_shown_once_and_revoked(admin_browser: Browser, tenant: Tenant) -> None:
    posted = await admin_browser.post("/api-keys", {"role": "pos", "name": "till 7"})
    assert posted.status_code == 303  # redirected: a reload of the next page creates no second key
    assert not any(posted.headers.get_list("set-cookie"))  # the secret stays on the server
    created = await admin_browser.get("/api-keys")
    secret = re.search(r"data-new-key>([^<]+)<", created.text)
    assert secret
    key = secret.group(1).strip()
    assert (await tenant.call("GET", "/v1/members?phone=%2B79009998877", key=key)).status_code == 404
    assert (await tenant.call("GET", "/v1/program", key=key)).status_code == 403  # a pos key
    listed = await admin_browser.get("/api-keys")  # the reload: shown once, created once
    assert key not in listed.text and "till 7" in listed.text
    key_id = re.search(r"/admin/api-keys/([0-9a-f-]{36})/revoke", listed.text)
    ids = re.findall(r"/admin/api-keys/([0-9a-f-]{36})/revoke", listed.text)
    assert key_id and len(ids) == 2
    items = (await tenant.call("GET", "/v1/api-keys")).json()["items"]
    till = next(item["id"] for item in items if item["name"] == "till 7")
    assert (await admin_browser.post(f"/api-keys/{till}/revoke")).status_code == 303
    assert (await tenant.call("GET", "/v1/members?phone=%2B79009998877", key=key)).status_code == 401
    long = await admin_browser.post("/api-keys", {"role": "pos", "name": "x" * 201})
    assert long.status_code == 422 and "at most 200" in long.text  # not saved cut short
    assert len((await tenant.call("GET", "/v1/api-keys")).json()["items"]) == 2


async def test_users_page_creates_changes_and_keeps_one_admin(
    app: FastAPI, admin_browser: Browser, tenant: Tenant
) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    short = await admin_browser.post("/users", {"email": email, "role": "support", "password": "short"})
    assert short.status_code == 422
    made = await admin_browser.post("/users", {"email": email, "role": "support", "password": PASSWORD})
    assert made.status_code == 303
    again = await admin_browser.post("/users", {"email": email, "role": "support", "password": PASSWORD})
    assert again.status_code == 409

    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test")
    assert (await Browser(other).login(email)).status_code == 303

    page = await admin_browser.get("/users")
    ids = dict(
        re.findall(
            r'<td>([^<]+?)(?: <span class="badge">you</span>)?</td>\s*<td>\s*<form class="row" method="post" action="/admin/users/([0-9a-f-]{36})"',
            page.text,
        )
    )
    me = next(uid for mail, uid in ids.items() if mail.startswith("admin-"))
    lonely = await admin_browser.post(f"/users/{me}", {"role": "support"})
    assert lonely.status_code == 409
    assert "at least one active admin" in lonely.text
    disabled = await admin_browser.post(f"/users/{ids[email]}", {"role": "support", "disabled": "on"})
    assert disabled.status_code == 303
    assert (await Browser(other).get("/")).status_code == 303  # its session ended with it
    await other.aclose()


async def test_a_password_set_on_the_users_page_is_kept_exactly_as_typed(
    app: FastAPI, admin_browser: Browser
) -> None:
    """The form stripped passwords: spaces at either end were lost (the password as typed was then
    refused at sign-in) and counted for nothing ("   abcdefgh   " was under 10 characters)."""
    email = f"spaces-{uuid.uuid4().hex[:8]}@example.com"
    blank = await admin_browser.post("/users", {"email": email, "role": "support", "password": " " * 12})
    assert blank.status_code == 422 and "not spaces alone" in blank.text  # kept as typed, but no password
    spaced = "   abcdefgh   "
    made = await admin_browser.post("/users", {"email": email, "role": "support", "password": spaced})
    assert made.status_code == 303, made.text
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://patron.test")
    assert (await Browser(other).login(email, "abcdefgh")).status_code == 401
    assert (await Browser(other).login(email, spaced)).status_code == 303

    page = await admin_browser.get("/users")
    found = re.search(
        rf"{re.escape(email)}</td>.*?action=\"/admin/users/([0-9a-f-]{{36}})/password\"", page.text, re.S
    )
    assert found
    reset = "  new password  "
    changed = await admin_browser.post(f"/users/{found.group(1)}/password", {"password": reset})
    assert changed.status_code == 303
    assert (await Browser(other).login(email, reset.strip())).status_code == 401
    assert (await Browser(other).login(email, spaced)).status_code == 401
    assert (await Browser(other).login(email, reset)).status_code == 303
    await other.aclose()


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(db: Database, tenant: Tenant) -> None:
    """The last-admin rule counted admins without a lock: both demotions passed, leaving none."""
    async with db.transaction() as conn:
        alice, bob = [
            await users.create_in(
                conn, tenant.tenant_id, f"{name}-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, "admin"
            )
            for name in ("alice", "bob")
        ]
        await conn.execute(
            "UPDATE admin_users SET disabled_at = now() WHERE tenant_id = %s AND id NOT IN (%s, %s)",
            (tenant.tenant_id, alice, bob),
        )

    async def demote(user: str, by: str) -> str:
        try:
            async with db.transaction() as conn:
                await users.change(
                    conn, tenant.tenant_id, user, role="support", disabled=False, acting_user=by
                )
                await conn.execute("SELECT pg_sleep(0.2)")  # both are past their check before either commits
        except Conflict as exc:
            return exc.code
        return "demoted"

    outcomes = await asyncio.gather(demote(bob, alice), demote(alice, bob))
    assert sorted(outcomes) == ["demoted", "last_admin"]
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM admin_users WHERE tenant_id = %s AND role = 'admin' AND disabled_at IS NULL",
            (tenant.tenant_id,),
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 1


async def test_a_database_restart_costs_the_admin_one_page_not_one_per_connection(
    app: FastAPI, admin_browser: Browser
) -> None:
    """A probe: after a restart each of the admin pool's connections answered a plain-text 500."""
    pids = []
    for pool in (app.state.db, app.state.admin_db):
        async with contextlib.AsyncExitStack() as held:  # every connection the pool has now
            for _ in range(pool.pool.get_stats()["pool_size"]):
                pids.append((await held.enter_async_context(pool.read())).info.backend_pid)
    async with await psycopg.AsyncConnection.connect(app.state.db.url, autocommit=True) as admin:
        for pid in pids:  # as a restart does to them
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    await asyncio.sleep(0.2)
    pages = [await admin_browser.get("/program") for _ in range(5)]
    statuses = [page.status_code for page in pages]
    assert statuses == [503, 200, 200, 200, 200], statuses
    assert "the database could not be reached" in pages[0].text


async def test_a_receipt_page_names_its_campaigns_and_its_returns_time(
    admin_browser: Browser, tenant: Tenant, clock: ManualClock
) -> None:
    """A probe: lines listed campaigns by id, and a return showed when it was written (the demo's
    replay writes a year's returns today), not its own moment."""
    await setup_shop(tenant, activation_delay_days=0)
    effect = {"type": "discount_percent", "value": "10"}
    assert (
        await tenant.call("POST", "/v1/campaigns", {"name": "Ski week", "effect": effect})
    ).status_code == 201
    clock.fixed = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, the program's zone
    sale = await receipt(
        tenant, {"store": "MSK", "lines": [{"sku": "SKI", "quantity": 2, "price": "100.00"}]}
    )
    clock.fixed = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    returned = await tenant.call(
        "POST",
        f"/v1/receipts/{sale['id']}/returns",
        {"number": "RET-9", "lines": [{"line": 1, "quantity": 1}]},
    )
    assert returned.status_code == 201
    page = await admin_browser.get(f"/receipts/{sale['id']}")
    assert '<td class="small">Ski week</td>' in page.text
    assert "2026-03-10 12:00" in page.text and "(Europe/Moscow)" in page.text
    assert "<tr><td>2026-03-11 12:00</td><td>RET-9</td>" in page.text


async def test_the_member_search_hint_is_of_the_programs_country_and_ended_campaigns_say_so(
    admin_browser: Browser, tenant: Tenant, clock: ManualClock
) -> None:
    """A probe: a US program's hint gave Russian numbers (which found no one), and campaigns whose
    dates were over were listed as active."""
    program = {"currency": "USD", "timezone": "America/Chicago", "country": "US"}
    assert (await tenant.call("PUT", "/v1/program", program)).status_code == 200
    page = await admin_browser.get("/members")
    assert "+1 201-555-0123" in page.text and "8 (900)" not in page.text
    clock.fixed = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)  # 12:00 in Chicago
    effect = {"type": "discount_percent", "value": "10"}
    for name, ends in (("Over", "2026-03-09"), ("Today", "2026-03-10")):
        body = {"name": name, "ends_at": ends, "effect": effect}
        assert (await tenant.call("POST", "/v1/campaigns", body)).status_code == 201
    listed = await admin_browser.get("/campaigns")
    rows = {
        name: row
        for row in re.findall(r"<tr data-campaign.*?</tr>", listed.text, re.S)
        for name in ("Over", "Today")
        if f">{name}<" in row
    }
    assert ">ended<" in rows["Over"] and ">active<" in rows["Today"] and ">ended<" not in rows["Today"]


async def test_a_nul_character_comes_back_as_the_fields_error(admin_browser: Browser, tenant: Tenant) -> None:
    """A NUL in a form field gave a whole error page ("unsupported Unicode escape sequence") and
    lost the form: it is the field's error now, the form kept, nothing saved."""
    nul = "text may not hold the NUL character"
    key = await admin_browser.post("/api-keys", {"role": "admin", "name": "till\x007"})
    assert key.status_code == 422 and f"name: {nul}" in key.text
    assert 'value="till7"' in key.text and '<option value="admin" selected>' in key.text  # the form kept
    assert len((await tenant.call("GET", "/v1/api-keys")).json()["items"]) == 1  # the test's own

    store = await admin_browser.post("/stores", {"code": "NUL", "name": "a\x00b", "city": "Kazan"})
    assert store.status_code == 422 and f'<span class="error" id="err-name">{nul}</span>' in store.text
    assert 'name="city" value="Kazan"' in store.text
    assert (await tenant.call("GET", "/v1/stores/NUL")).status_code == 404

    before = (await tenant.call("GET", "/v1/program")).json()
    program = forms.program_form_values(before, 0)
    fields = {k: v for k, v in program.items() if isinstance(v, str)}
    tiers = {"tier_code": ["base", "gold"], "tier_name": ["Base", "Go\x00ld"], "tier_threshold": ["0", "100"]}
    refused = await admin_browser.post("/program", {**fields, **tiers, "tier_earn_percent": ["1", "2"]})
    assert refused.status_code == 422
    assert f'<span class="error" id="err-tiers-1-name">{nul}</span>' in refused.text
    assert (await tenant.call("GET", "/v1/program")).json() == before

    await setup_shop(tenant)
    member = await member_with(tenant, phone="+79001112266")
    adjusted = await admin_browser.post(
        f"/members/{member}/adjustments", {"key": str(uuid.uuid4()), "points": "10", "reason": "a\x00b"}
    )
    assert (
        adjusted.status_code == 422 and f'<span class="error" id="err-reason">{nul}</span>' in adjusted.text
    )
    assert (await tenant.call("GET", f"/v1/members/{member}/history")).json()["items"] == []
