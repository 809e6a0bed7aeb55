"""Contract 5: members, phones in any format, uniqueness, lookups, isolation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from patron.db.pool import Database
from tests.conftest import ManualClock
from tests.integration.conftest import Tenant, make_tenant
from tests.integration.test_api_conventions import assert_error

FIVE_WAYS = ["+79001234567", "+7 (900) 123-45-67", "8 900 123 45 67", "007 900 123-45-67", "9001234567"]


async def test_a_phone_written_five_ways_is_one_member(tenant: Tenant) -> None:
    created = await tenant.call("POST", "/v1/members", {"phone": FIVE_WAYS[1], "name": "Anna"})
    assert created.status_code == 201
    member = created.json()
    assert member["phone"] == "+79001234567"
    for way in FIVE_WAYS:
        found = await tenant.call("GET", "/v1/members", params={"phone": way})
        assert found.status_code == 200, way
        assert found.json()["id"] == member["id"]
        assert_error(await tenant.call("POST", "/v1/members", {"phone": way}), 409, "phone_taken")


async def test_not_a_phone_is_422(tenant: Tenant) -> None:
    for bad in ["12", "hello", "+7 900", "", "+999 123"]:
        response = await tenant.call("POST", "/v1/members", {"phone": bad})
        error = assert_error(response, 422)
        assert error["field"] == "phone"
    assert_error(await tenant.call("GET", "/v1/members", params={"phone": "nonsense"}), 422)


async def test_a_phone_longer_than_e164_is_422_on_every_way_in(tenant: Tenant) -> None:
    """A 17-digit German number the phone library takes as valid was a 500 (the table's check) on
    create and update; a 16-digit one was stored."""
    member = (await tenant.call("POST", "/v1/members", {"phone": "+4915112300042"})).json()
    for long in ("+49 30 1234567890123", "+4930123456789012"):
        for method, path, body, params in (
            ("POST", "/v1/members", {"phone": long}, None),
            ("PATCH", f"/v1/members/{member['id']}", {"phone": long}, None),
            ("GET", "/v1/members", None, {"phone": long}),
        ):
            error = assert_error(await tenant.call(method, path, body, params=params), 422, "invalid_phone")
            assert error["field"] == "phone" and "15 digits" in error["message"], (method, long)
    assert (await tenant.call("GET", f"/v1/members/{member['id']}")).json()["phone"] == "+4915112300042"


@pytest.mark.parametrize("key", ["phone", "card", "email"])
async def test_a_lookup_key_given_empty_is_refused_naming_that_key(tenant: Tenant, key: str) -> None:
    """A scanner that read nothing sends ``?card=``: the error named ``phone``."""
    error = assert_error(await tenant.call("GET", "/v1/members", params={key: ""}), 422)
    assert error["field"] == key and error["message"].startswith(f"{key}: ")


async def test_an_email_is_found_in_its_stored_form_before_a_lower_case_twin(tenant: Tenant) -> None:
    """ "shop@İstanbul.com.tr" is stored as IDNA maps it ("i̇"); as written, PostgreSQL lowers it
    to another member's "shop@istanbul.com.tr", and the lookup found that member."""
    plain = await tenant.call(
        "POST", "/v1/members", {"phone": "+79001230031", "email": "shop@istanbul.com.tr"}
    )
    dotted = await tenant.call(
        "POST", "/v1/members", {"phone": "+79001230032", "email": "shop@İstanbul.com.tr"}
    )
    assert plain.status_code == dotted.status_code == 201
    for email, member in (("shop@İstanbul.com.tr", dotted), ("shop@istanbul.com.tr", plain)):
        found = await tenant.call("GET", "/v1/members", params={"email": email})
        assert found.json()["id"] == member.json()["id"], email


@pytest.mark.parametrize("email", ["İnci@example.com", "ΟΔΥΣΣΕΑΣ@example.com"])
async def test_an_email_a_create_finds_taken_is_found(tenant: Tenant, email: str) -> None:
    """Python's and PostgreSQL's lower case differ for a dotted capital I and a final sigma: the
    second create was a 409 email_taken and the lookup of the same text a 404."""
    made = await tenant.call("POST", "/v1/members", {"phone": "+79001230011", "email": email})
    assert made.status_code == 201, made.text
    assert_error(
        await tenant.call("POST", "/v1/members", {"phone": "+79001230012", "email": email}),
        409,
        "email_taken",
    )
    found = await tenant.call("GET", "/v1/members", params={"email": email})
    assert found.status_code == 200 and found.json()["id"] == made.json()["id"]


async def test_a_card_attached_is_refused_in_the_words_and_field_of_every_card(tenant: Tenant) -> None:
    member = (await tenant.call("POST", "/v1/members", {"phone": "+79001230021"})).json()
    not_text = await tenant.call("POST", "/v1/members", {"phone": "+79001230022", "cards": [123]})
    assert not_text.status_code == 422 and not_text.json()["error"]["field"] == "cards"
    assert "a card is text" in not_text.json()["error"]["message"]
    for card in ("P 6", "P-\u200b7", "x" * 65):
        refused = await tenant.call("POST", f"/v1/members/{member['id']}/cards", {"card": card})
        assert refused.status_code == 422, card
        error = refused.json()["error"]
        assert error["field"] == "card" and "a card" in error["message"] and "match" not in error["message"]
    kept = await tenant.call("POST", f"/v1/members/{member['id']}/cards", {"card": " P-8\r\n"})
    assert kept.status_code in (200, 201) and kept.json()["cards"] == ["P-8"]


async def test_email_and_card_are_unique_and_found(tenant: Tenant) -> None:
    body = {
        "phone": "+79001230001",
        "email": "Anna@Example.com",
        "cards": ["C-100", "C-101"],
        "birthday": "1990-05-17",
        "city": "Moscow",
        "consents": {"sms": True, "email": False},
    }
    member = (await tenant.call("POST", "/v1/members", body)).json()
    assert member["cards"] == ["C-100", "C-101"]
    assert member["consents"] == {"sms": True, "email": False}
    assert member["birthday"] == "1990-05-17"
    assert_error(
        await tenant.call("POST", "/v1/members", {"phone": "+79001230002", "email": "anna@example.com"}),
        409,
        "email_taken",
    )
    assert_error(
        await tenant.call("POST", "/v1/members", {"phone": "+79001230003", "cards": ["C-101"]}),
        409,
        "card_taken",
    )
    # nothing of the refused members was kept
    assert_error(await tenant.call("GET", "/v1/members", params={"phone": "+79001230003"}), 404)
    by_card = await tenant.call("GET", "/v1/members", params={"card": "C-100"})
    by_email = await tenant.call("GET", "/v1/members", params={"email": "ANNA@example.com"})
    assert by_card.json()["id"] == by_email.json()["id"] == member["id"]
    assert_error(await tenant.call("GET", "/v1/members", params={"card": "C-999"}), 404)
    assert_error(await tenant.call("GET", "/v1/members"), 422)
    assert_error(
        await tenant.call("POST", "/v1/members", {"phone": "+79001230004", "email": "not-an-email"}), 422
    )


async def test_a_key_found_taken_is_found_by_lookup_and_at_the_till(tenant: Tenant) -> None:
    """A probe: an email in its ASCII (IDN) form was taken (409) yet not found (404), and a card
    a scanner sent with CR/LF was found by lookup and not in a basket."""
    body = {"phone": "+79001230010", "email": "hans@bücher.de", "cards": ["C-200"]}
    member = (await tenant.call("POST", "/v1/members", body)).json()
    taken = await tenant.call(
        "POST", "/v1/members", {"phone": "+79001230011", "email": "hans@xn--bcher-kva.de"}
    )
    assert_error(taken, 409, "email_taken")
    found = await tenant.call("GET", "/v1/members", params={"email": "Hans@xn--bcher-kva.de"})
    assert found.status_code == 200 and found.json()["id"] == member["id"]
    assert_error(await tenant.call("GET", "/v1/members", params={"email": "hans@"}), 422)
    assert (
        await tenant.call("PUT", "/v1/stores/S1", {"name": "S1", "country": "RU", "city": "Moscow"})
    ).status_code in (200, 201)
    lines = [{"sku": "A", "quantity": 1, "price": "10.00"}]
    for card in ("C-200\r\n", " C-200 "):
        quote = await tenant.call(
            "POST", "/v1/checkout/quote", {"store": "S1", "member": {"card": card}, "lines": lines}
        )
        assert quote.status_code == 200 and quote.json()["member"]["id"] == member["id"], quote.text
    for bad in ("", " "):
        refused = await tenant.call(
            "POST", "/v1/checkout/quote", {"store": "S1", "member": {"card": bad}, "lines": lines}
        )
        assert_error(refused, 422)
    letters = await tenant.call("POST", "/v1/members", {"phone": "+7 900 123 00 1O"})
    assert_error(letters, 422, "invalid_phone")


async def test_patch_and_cards(tenant: Tenant) -> None:
    member = (await tenant.call("POST", "/v1/members", {"phone": "+79001230010"})).json()
    other = (await tenant.call("POST", "/v1/members", {"phone": "+79001230011", "cards": ["X1"]})).json()
    path = f"/v1/members/{member['id']}"
    patched = await tenant.call("PATCH", path, {"name": "Boris", "phone": "8 900 123 00 12"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Boris" and patched.json()["phone"] == "+79001230012"
    assert_error(await tenant.call("PATCH", path, {"phone": other["phone"]}), 409, "phone_taken")
    assert (await tenant.call("GET", path)).json()["phone"] == "+79001230012"
    added = await tenant.call("POST", f"{path}/cards", {"card": "Y7"})
    assert added.status_code == 201 and added.json()["cards"] == ["Y7"]
    assert_error(await tenant.call("POST", f"{path}/cards", {"card": "X1"}), 409, "card_taken")
    assert_error(await tenant.call("POST", f"{path}/cards", {"card": "has space"}), 422)
    consents = await tenant.call("PATCH", path, {"consents": {"sms": True, "email": True}})
    assert consents.json()["consents"] == {"sms": True, "email": True}
    # a channel given alone changes alone: the SMS consent stays
    email_off = await tenant.call("PATCH", path, {"consents": {"email": False}})
    assert email_off.json()["consents"] == {"sms": True, "email": False}
    assert (await tenant.call("GET", path)).json()["consents"] == {"sms": True, "email": False}
    trimmed = await tenant.call("POST", f"{path}/cards", {"card": " Y8 "})  # as a member's create trims
    assert trimmed.status_code == 201 and trimmed.json()["cards"] == ["Y7", "Y8"]


async def test_a_birthday_is_at_most_today_in_the_programs_time_zone(
    tenant: Tenant, clock: ManualClock
) -> None:
    """A birthday of tomorrow in the program's zone (Moscow) was accepted while it was today in
    UTC+14, and earned its birthday gift at once, for a day still to come."""
    clock.fixed = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 15:00 in Moscow, 02:00 on the 11th in UTC+14
    born = await tenant.call("POST", "/v1/members", {"phone": "+79001230030", "birthday": "2026-03-10"})
    assert born.status_code == 201 and born.json()["birthday"] == "2026-03-10"
    tomorrow = {"phone": "+79001230031", "birthday": "2026-03-11"}
    error = assert_error(await tenant.call("POST", "/v1/members", tomorrow), 422)
    assert error["field"] == "birthday" and error["message"] == "birthday: a date from 1900 to today"
    # the shape of the 422 of a birthday after the furthest zone's today (it came without details)
    beyond = assert_error(
        await tenant.call("POST", "/v1/members", {**tomorrow, "birthday": "2026-03-12"}), 422
    )
    said = [{"field": "birthday", "message": "a date from 1900 to today"}]
    assert error["details"] == beyond["details"] == said
    path = f"/v1/members/{born.json()['id']}"
    patched = assert_error(await tenant.call("PATCH", path, {"birthday": "2026-03-11"}), 422)
    assert (patched["field"], patched["details"]) == ("birthday", said)
    assert (await tenant.call("GET", path)).json()["birthday"] == "2026-03-10"
    clock.fixed = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)  # 00:30 on the 11th in Moscow
    assert (await tenant.call("POST", "/v1/members", tomorrow)).status_code == 201


async def test_a_foreign_tenants_member_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    member = (await tenant.call("POST", "/v1/members", {"phone": "+79001230020", "cards": ["Z1"]})).json()
    path = f"/v1/members/{member['id']}"
    for method, suffix, body in [
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("GET", "/balance", None),
        ("GET", "/lots", None),
        ("GET", "/history", None),
        ("POST", "/cards", {"card": "Q1"}),
        ("POST", "/adjustments", {"key": "k", "points": 10, "reason": "x"}),
    ]:
        assert_error(await other_tenant.call(method, path + suffix, body), 404)
    assert_error(await other_tenant.call("PATCH", path, {"cards": ["Q2"]}), 404)  # cards alone: no 500
    assert_error(await other_tenant.call("PATCH", path, {}), 404)
    assert_error(await other_tenant.call("GET", "/v1/members", params={"card": "Z1"}), 404)
    assert_error(await other_tenant.call("GET", "/v1/members", params={"phone": "+79001230020"}), 404)
    assert_error(await tenant.call("GET", "/v1/members/not-a-uuid"), 404)
    # the same phone can be a member of another program
    assert (await other_tenant.call("POST", "/v1/members", {"phone": "+79001230020"})).status_code == 201


async def test_without_a_country_phones_are_read_in_the_time_zones_country(
    db: Database, client: httpx.AsyncClient
) -> None:
    # contract 1: `patron tenants create SLUG --currency RUB --timezone Europe/Moscow`, no country
    moscow = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow")
    created = await moscow.call("POST", "/v1/members", {"phone": "8 (900) 123-45-67"})
    assert created.status_code == 201 and created.json()["phone"] == "+79001234567"
    for way in FIVE_WAYS:
        assert (await moscow.call("GET", "/v1/members", params={"phone": way})).status_code == 200, way
    # the country, once set, decides; a zone of no one country reads only numbers with +
    assert (await moscow.call("PATCH", "/v1/program", {"country": "DE"})).status_code == 200
    # read as a German number now, it is not the Russian member
    assert_error(await moscow.call("GET", "/v1/members", params={"phone": "8 900 123 45 67"}), 404)
    utc = await make_tenant(db, client, currency="EUR", timezone="UTC")
    assert_error(await utc.call("POST", "/v1/members", {"phone": "8 900 123 45 67"}), 422, "invalid_phone")
    assert (await utc.call("POST", "/v1/members", {"phone": "+7 900 123 45 67"})).status_code == 201
    # an older name of a zone is the zone it stands for now (Europe/Kiev read no country at all)
    kiev = await make_tenant(db, client, currency="UAH", timezone="Europe/Kiev")
    made = await kiev.call("POST", "/v1/members", {"phone": "050 123 4567"})
    assert made.status_code == 201 and made.json()["phone"] == "+380501234567"
