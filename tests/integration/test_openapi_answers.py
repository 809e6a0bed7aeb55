"""The OpenAPI document describes what the server takes and answers: a client generated from it sends
money as text (a published `number` led it to send 49.9, a 422), sends null where it is taken, and
reads the fields of a result (its schema was empty). Real requests and answers are checked against
the published schemas by the small validator below (no JSON Schema library is a dependency)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.conftest import Tenant
from tests.integration.test_api_conventions import assert_error
from tests.integration.test_checkout import basket, member_with, setup_shop

_KINDS: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number"):
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole or (kind == "number" and isinstance(value, float))
    return isinstance(value, _KINDS[kind])


def problems(value: Any, schema: dict[str, Any], spec: dict[str, Any], at: str = "") -> list[str]:
    """Where ``value`` breaks ``schema``: the JSON Schema keywords the published schemas use."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema and all(problems(value, option, spec, at) for option in schema["anyOf"]):
        return [f"{at}: {value!r} matches none of anyOf"]
    kinds = schema.get("type")
    if kinds is not None and not any(
        _is(value, kind) for kind in ([kinds] if isinstance(kinds, str) else kinds)
    ):
        return [f"{at}: {value!r} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not in {schema['enum']}"]
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return [f"{at}: {value!r} does not match {schema['pattern']}"]
    found: list[str] = []
    if isinstance(value, dict):
        found += [f"{at}.{name}: missing" for name in schema.get("required", []) if name not in value]
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                found += problems(item, properties[name], spec, f"{at}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{at}.{name}: not taken")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], spec, f"{at}.{index}")
    return found


@pytest.fixture
async def shop(tenant: Tenant) -> Tenant:
    await setup_shop(tenant)
    return tenant


