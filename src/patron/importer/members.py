"""Importing members: one row per member, cards joined by ``|`` in one column. Pure.

Phones are normalised to E.164 with the program's country, exactly as the API does; a phone,
email (ignoring case, as PostgreSQL lowers it: the lookup answers that), card or id already in
use, in the database or earlier in the file, rejects the row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from patron.importer import copytext, values
from patron.importer.batch import IN_FILE_OR_BEFORE, Context, Header, Prepared, Reject, Unique, parse
from patron.importer.ids import Uuids
from patron.importer.reader import Row
from patron.importer.values import Bad
from patron.members.model import latest_birthday

KIND = "members"
COLUMNS = {
    "id": False,
    "phone": True,
    "email": False,
    "name": False,
    "birthday": False,
    "city": False,
    "cards": False,
    "consent_sms": False,
    "consent_email": False,
    "created_at": False,
}
MEMBERS = (
    "tenant_id",
    "id",
    "phone",
    "email",
    "name",
    "birthday",
    "city",
    "consents",
    "created_at",
    "updated_at",
)
CARDS = ("tenant_id", "card", "member_id", "created_at")
_CONSENTS = {
    (sms, mail): f'{{"sms": {str(sms).lower()}, "email": {str(mail).lower()}}}'
    for sms in (False, True)
    for mail in (False, True)
}


@dataclass(slots=True)
class Member:
    line: int
    values: Sequence[object]
    id: str
    phone: str
    email: str | None
    name: str | None
    birthday: date | None
    city: str | None
    cards: list[str]
    consents: str
    created_at: datetime


class Members:
    kind = KIND
    grouped = False

    def __init__(self, header: Header, ctx: Context) -> None:
        self.ctx = ctx
        self.country = ctx.program.phone_region
        self._id = header.cell("id")
        self._phone = header.cell("phone")
        self._email = header.cell("email")
        self._name = header.cell("name")
        self._birthday = header.cell("birthday")
        self._city = header.cell("city")
        self._cards = header.cell("cards")
        self._sms = header.cell("consent_sms")
        self._mail = header.cell("consent_email")
        self._created = header.cell("created_at")

    def group_key(self, row: Row) -> object:
        return None

    def _phone_of(self, value: object) -> str | None:
        return values.phone(value, self.country)

    def prepare(self, rows: list[Row]) -> Prepared[Member]:
        read = [self._read(line, cells, problem) for line, cells, problem in rows]
        # An email is unique as PostgreSQL lowers it (the index on lower(email)), which is not
        # always as Python lowers it ("İ" is "i" there, "i̇" here; a final "Σ" is "σ" there, "ς"
        # here): keyed by Python's lower(), two such addresses passed the checks and the batch's
        # COPY failed on the index at every run. So the keys are PostgreSQL's, one question a batch.
        email_keys = self.ctx.lookup.lowered(
            {m.email for m in read if isinstance(m, Member) and m.email is not None}
        )
        records: list[Member] = []
        rejects: list[Reject] = []
        ids, phones, emails, cards = set[str](), set[str](), set[str](), set[str]()
        unique = [Unique("member_id"), Unique("phone"), Unique("email"), Unique("card")]
        uuids = Uuids()
        for (line, cells, _), member in zip(rows, read, strict=True):
            email_key = None
            try:
                if isinstance(member, Bad):
                    raise member
                if member.email is not None:
                    email_key = email_keys[member.email]
                if member.id and member.id in ids:
                    raise Bad(f"id: {member.id} appears earlier in the file")
                if member.phone in phones:
                    raise Bad(f"phone: {member.phone} appears earlier in the file")
                if email_key is not None and email_key in emails:
                    raise Bad(f"email: {member.email} appears earlier in the file")
                for card in member.cards:
                    if card in cards:
                        raise Bad(f"cards: card {card} appears earlier in the file")
            except Bad as exc:
                rejects.append(Reject(line, str(exc), cells))
                continue
            owner = len(records)
            if member.id:
                ids.add(member.id)
                unique[0].add(member.id, owner)
            else:
                member.id = uuids.next()
            phones.add(member.phone)
            unique[1].add(member.phone, owner)
            if email_key is not None:
                emails.add(email_key)
                unique[2].add(email_key, owner)
            for card in member.cards:
                cards.add(card)
                unique[3].add(card, owner)
            records.append(member)
        return Prepared(len(rows), records, rejects, unique)

    def _read(self, line: int, cells: Sequence[object], problem: str | None) -> Member | Bad:
        """One row as a member (its id empty when the file gives none), or why it cannot be one;
        whether its keys appeared earlier in the file is ``prepare``'s to check."""
        try:
            if problem:
                raise Bad(problem)
            member = Member(
                line,
                cells,
                parse("id", values.member_uuid, self._id(cells)) or "",
                parse("phone", self._phone_of, self._phone(cells), required=True),
                parse("email", values.email, self._email(cells)),
                parse("name", values.text, self._name(cells)),
                parse(
                    "birthday",
                    partial(values.birthday, today=latest_birthday(self.ctx.now, self.ctx.program.timezone)),
                    self._birthday(cells),
                ),
                parse("city", values.text, self._city(cells)),
                parse("cards", values.cards, self._cards(cells)),
                _CONSENTS[
                    bool(parse("consent_sms", values.boolean, self._sms(cells))),
                    bool(parse("consent_email", values.boolean, self._mail(cells))),
                ],
                parse("created_at", values.timestamp, self._created(cells)) or self.ctx.now,
            )
        except Bad as exc:
            return exc
        if member.created_at > self.ctx.now:
            return Bad(
                f"created_at: {member.created_at.isoformat()} is in the future (an import brings history)"
            )
        return member

    def taken_reason(self, what: str, key: object, *, in_file: bool) -> str:
        if what == "member_id":
            column, named = "id", str(key)
        elif what == "card":
            column, named = "cards", f"card {key}"
        else:
            column, named = what, str(key)  # phone, email
        if in_file:
            return f"{column}: {named} appears earlier in the file"
        if what == "member_id":
            return f"id: member {key} exists already ({IN_FILE_OR_BEFORE})"
        return f"{column}: {named} belongs to another member ({IN_FILE_OR_BEFORE})"

    def tables(self, prepared: Prepared[Member]) -> list[copytext.Table]:
        members = copytext.Table("members", MEMBERS)
        cards = copytext.Table("cards", CARDS)
        tenant = self.ctx.tenant_id
        for m in prepared.records:
            created = m.created_at.isoformat()
            members.add(
                (tenant, m.id, m.phone, m.email, m.name, m.birthday, m.city, m.consents, created, created)
            )
            for card in m.cards:
                cards.add((tenant, card, m.id, created))
        return [members, cards]
