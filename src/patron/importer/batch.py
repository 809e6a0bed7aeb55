"""What every kind of import shares: the header, rejected rows, uniqueness to check, the context.

Pure: the database is reached only through the ``Lookup`` the runner passes in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from patron.importer import copytext
from patron.importer.reader import Row
from patron.importer.values import Bad, card_key, member_uuid, phone, phone_key
from patron.importer.values import blank as values_blank
from patron.program.settings import Program

IGNORED = frozenset({"_line", "_reason"})  # the first columns of a rejects file: import it back as is
# Why a key found in the database is taken: the database does not say whether an earlier batch of
# this same file loaded it or something before the import did.
IN_FILE_OR_BEFORE = "earlier in this file or already in the program"


def taken_where(in_file: bool) -> str:
    """Where a key is taken, for ``Kind.taken_reason``: in this file (a batch still loading), or
    in the database (by an earlier batch of this file, or before it)."""
    return "appears earlier in the file" if in_file else f"exists already ({IN_FILE_OR_BEFORE})"


class HeaderError(ValueError):
    """The file's columns do not fit the kind: nothing is imported."""


@dataclass(frozen=True, slots=True)
class Header:
    """The file's columns by name (known ones lowercased); extra columns keep their spelling."""

    names: list[str]
    index: dict[str, int]
    extra: list[tuple[str, int]]

    @classmethod
    def check(cls, raw: Sequence[str], known: dict[str, bool], *, extra_allowed: bool = False) -> Header:
        """``known`` maps each column to whether it is required."""
        names = [name.strip() for name in raw]
        index: dict[str, int] = {}
        extra: list[tuple[str, int]] = []
        seen: set[str] = set()
        for position, name in enumerate(names):
            lowered = name.lower()
            if not name:
                raise HeaderError(f"column {position + 1} has no name")
            if lowered in IGNORED:
                continue  # a rejects file's own, perhaps twice (one written from a rejects file before)
            if lowered in seen:
                raise HeaderError(f"column {name!r} appears twice")
            seen.add(lowered)
            if lowered in known:
                index[lowered] = position
            elif extra_allowed:
                extra.append((name, position))
            else:
                raise HeaderError(f"unknown column {name!r}; the columns are {', '.join(known)}")
        missing = [name for name, needed in known.items() if needed and name not in index]
        if missing:
            raise HeaderError(f"missing column(s): {', '.join(missing)}")
        return cls(names, index, extra)

    def cell(self, name: str) -> Callable[[Sequence[object]], object]:
        """A getter for column ``name`` (always None when the file lacks it)."""
        position = self.index.get(name)
        if position is None:
            return lambda values: None
        return lambda values: values[position]


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    reason: str
    values: Sequence[object]


@dataclass(slots=True)
class Unique:
    """Keys that must not exist in the database yet; ``owners[i]`` is the record of ``keys[i]``."""

    what: str
    keys: list[Any] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)

    def add(self, key: Any, owner: int) -> None:
        self.keys.append(key)
        self.owners.append(owner)


class Lookup(Protocol):
    """The database questions a kind may ask while it prepares a batch (answered by ``store``)."""

    def members(self, ids: set[str], phones: set[str], cards: set[str]) -> Members: ...

    def stores(self) -> dict[str, str | None]: ...

    def reserve(self, table: str, count: int) -> list[int]: ...

    def lowered(self, texts: set[str]) -> dict[str, str]:
        """Each text as PostgreSQL's lower() makes it, which unique indexes on lower(...) compare."""
        ...


@dataclass(frozen=True, slots=True)
class Members:
    """Which referenced members exist: their ids, and the member of each phone and card."""

    ids: set[str]
    by_phone: dict[str, str]
    by_card: dict[str, str]

    def find(self, how: str, key: str) -> str | None:
        if how == "id":
            return key if key in self.ids else None
        return (self.by_phone if how == "phone" else self.by_card).get(key)


@dataclass(frozen=True, slots=True)
class Context:
    tenant_id: int
    program: Program
    now: datetime
    lookup: Lookup
    tag: str  # names this import in the sources of the lots it writes: "lots:<fingerprint>"


R = TypeVar("R")


@dataclass(slots=True)
class Prepared(Generic[R]):
    """A batch after validation: records to load, rows rejected, and keys to check in the load's
    own transaction (a key may have been loaded by an earlier batch or by someone else)."""

    rows: int
    records: list[R]
    rejects: list[Reject]
    unique: list[Unique] = field(default_factory=list)
    tables: list[copytext.Table] = field(default_factory=list)
    days: set[date] = field(default_factory=set)  # what the tables change on the dashboard (DashboardDays)

    @property
    def loaded_rows(self) -> int:
        return self.rows - len(self.rejects)


LAST_INSTANT = timedelta(microseconds=1)