def answer_schema(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path][method]["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    return schema


def request_schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


async def test_answers_of_quote_and_receipts_are_as_published(shop: Tenant) -> None:
    spec = (await shop.client.get("/openapi.json")).json()
    campaign = {
        "name": "tees",
        "condition": "category = 'tees'",
        "effect": {"type": "discount_percent", "value": "10"},
    }
    assert (await shop.call("POST", "/v1/campaigns", campaign)).status_code == 201
    member = await member_with(shop, 100)
    sale = basket(("TEE", 2, "49.90"), ("SKI", 1, "300.00"), member=member, spend=20)

    quoted = await shop.call("POST", "/v1/checkout/quote", sale)
    anonymous = await shop.call("POST", "/v1/checkout/quote", basket(("TEE", 1, "9.90")))
    made = await shop.call("POST", "/v1/receipts", {**sale, "number": "OA-1"})
    again = await shop.call("POST", "/v1/receipts", {**sale, "number": "OA-1"})
    receipt_id = made.json()["id"]
    back = {"number": "B1", "lines": [{"line": 1, "quantity": 1}]}
    returned = await shop.call("POST", f"/v1/receipts/{receipt_id}/returns", back)
    returned_again = await shop.call("POST", f"/v1/receipts/{receipt_id}/returns", back)
    now = await shop.call("GET", f"/v1/receipts/{receipt_id}")
    other = await shop.call("POST", "/v1/receipts", {**sale, "number": "OA-2", "spend_points": 0})
    cancelled = await shop.call("POST", f"/v1/receipts/{other.json()['id']}/cancel")
    found = await shop.call("GET", "/v1/receipts", params={"store": "MSK", "number": "OA-1"})
    answers = [
        (quoted, "post", "/v1/checkout/quote", 200),
        (anonymous, "post", "/v1/checkout/quote", 200),
        (made, "post", "/v1/receipts", 201),
        (again, "post", "/v1/receipts", 200),
        (now, "get", "/v1/receipts/{receipt_id}", 200),
        (found, "get", "/v1/receipts", 200),
        (returned, "post", "/v1/receipts/{receipt_id}/returns", 201),
        (returned_again, "post", "/v1/receipts/{receipt_id}/returns", 200),
        (cancelled, "post", "/v1/receipts/{receipt_id}/cancel", 200),
    ]
    for answer, method, path, status in answers:
        assert answer.status_code == status, answer.text
        assert problems(answer.json(), answer_schema(spec, method, path, status), spec) == [], path
    assert quoted.json()["campaigns"] and now.json()["lines"][0]["returned_quantity"] == 1  # all parts seen

    # the validator refuses what the schema does not describe: a float, a missing total, a null line
    schema = answer_schema(spec, "post", "/v1/receipts", 201)
    broken = made.json()
    assert problems({**broken, "totals": {**broken["totals"], "paid": 79.8}}, schema, spec)
    assert problems(
        {**broken, "totals": {k: v for k, v in broken["totals"].items() if k != "paid"}}, schema, spec
    )
    assert problems({**broken, "lines": [None]}, schema, spec)
    assert problems({**broken, "status": "quoted"}, schema, spec)
    given_back = answer_schema(spec, "post", "/v1/receipts/{receipt_id}/returns", 201)
    assert problems({**returned.json(), "refund": 24.95}, given_back, spec)
    assert problems({k: v for k, v in returned.json().items() if k != "shortfall"}, given_back, spec)


async def test_request_schemas_say_what_the_server_takes(shop: Tenant) -> None:
    spec = (await shop.client.get("/openapi.json")).json()
    # money is text: a JSON number, which the schema offered, is a 422
    line = {"sku": "TEE", "quantity": 1, "price": 49.9}
    assert problems(line, request_schema(spec, "BasketLine"), spec)
    assert (
        await shop.call("POST", "/v1/checkout/quote", {"store": "MSK", "lines": [line]})
    ).status_code == 422
    assert problems({**line, "price": "49.90"}, request_schema(spec, "BasketLine"), spec) == []
    # null is taken where the schema now says so
    nulls = {"weekdays": None, "stores": None, "priority": None, "limits": None, "active": None}
    campaign = {"name": "n", "effect": {"type": "discount_percent", "value": "10"}, **nulls}
    assert problems(campaign, request_schema(spec, "CampaignIn"), spec) == []
    assert (await shop.call("POST", "/v1/campaigns", campaign)).status_code == 201
    member = {"phone": "+79001234000", "cards": None, "consents": None}
    assert problems(member, request_schema(spec, "MemberIn"), spec) == []
    assert (await shop.call("POST", "/v1/members", member)).status_code == 201
    # bounds are JSON Schema's words, with numbers: pydantic's ge/le/gt/max_digits are read by no one
    words = {"ge", "le", "gt", "lt", "max_digits", "decimal_places"}

    def stray(node: Any, properties: bool = False) -> list[str]:
        if isinstance(node, list):
            return [word for item in node for word in stray(item)]
        if not isinstance(node, dict):
            return []
        here = [] if properties else sorted(words & set(node))
        return here + [word for key, item in node.items() for word in stray(item, key == "properties")]

    assert stray(spec["components"]["schemas"]) == []
    schemas = spec["components"]["schemas"]
    earn = schemas["Program"]["properties"]["earn_percent"]
    assert earn["anyOf"] == [
        {"type": "string", "format": "decimal"},
        {"type": "integer", "minimum": 0, "maximum": 1000},
    ]
    assert earn["description"] == "at least 0, at most 1000"
    budget = schemas["Limits"]["properties"]["budget_money"]
    assert budget["anyOf"][1] == {"type": "integer", "exclusiveMinimum": 0, "maximum": 10**11}
    assert budget["description"] == "above 0, at most 100000000000"


def _bounds_on_text(node: Any) -> list[str]:
    """Bounds written on a string's schema, where JSON Schema applies them to nothing."""
    if isinstance(node, list):
        return [found for item in node for found in _bounds_on_text(item)]
    if not isinstance(node, dict):
        return []
    bounds = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    here = sorted(bounds & set(node)) if node.get("type") == "string" else []
    return here + [found for item in node.values() for found in _bounds_on_text(item)]


async def test_decimals_are_published_as_the_server_takes_them(shop: Tenant) -> None:
    """The bounds of decimals sat on "type": "string", which no validator applies them to, and the
    program's and campaigns' decimals were published as text only, though whole JSON numbers are
    taken; the program's PATCH took "any object"."""
    spec = (await shop.client.get("/openapi.json")).json()
    assert _bounds_on_text(spec) == []
    program = request_schema(spec, "Program")
    assert problems({"earn_percent": 5, "point_value": "1.00"}, program, spec) == []
    assert (await shop.call("PATCH", "/v1/program", {"earn_percent": 5})).status_code == 200
    assert problems({"earn_percent": 7.5}, program, spec)  # a float: a 422
    assert_error(await shop.call("PATCH", "/v1/program", {"earn_percent": 7.5}), 422)
    campaign = {"name": "n", "min_amount": 5, "effect": {"type": "discount_percent", "value": 10}}
    assert problems(campaign, request_schema(spec, "CampaignIn"), spec) == []
    assert (await shop.call("POST", "/v1/campaigns", campaign)).status_code == 201
    price = spec["components"]["schemas"]["BasketLine"]["properties"]["price"]  # money: text only
    assert (price["type"], price["format"]) == ("string", "decimal") and "anyOf" not in price
    assert "at most 1000000000" in price["description"]
    patch = spec["paths"]["/v1/program"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch == {"$ref": "#/components/schemas/Program"}
    assert problems({"bogus": 1}, patch, spec)
    assert_error(await shop.call("PATCH", "/v1/program", {"bogus": 1}), 422)


async def test_a_busy_answer_is_published_with_the_error_it_carries(shop: Tenant) -> None:
    """The 503 `busy` of receipts, returns and member changes was listed without any content."""
    spec = (await shop.client.get("/openapi.json")).json()
    busy = spec["paths"]["/v1/receipts"]["post"]["responses"]["503"]
    assert busy["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


async def test_the_lists_next_page_header_is_published(shop: Tenant) -> None:
    """A client generated from the description did not know X-Next-Before (a probe)."""
    spec = (await shop.client.get("/openapi.json")).json()
    for path in ("/v1/messages", "/v1/broadcasts", "/v1/webhooks/{webhook_id}/deliveries"):
        assert "X-Next-Before" in spec["paths"][path]["get"]["responses"]["200"].get("headers", {}), path
