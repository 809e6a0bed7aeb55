"""SQL for members and cards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from patron.db.pool import Connection
from patron.errors import Conflict, NotFound

_COLUMNS = (
    "m.id::text AS id, m.phone, m.email, m.name, m.birthday, m.city, m.consents, m.created_at,"
    " coalesce((SELECT array_agg(c.card ORDER BY c.created_at, c.card) FROM cards c"
    " WHERE c.tenant_id = m.tenant_id AND c.member_id = m.id), '{}') AS cards"
)

_UNIQUE = {
    "members_tenant_id_phone_key": ("phone_taken", "this phone number belongs to another member"),
    "members_email": ("email_taken", "this email belongs to another member"),
    "cards_pkey": ("card_taken", "this card belongs to a member already"),
}


@contextmanager
def _uniqueness() -> Iterator[None]:
    """Turns a unique violation into a 409 that names what is taken."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        constraint = exc.diag.constraint_name or ""
        code, message = _UNIQUE.get(constraint, ("conflict", "already exists"))
        raise Conflict(message, code=code) from exc


async def insert(conn: Connection, tenant_id: int, fields: dict[str, Any], cards: list[str]) -> str:
    with _uniqueness():
        row = await (
            await conn.execute(
                "INSERT INTO members (tenant_id, phone, email, name, birthday, city, consents)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id::text AS id",
                (
                    tenant_id,
                    fields["phone"],
                    fields.get("email"),
                    fields.get("name"),
                    fields.get("birthday"),
                    fields.get("city"),
                    Jsonb(fields.get("consents") or {"sms": False, "email": False}),
                ),
            )
        ).fetchone()
        assert row is not None
        member_id = str(row["id"])
        await add_cards(conn, tenant_id, member_id, cards)
    return member_id


async def add_cards(conn: Connection, tenant_id: int, member_id: str, cards: list[str]) -> None:
    """Attaches the cards; one the member holds already is no change (a till's retry), one that
    another member holds is a 409. The second look runs after the insert, so that it sees a card
    that a concurrent request attached while this one waited for it."""
    if not cards:
        return
    await conn.execute(
        # in one order, so that two members given the same cards in other orders cannot deadlock
        "INSERT INTO cards (tenant_id, card, member_id) SELECT %s, c, %s FROM unnest(%s::text[]) c"
        " ORDER BY c ON CONFLICT DO NOTHING",
        (tenant_id, member_id, cards),
    )
    cur = await conn.execute(
        "SELECT 1 FROM cards WHERE tenant_id = %s AND card = ANY(%s) AND member_id <> %s LIMIT 1",
        (tenant_id, cards, member_id),
    )
    if await cur.fetchone() is not None:
        code, message = _UNIQUE["cards_pkey"]
        raise Conflict(message, code=code)


async def update(conn: Connection, tenant_id: int, member_id: str, fields: dict[str, Any]) -> None:
    if not fields:
        return
    # consents given in part change only the channels named: {"email": false} keeps the SMS consent
    columns = ", ".join(
        f"{name} = members.consents || %({name})s" if name == "consents" else f"{name} = %({name})s"
        for name in fields
    )
    values = {name: Jsonb(v) if name == "consents" else v for name, v in fields.items()}
    with _uniqueness():
        cur = await conn.execute(
            f"UPDATE members SET {columns}, updated_at = now() WHERE tenant_id = %(t)s AND id = %(m)s",
            {**values, "t": tenant_id, "m": member_id},
        )
    if cur.rowcount == 0:
        raise NotFound("no such member", code="member_not_found")


async def get(conn: Connection, tenant_id: int, member_id: str) -> dict[str, Any]:
    row = await (
        await conn.execute(
            f"SELECT {_COLUMNS} FROM members m WHERE m.tenant_id = %s AND m.id = %s", (tenant_id, member_id)
        )
    ).fetchone()
    if row is None:
        raise NotFound("no such member", code="member_not_found")
    return row


async def find_id(
    conn: Connection,
    tenant_id: int,
    *,
    phone: str | None = None,
    card: str | None = None,
    emails: list[str] | None = None,
) -> str | None:
    """The id of the member with that phone (E.164), card or email (in any of ``emails``' forms), if any."""
    arg: object
    if phone is not None:
        sql, arg = "SELECT id::text AS id FROM members WHERE tenant_id = %s AND phone = %s", phone
    elif card is not None:
        sql, arg = "SELECT member_id::text AS id FROM cards WHERE tenant_id = %s AND card = %s", card
    elif emails:
        # Lowered by PostgreSQL on both sides, as the unique index lowers (Python makes "İ" "i̇"
        # and a final "Σ" "ς", PostgreSQL "i" and "σ": an address a create found taken was not
        # found). An address as stored wins over one only equal in lower case, then the forms in
        # their order: "a@İstanbul.com.tr" as written lowers to another member's "a@istanbul...".
        sql = (
            "SELECT m.id::text AS id FROM members m"
            " JOIN unnest(%s::text[]) WITH ORDINALITY AS e(address, n) ON lower(m.email) = lower(e.address)"
            " WHERE m.tenant_id = %s ORDER BY m.email = e.address DESC, e.n LIMIT 1"
        )
        row = await (await conn.execute(sql, (list(emails), tenant_id))).fetchone()
        return None if row is None else str(row["id"])
    else:
        return None
    row = await (await conn.execute(sql, (tenant_id, arg))).fetchone()
    return None if row is None else str(row["id"])


async def exists(conn: Connection, tenant_id: int, member_id: str) -> bool:
    row = await (
        await conn.execute("SELECT 1 FROM members WHERE tenant_id = %s AND id = %s", (tenant_id, member_id))
    ).fetchone()
    return row is not None