class DashboardDays:
    """The UTC days a batch's rows change on the dashboard: the days the per-row triggers of
    migration 0008 would mark, which the loader marks in one statement instead (migration 0015).
    A superset is harmless (a day marked but not closed is skipped), a day missed is not: so an
    expiry up to a day ahead counts, whenever in the next day the batch commits."""

    def __init__(self, now: datetime) -> None:
        self.days: set[date] = set()
        self._expired_before = now + timedelta(days=1)

    def at(self, moment: datetime) -> None:
        """A receipt's or an entry's moment."""
        self.days.add(moment.astimezone(UTC).date())

    def expiry(self, expires_at: datetime) -> None:
        """A lot's end: its last instant's day, once it has passed."""
        if expires_at < self._expired_before:
            self.days.add((expires_at - LAST_INSTANT).astimezone(UTC).date())


def parse(name: str, reader: Callable[[object], Any], value: object, *, required: bool = False) -> Any:
    """``reader(value)`` with the column's name in front of any reason; absent is None, or "missing"."""
    try:
        out = reader(value)
    except Bad as exc:
        raise Bad(f"{name}: {exc}") from None
    if out is None and required:
        raise Bad(f"{name}: missing")
    return out


def drop(prepared: Prepared[Any], owners: dict[int, str]) -> None:
    """Moves the records ``owners`` names (by index) to the rejects, each with its reason."""
    for index, reason in owners.items():
        record = prepared.records[index]
        sources = getattr(record, "sources", None) or [(record.line, record.values)]
        for line, cells in sources:
            prepared.rejects.append(Reject(line, reason, cells))
    moved: dict[int, int] = {}
    kept: list[Any] = []
    for index, record in enumerate(prepared.records):
        if index not in owners:
            moved[index] = len(kept)
            kept.append(record)
    prepared.records = kept
    for unique in prepared.unique:
        pairs = [(k, moved[o]) for k, o in zip(unique.keys, unique.owners, strict=True) if o in moved]
        unique.keys = [k for k, _ in pairs]
        unique.owners = [o for _, o in pairs]


class Kind(Protocol[R]):
    """One kind of import (stores, products, members, lots, receipts)."""

    kind: str
    grouped: bool  # whether consecutive rows with one ``group_key`` form one record (receipts)

    def group_key(self, row: Row) -> object: ...

    def prepare(self, rows: list[Row]) -> Prepared[R]: ...

    def taken_reason(self, what: str, key: object, *, in_file: bool) -> str:
        """Why a record is rejected whose ``what`` key is taken: by a batch of this file still
        loading (``in_file``), or in the database (earlier in this file, or before it)."""
        ...

    def tables(self, prepared: Prepared[R]) -> list[copytext.Table]: ...


MEMBER_COLUMNS = {"member_id": False, "member_phone": False, "member_card": False}


class MemberRef:
    """Reads which member a row names: exactly one of member_id, member_phone, member_card."""

    def __init__(self, header: Header, country: str | None) -> None:
        self._id = header.cell("member_id")
        self._phone = header.cell("member_phone")
        self._card = header.cell("member_card")
        self._country = country
        self.columns = [name for name in MEMBER_COLUMNS if name in header.index]

    def read(self, values: Sequence[object]) -> tuple[str, str] | None:
        """("id" | "phone" | "card", key), or None when the row names no member."""
        given = []
        raw = self._id(values)
        if not values_blank(raw):
            given.append(("id", parse("member_id", member_uuid, raw)))
        raw = self._phone(values)
        if not values_blank(raw):
            given.append(("phone", parse("member_phone", lambda v: phone_key(v, self._country), raw)))
        raw = self._card(values)
        if not values_blank(raw):
            given.append(("card", parse("member_card", card_key, raw)))
        if len(given) > 1:
            raise Bad("member: give only one of member_id, member_phone, member_card")
        return given[0] if given else None

    def resolve(self, lookup: Lookup, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The member id of each reference that names a member. A phone already written in
        E.164 is looked up as it is; one that is not found is normalised in full and looked up
        again, so the answer is exactly the API's."""
        wanted = set(refs)
        found = lookup.members(*member_keys(list(wanted)))
        out = {ref: member for ref in wanted if (member := found.find(*ref)) is not None}
        retry: dict[tuple[str, str], str] = {}
        for how, key in wanted:
            if how == "phone" and (how, key) not in out:
                try:
                    normal = phone(key, self._country)
                except Bad:
                    continue
                if normal is not None and normal != key:
                    retry[(how, key)] = normal
        if retry:
            again = lookup.members(set(), set(retry.values()), set())
            for ref, number in retry.items():
                if number in again.by_phone:
                    out[ref] = again.by_phone[number]
        return out


def member_keys(refs: Sequence[tuple[str, str] | None]) -> tuple[set[str], set[str], set[str]]:
    """The ids, phones and cards a batch refers to, for one ``Lookup.members`` question."""
    found: dict[str, set[str]] = {"id": set(), "phone": set(), "card": set()}
    for ref in refs:
        if ref is not None:
            found[ref[0]].add(ref[1])
    return found["id"], found["phone"], found["card"]


def unknown_member(ref: tuple[str, str]) -> str:
    how, key = ref
    return f"member_{how}: no member with {how} {key!r}"
