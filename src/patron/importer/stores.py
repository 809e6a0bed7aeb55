"""Importing stores: one row per store. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

from patron.importer import copytext, values
from patron.importer.batch import Context, Header, Prepared, Reject, Unique, parse, taken_where
from patron.importer.reader import Row
from patron.importer.values import Bad

KIND = "stores"
COLUMNS = {"code": True, "name": True, "country": False, "city": False, "timezone": False}
TABLE = ("tenant_id", "code", "name", "country", "city", "timezone")


@dataclass(slots=True)
class Store:
    line: int
    values: Sequence[object]
    code: str
    name: str
    country: str | None
    city: str | None
    timezone: str | None


def country(value: object) -> str | None:
    out = values.text(value, max_length=2)
    if out is not None and out.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise Bad(f"{out!r} is not an ISO 3166 country code")
    return out.upper() if out else None


class Stores:
    kind = KIND
    grouped = False

    def __init__(self, header: Header, ctx: Context) -> None:
        self.ctx = ctx
        self._code = header.cell("code")
        self._name = header.cell("name")
        self._country = header.cell("country")
        self._city = header.cell("city")
        self._timezone = header.cell("timezone")

    def group_key(self, row: Row) -> object:
        return None

    def prepare(self, rows: list[Row]) -> Prepared[Store]:
        records: list[Store] = []
        rejects: list[Reject] = []
        seen: set[str] = set()
        taken = Unique("store")
        for line, cells, problem in rows:
            try:
                if problem:
                    raise Bad(problem)
                store = Store(
                    line,
                    cells,
                    parse("code", values.code, self._code(cells), required=True),
                    parse("name", values.text, self._name(cells), required=True),
                    parse("country", country, self._country(cells)),
                    parse("city", values.text, self._city(cells)),
                    parse("timezone", values.timezone, self._timezone(cells)),
                )
                if store.code in seen:
                    raise Bad(f"code: store {store.code!r} appears earlier in the file")
            except Bad as exc:
                rejects.append(Reject(line, str(exc), cells))
                continue
            seen.add(store.code)
            taken.add(store.code, len(records))
            records.append(store)
        return Prepared(len(rows), records, rejects, [taken])

    def taken_reason(self, what: str, key: object, *, in_file: bool) -> str:
        return f"code: store {key!r} {taken_where(in_file)}"

    def tables(self, prepared: Prepared[Store]) -> list[copytext.Table]:
        table = copytext.Table("stores", TABLE)
        tenant = self.ctx.tenant_id
        for s in prepared.records:
            table.add((tenant, s.code, s.name, s.country, s.city, s.timezone))
        return [table]
