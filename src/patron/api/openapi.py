"""The OpenAPI description as an integrator reads it: every error in contract 2's shape, the
roles' 401 and 403 on the routes they guard, and request schemas in JSON Schema's own words
(pydantic's decimals and bounds rewritten)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter

from patron.api import deps
from patron.api.errors import depends_on
from patron.fields import WHOLE_NUMBER_TOO

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case, stable: tills may branch on it"},
                "message": {"type": "string", "description": "for people; may change"},
                "field": {"type": "string", "description": "the field at fault, when one is"},
                "details": {
                    "type": "array",
                    "description": "a 422 naming a field: every field at fault (the one field of a check made"
                    " beyond the request's shape, such as a birthday after today in the program's zone)",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}
_AS_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


# Pydantic writes the bounds it cannot fold into a decimal's schema in its own words, which JSON
# Schema validators and client generators ignore; these are JSON Schema's.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
_PYDANTIC_ONLY = ("max_digits", "decimal_places")  # said by the field's text rule, not by JSON Schema
# A decimal's bounds in words: JSON Schema's bounds bind numbers only, never text (2020-12 §6.2).
_SAID = {
    "exclusiveMinimum": "above",
    "minimum": "at least",
    "exclusiveMaximum": "below",
    "maximum": "at most",
}
_BOUNDS_SAID = "x-bounds"  # carried up to the property's description, then dropped


def _number(value: Any) -> int | float:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _said(bounds: dict[str, Any]) -> str:
    return ", ".join(f"{_SAID[word]} {Decimal(str(value)).normalize():f}" for word, value in bounds.items())


def _decimal(node: dict[str, Any], either: list[dict[str, Any]]) -> dict[str, Any]:
    """A decimal published as text (``format: decimal``), or as text or a whole JSON number where
    the server takes one (a setting's, a campaign's: ``fields.PlainDecimal``). Its bounds bind the
    integer, and are said in words for the text."""
    number = next(option for option in either if option.get("type") == "number")
    bounds = {
        word: _number(value) for word in _SAID if (value := node.pop(word, number.get(word))) is not None
    }
    text = {"type": "string", "format": "decimal"}
    shapes = [text, {"type": "integer", **bounds}] if node.pop(WHOLE_NUMBER_TOO, False) else [text]
    options = [*shapes, *(option for option in either if option.get("type") == "null")]
    node = {key: value for key, value in node.items() if key != "anyOf"}
    node = {**node, **text} if len(options) == 1 else {**node, "anyOf": options}
    return {**node, _BOUNDS_SAID: _said(bounds)} if bounds else node


def _described(node: Any) -> Any:
    """A property whose decimal's bounds were carried up, with them said in its description."""
    if not isinstance(node, dict) or _BOUNDS_SAID not in node:
        return node
    node = dict(node)
    said = node.pop(_BOUNDS_SAID)
    description = node.get("description")
    return {**node, "description": f"{description} ({said})" if description else said}


def _standard(node: Any, names: bool = False) -> Any:
    """A request schema as JSON Schema says it. A decimal (money, percents) is published as text:
    pydantic writes ``number`` or ``string``, and a client that sent the number got a 422 (money
    is a decimal string, contract 2); its bounds go into the description."""
    if isinstance(node, list):
        return [_standard(item) for item in node]
    if not isinstance(node, dict):
        return node
    if names:  # a map of names (properties, the components' schemas), not a schema
        return {key: _described(_standard(value)) for key, value in node.items()}
    node = {
        key: _standard(value, names=key in ("properties", "$defs"))
        for key, value in node.items()
        if key not in _PYDANTIC_ONLY
    }
    for pydantic_word, word in _BOUNDS.items():
        if pydantic_word in node:
            node[word] = _number(node.pop(pydantic_word))
    either = node.get("anyOf")
    if not isinstance(either, list):
        node.pop(WHOLE_NUMBER_TOO, None)  # a decimal as an answer writes it: text
        return node
    types = [option.get("type") for option in either]
    if "number" in types and "string" in types and set(types) <= {"number", "string", "null"}:
        return _decimal(node, either)
    inner = next((option for option in either if _BOUNDS_SAID in option), None)
    if inner is not None:  # a decimal or null: one anyOf, its bounds said on the property
        said = inner[_BOUNDS_SAID]
        shapes = inner.get("anyOf", [{k: v for k, v in inner.items() if k != _BOUNDS_SAID}])
        options = [shape for option in either for shape in (shapes if option is inner else [option])]
        node = {**node, "anyOf": options, _BOUNDS_SAID: said}
    elif any(set(option) == {"anyOf"} for option in either):  # a decimal without bounds, or null
        node = {**node, "anyOf": [s for option in either for s in option.get("anyOf", [option])]}
    return node


def document(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """The OpenAPI document shows errors as this module answers them: contract 2's shape (not
    FastAPI's ``{"detail": ...}``) on every 4xx, and each operation's 401 and, for admin ones, 403."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_standard(schemas, names=True))
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR_SCHEMA
        schema["components"]["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key (contract 2)"}
        }
        for route in (route for router in routers for route in router.routes):
            if not isinstance(route, APIRoute) or not route.path_format.startswith("/v1/"):
                continue
            for method in route.methods or ():
                operation = schema["paths"][route.path_format][method.lower()]
                operation["security"] = [{"apiKey": []}]
                responses = operation.setdefault("responses", {})
                responses.setdefault(
                    "401",
                    {
                        "description": "no key (`unauthorized`), or an unknown or revoked one "
                        "(`invalid_api_key`)"
                    },
                )
                if depends_on(route.dependant, deps.admin):
                    responses.setdefault(
                        "403", {"description": "a `pos` key (`forbidden`): this needs an admin key"}
                    )
                if route.body_field is not None:
                    responses.setdefault("400", {"description": "a body that is not JSON (`malformed_json`)"})
                    responses.setdefault("413", {"description": "a body over 8 MB (`payload_too_large`)"})
                    responses.setdefault(
                        "415",
                        {"description": "a body not sent as `application/json` (`unsupported_media_type`)"},
                    )
                if route.param_convertors:
                    responses.setdefault(
                        "404", {"description": "no such object in this program (another program's ids too)"}
                    )
                responses.setdefault("422", {"description": "bad input (`invalid_input`, naming the field)"})
                for status, response in responses.items():
                    if status == "503":  # busy: contract 2's error, as every 4xx
                        response["content"] = _AS_ERROR
                    if status.startswith("4"):
                        if response.get("description") in (None, "", "Validation Error"):
                            response["description"] = "bad input (`invalid_input`, naming the field)"
                        response["content"] = _AS_ERROR
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
