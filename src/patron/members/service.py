"""Member use cases: create, change, find. Phones are normalised with the program's
phone region (``Program.phone_region``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from patron.backoffice import outbox
from patron.db.pool import Connection
from patron.errors import InvalidInput, NotFound
from patron.members import phones, store
from patron.members.model import MemberIn, MemberPatch, card_problem, latest_birthday, normalized_email
from patron.program.settings import Program


def member_id(raw: str) -> str:
    """A well-formed member id, or 404: an id that cannot exist is simply not found."""
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError, TypeError) as exc:
        raise NotFound("no such member", code="member_not_found") from exc


def normalize_phone(raw: str, program: Program, field: str = "phone") -> str:
    try:
        return phones.normalize(raw, program.phone_region)
    except ValueError as exc:
        said = str(exc) if isinstance(exc, phones.Explained) else "not a phone number"
        raise InvalidInput(f"{field}: {raw!r} is {said}", code="invalid_phone", field=field) from exc


def clean_card(card: str, field: str = "cards") -> str:
    """A card number as stored: what a scanner or a person typed around it (spaces, CR/LF) goes;
    one with spaces, control or invisible characters inside, or none at all, is refused."""
    cleaned = card.strip()
    problem = card_problem(cleaned)
    if problem is not None:
        raise InvalidInput(f"{field}: {problem}", field=field)
    return cleaned


def card_to_find(card: str, field: str = "card") -> str:
    """A card as a till or a lookup names it: stripped, as stored; not refused for what a new
    card may not hold, so that a card stored before those rules is still found."""
    cleaned = card.strip()
    if not cleaned:
        raise InvalidInput(f"{field}: give a card number", field=field)
    return cleaned


def emails_to_find(email: str) -> list[str]:
    """The forms an email may be stored in: as the API stores it now, and as written (an import's
    or an older row's); one that is not an address is looked up as written."""
    written = email.strip()
    if "@" not in written.strip("@"):
        raise InvalidInput(f"email: {email!r} is not an email address", field="email")
    try:
        return sorted({normalized_email(written), written})
    except ValueError:
        return [written]


def _cards(cards: list[str]) -> list[str]:
    cleaned = [clean_card(card) for card in cards]
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput("cards: the same card is listed twice", field="cards")
    return cleaned


def _check_birthday(birthday: date | None, program: Program, now: datetime) -> None:
    """A birthday is at most today in the program's time zone (the model allows the furthest zone's)."""
    if birthday is not None and birthday > latest_birthday(now, program.timezone):
        raise InvalidInput("birthday: a date from 1900 to today", field="birthday")


async def create(
    conn: Connection, tenant_id: int, program: Program, data: MemberIn, now: datetime
) -> dict[str, Any]:
    _check_birthday(data.birthday, program, now)
    fields = data.model_dump(exclude={"cards"})
    fields["phone"] = normalize_phone(data.phone, program)
    fields["email"] = str(data.email) if data.email else None
    new_id = await store.insert(conn, tenant_id, fields, _cards(data.cards))
    await outbox.member_created(conn, tenant_id, new_id)
    return await store.get(conn, tenant_id, new_id)


async def patch(
    conn: Connection, tenant_id: int, program: Program, raw_id: str, data: MemberPatch, now: datetime
) -> dict[str, Any]:
    mid = member_id(raw_id)
    _check_birthday(data.birthday, program, now)
    fields = data.model_dump(exclude_unset=True, exclude={"cards"})
    if "phone" in fields:
        if fields["phone"] is None:
            raise InvalidInput("phone: a member always has a phone", field="phone")
        fields["phone"] = normalize_phone(fields["phone"], program)
    if fields.get("email") is not None:
        fields["email"] = str(fields["email"])
    if "consents" in fields and fields["consents"] is None:
        raise InvalidInput(
            'consents: not null; give the channels to change, such as {"sms": true}', field="consents"
        )
    if fields:
        await store.update(conn, tenant_id, mid, fields)
    elif not await store.exists(conn, tenant_id, mid):
        raise NotFound("no such member", code="member_not_found")
    if data.cards is not None:
        await store.add_cards(conn, tenant_id, mid, _cards(data.cards))
    return await store.get(conn, tenant_id, mid)


async def get(conn: Connection, tenant_id: int, raw_id: str) -> dict[str, Any]:
    return await store.get(conn, tenant_id, member_id(raw_id))


async def find(
    conn: Connection,
    tenant_id: int,
    program: Program,
    *,
    phone: str | None = None,
    card: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    keys = {"phone": phone, "card": card, "email": email}
    given = [name for name, value in keys.items() if value]  # a blank one beside a key is not given
    if not given:
        # one key given blank (a scanner that read nothing) is refused in its own words and field
        given = [name for name, value in keys.items() if value is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of phone, card or email", field="phone")
    kind, value = given[0], keys[given[0]] or ""
    found = await store.find_id(
        conn,
        tenant_id,
        phone=normalize_phone(value, program) if kind == "phone" else None,
        card=card_to_find(value) if kind == "card" else None,
        emails=emails_to_find(value) if kind == "email" else None,
    )
    if found is None:
        raise NotFound("no member matches", code="member_not_found")
    return await store.get(conn, tenant_id, found)


async def add_card(conn: Connection, tenant_id: int, raw_id: str, card: str) -> dict[str, Any]:
    mid = member_id(raw_id)
    if not await store.exists(conn, tenant_id, mid):
        raise NotFound("no such member", code="member_not_found")
    await store.add_cards(conn, tenant_id, mid, [clean_card(card, "card")])
    return await store.get(conn, tenant_id, mid)
