"""The OpenAPI description says what the contract leaves open (contract 1: "document it in the
OpenAPI description"): every operation of /v1 has a description, and a few facts an integrator
relies on are written where they look for them."""

from __future__ import annotations

from typing import Any

import pytest

from patron.api.app import create_app

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # building the schema opens no connection: the pool is opened by the app's lifespan only
    return create_app("postgresql://postgres@127.0.0.1:5432/postgres").openapi()


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec["paths"][path][method]
    return operation


def test_every_v1_operation_has_a_description(spec: dict[str, Any]) -> None:
    operations = [
        (method, path, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(operations) >= 40  # the routers are all there
    missing = [f"{method.upper()} {path}" for method, path, op in operations if not op.get("description")]
    assert missing == []
    for method, path, operation in operations:
        assert operation.get("summary"), f"{method.upper()} {path}"
        assert operation["description"].strip() != operation["summary"].strip(), f"{method.upper()} {path}"


@pytest.mark.parametrize(
    ("method", "path", "facts"),
    [
        ("post", "/v1/receipts", ["409", "receipt_number_conflict", "insufficient_points", '"49.90"', "200"]),
        (
            "post",
            "/v1/checkout/quote",
            ["unknown_store", "at_in_future", "member_not_found", "insufficient_points"],
        ),
        ("get", "/v1/members/{member_id}/history", ["`before`", "`next`", "500"]),
        ("get", "/v1/members/{member_id}/balance", ["`at`", "%2B"]),
        ("get", "/v1/members", ["phone", "member_not_found", "invalid_phone"]),
        ("post", "/v1/members", ["201", "phone_taken", "card_taken"]),
        ("post", "/v1/members/{member_id}/adjustments", ["200", "first result", "insufficient_points"]),
        ("post", "/v1/receipts/{receipt_id}/returns", ["return_number_conflict", "too_many_units"]),
        ("put", "/v1/program", ["currency_in_use"]),
        ("put", "/v1/stores/{code}", ["201", "200"]),
        ("delete", "/v1/api-keys/{key_id}", ["204"]),
        ("get", "/v1/messages", ["X-Next-Before"]),
    ],
)
def test_operations_state_what_the_contract_leaves_open(
    spec: dict[str, Any], method: str, path: str, facts: list[str]
) -> None:
    description = _operation(spec, method, path)["description"]
    absent = [fact for fact in facts if fact not in description]
    assert absent == [], f"{method.upper()} {path} does not mention {absent}"


def test_the_api_description_states_the_conventions(spec: dict[str, Any]) -> None:
    info = spec["info"]["description"]
    for fact in ("8 MB", "413", "415", "HEAD", "JSON integers", "decimal text", "Retries"):
        assert fact in info, fact


def test_errors_are_documented_in_the_shape_they_are_answered(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(spec)  # FastAPI's {"detail": ...}, never answered here
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            assert "401" in responses, f"{method.upper()} {path}"
            for status, response in responses.items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }, f"{method.upper()} {path} {status}"
    assert "403" in _operation(spec, "put", "/v1/program")["responses"]  # admin only
    assert "403" not in _operation(spec, "post", "/v1/checkout/quote")["responses"]  # any key
    assert "400" in _operation(spec, "post", "/v1/receipts")["responses"]  # a body: malformed JSON


def test_every_status_the_contract_answers_is_listed(spec: dict[str, Any]) -> None:
    """A client generated from the document treated a 404 for an unknown id, a 409 for a phone in
    use or a 200 for a repeated adjustment as undocumented."""
    for path, item in spec["paths"].items():
        if path.startswith("/v1/") and "{" in path:
            for method, operation in item.items():
                assert "404" in operation["responses"], f"{method.upper()} {path}"
    listed = {
        ("get", "/v1/members"): "404",
        ("post", "/v1/members"): "409",
        ("patch", "/v1/program"): "409",
        ("post", "/v1/members/{member_id}/adjustments"): "200",
        ("post", "/v1/receipts"): "413",
        ("post", "/v1/checkout/quote"): "415",
    }
    for (method, path), status in listed.items():
        assert status in _operation(spec, method, path)["responses"], f"{method.upper()} {path} {status}"
