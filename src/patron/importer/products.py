"""Importing products: one row per product; every column besides ``sku`` and ``name`` is an
attribute (an empty cell means the product lacks it). Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import orjson

from patron.fields import attribute_number
from patron.importer import copytext, values
from patron.importer.batch import Context, Header, HeaderError, Prepared, Reject, Unique, parse, taken_where
from patron.importer.reader import Row
from patron.importer.values import Bad

KIND = "products"
COLUMNS = {"sku": True, "name": False}
TABLE = ("tenant_id", "sku", "name", "attributes")
RESERVED = frozenset({"sku", "price", "quantity"})


@dataclass(slots=True)
class Product:
    line: int
    values: Sequence[object]
    sku: str
    name: str
    attributes: str  # JSON text


def product_name(value: object) -> str | None:
    return values.text(value, max_length=500)


def attribute(value: object) -> object:
    """An attribute's JSON value: text stays text; Parquet integers and booleans keep their type;
    decimals and floats are plain decimal text, as the API stores them (``1e-07`` as
    ``0.0000001``: conditions read only that form as a number), within the API's bounds; dates and
    timestamps are RFC 3339 text, and a timestamp without a time zone is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    if isinstance(value, int):  # a uint64 beyond bigint: decimal text, as the API keeps it
        value = Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise values.Bad(f"{values.shown(value)} is not a number")
        value = Decimal(repr(value))  # the decimal it prints as
    if isinstance(value, Decimal):
        try:
            return format(attribute_number(value), "f")
        except ValueError as exc:
            raise values.Bad(f"{value}: {exc}") from exc
    if isinstance(value, datetime):
        return values.zoned(value).isoformat()  # as the timestamp columns of other kinds
    if isinstance(value, date):
        return value.isoformat()
    return values.text(value, max_length=1000)


class Products:
    kind = KIND
    grouped = False

    def __init__(self, header: Header, ctx: Context) -> None:
        self.ctx = ctx
        self._sku = header.cell("sku")
        self._name = header.cell("name")
        self._attributes: list[tuple[str, int]] = []
        for name, position in header.extra:
            if len(name) > 64 or name in RESERVED or any(unicodedata.category(ch) == "Cc" for ch in name):
                reserved = ", ".join(sorted(RESERVED))
                raise HeaderError(
                    f"column {name!r}: an attribute name is 1-64 characters without control"
                    f" characters, and not {reserved}"
                )
            # in one Unicode form, as the API keeps names and conditions name them
            self._attributes.append((unicodedata.normalize("NFC", name), position))
        if len({name for name, _ in self._attributes}) < len(self._attributes):
            raise HeaderError("two columns name one attribute, in two Unicode forms")

    def group_key(self, row: Row) -> object:
        return None

    def prepare(self, rows: list[Row]) -> Prepared[Product]:
        records: list[Product] = []
        rejects: list[Reject] = []
        seen: set[str] = set()
        taken = Unique("product")
        for line, cells, problem in rows:
            try:
                if problem:
                    raise Bad(problem)
                sku = parse("sku", values.sku, self._sku(cells), required=True)
                name = parse("name", product_name, self._name(cells)) or ""
                found = {}
                for column, position in self._attributes:
                    value = parse(column, attribute, cells[position])
                    if value is not None:
                        found[column] = value
                if sku in seen:
                    raise Bad(f"sku: product {sku!r} appears earlier in the file")
            except Bad as exc:
                rejects.append(Reject(line, str(exc), cells))
                continue
            seen.add(sku)
            taken.add(sku, len(records))
            records.append(Product(line, cells, sku, name, orjson.dumps(found).decode()))
        return Prepared(len(rows), records, rejects, [taken])

    def taken_reason(self, what: str, key: object, *, in_file: bool) -> str:
        return f"sku: product {key!r} {taken_where(in_file)}"

    def tables(self, prepared: Prepared[Product]) -> list[copytext.Table]:
        table = copytext.Table("products", TABLE)
        tenant = self.ctx.tenant_id
        for p in prepared.records:
            table.add((tenant, p.sku, p.name, p.attributes))
        return [table]
