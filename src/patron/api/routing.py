"""How the API's routes read a JSON body: once, strictly, before FastAPI does.

Python's ``json`` takes a lone UTF-16 surrogate (``"\\ud800"``) as a character, which no database,
JSON encoder or fingerprint can then hold (it was a 500 on a receipt, a product, a campaign), and
it answers a body nested too deeply, or not UTF-8, with a bare 400. It also reads ``NaN`` and
``Infinity``, which JSON has not: a rate of NaN was refused as "less than or equal to 100000". Here such a body is malformed
JSON like any other: the API's handler (``api.errors``) answers 400 ``malformed_json`` saying why,
after judging the key, as for any malformed body.

A NUL character (``"\\u0000"``) is JSON, but no text column or JSON value in PostgreSQL holds it:
it came back in the database's words, without the field, or was taken where nothing stored it (a
basket line's attributes). Any text of a body holding one, a name or a value at any depth, is a 422
naming its path, before any model reads the body; so is a query or path parameter holding one,
named (``?number=R%00`` was answered in the database's words, without the field)."""

from __future__ import annotations

import email.message
import json
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from patron.db.pool import NUL_MESSAGE

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a hint, checked on the parsed text
_SURROGATES = re.compile("[\ud800-\udfff]")
_NUL_ESCAPE = b"\\u0000"  # the only way a NUL reaches a string: raw control characters are malformed


def is_json(content_type: str | None) -> bool:
    """The content types FastAPI reads as JSON: ``application/json`` and ``application/*+json``."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _holds_a_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATES.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_a_surrogate(k) or _holds_a_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_a_surrogate(item) for item in value)
    return False


def _nul_path(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The path of the first text holding a NUL (a name's path ends with the name), else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return (*path, key)
            if (found := _nul_path(item, (*path, key))) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_path(item, (*path, index))) is not None:
                return found
    return None


def _malformed(reason: str) -> RequestValidationError:
    error = {"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error", "input": {}}
    return RequestValidationError([{**error, "ctx": {"error": reason}}])


class _NotJsonNumber(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's ``json`` reads them, JSON has no such number."""


def _no_constant(name: str) -> Any:
    raise _NotJsonNumber(name)


def parse_body(body: bytes) -> Any:
    """The body as JSON, or a ``json_invalid`` error that says why not."""
    try:
        text = body.decode("utf-8-sig")  # a byte order mark before it is taken (some .NET writers add one)
    except UnicodeDecodeError as exc:
        raise _malformed(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        parsed = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _malformed(f"{exc.msg} (character {exc.pos})") from exc
    except _NotJsonNumber as exc:  # a rate of NaN was a 422 "less than or equal to 100000"
        raise _malformed(f"{exc} is not a JSON number") from exc
    except RecursionError as exc:
        raise _malformed("nested too deeply") from exc
    except ValueError as exc:  # Python's bound on an integer's digits
        raise _malformed(f"a number of more than {sys.get_int_max_str_digits()} digits") from exc
    if _SURROGATE_ESCAPE.search(body):
        try:
            lone = _holds_a_surrogate(parsed)
        except RecursionError as exc:  # as deep as the parser could go: deeper than we walk
            raise _malformed("nested too deeply") from exc
        if lone:
            raise _malformed(r"a lone UTF-16 surrogate (\ud800 to \udfff), which is no character")
    if _NUL_ESCAPE in body:
        try:
            path = _nul_path(parsed)
        except RecursionError as exc:  # as deep as the parser could go: deeper than we walk
            raise _malformed("nested too deeply") from exc
        if path is not None:
            error = {"type": "value_error", "loc": ("body", *path), "msg": NUL_MESSAGE, "input": None}
            raise RequestValidationError([error])
    return parsed


def _nul_parameter(request: Request) -> tuple[str, str] | None:
    """Where a NUL is in the URL's parameters: ``("query", name)`` or ``("path", name)``."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            return ("query", name)
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            return ("path", name)
    return None


class JsonBodyRoute(APIRoute):
    """An API route whose JSON body is parsed by ``parse_body`` (and kept on the request, which
    FastAPI then reads instead of parsing the body again)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None  # a body sent where none is taken stays unread

        async def strict(request: Request) -> Response:
            if (where := _nul_parameter(request)) is not None:
                error = {"type": "value_error", "loc": where, "msg": NUL_MESSAGE, "input": None}
                raise RequestValidationError([error])
            if takes_body and is_json(request.headers.get("content-type")):
                try:
                    body = await request.body()
                except ClientDisconnect:  # cut off (BodyLimit): FastAPI's own reading answers it
                    return await handler(request)
                if body:
                    request._json = parse_body(body)  # Starlette's Request.json() returns it
            return await handler(request)

        return strict
