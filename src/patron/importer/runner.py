"""Running an import: batches read and validated by one thread, loaded by others.

The file is read in batches (``batch_rows`` rows, never splitting a receipt). A worker thread
validates each batch and turns it into COPY text while loader threads (``workers`` of them, each
with its own connection; one by default) load the batches before it: in one transaction, a
loader checks the batch's keys against what is in the database now, streams each table with COPY,
marks the days it changed for the dashboard in one statement (not a trigger a row), writes the
batch's rejected rows, and moves the run's position past the batch. Loaders commit in
file order, so the position always means "everything before it is in": a kill loses at most the
batches in flight, and a rerun starts right after the last committed one. Memory holds at most
2 x workers + 1 batches, whatever the size of the file."""

from __future__ import annotations

import csv
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from patron.importer import lots, members, products, reader, receipts, store, stores
from patron.importer.batch import IGNORED, Context, Header, Kind, Members, Prepared, drop
from patron.importer.store import RunKey
from patron.program.settings import Program

KINDS: dict[str, tuple[dict[str, bool], Callable[[Header, Context], Kind[Any]], bool]] = {
    "stores": (stores.COLUMNS, stores.Stores, False),
    "products": (products.COLUMNS, products.Products, True),
    "members": (members.COLUMNS, members.Members, False),
    "lots": (lots.COLUMNS, lots.Lots, False),
    "receipts": (receipts.COLUMNS, receipts.Receipts, False),
}
# What each kind writes: analyzed after the load, so that the planner (for ``patron verify`` and
# for the API) knows their new size at once instead of after autovacuum's next round.
TABLES = {
    "stores": ["stores"],
    "products": ["products"],
    "members": ["members", "cards"],
    "lots": ["entries", "lots", "allocations"],
    "receipts": ["receipts", "receipt_lines", "entries", "lots", "allocations"],
}
BATCH_ROWS = 20_000
RETRIES = 3
# Batches after which the written tables are analyzed during the import too. A new tenant's
# statistics say it has nothing: with autovacuum off (or not yet round), the planner then probes
# a batch's receipt numbers through any index that starts with the tenant, reading all of the
# tenant's receipts for each key, and every batch took 20 s longer than the one before.
ANALYZE_AFTER_BATCHES = (1, 4, 16, 64, 256)


class ImportFailed(Exception):
    """The import cannot start or go on (no such tenant, unusable header, another run active)."""


@dataclass(slots=True)
class Report:
    kind: str
    file: Path
    fingerprint: str
    already_done: bool = False
    rows: int = 0  # read in this run
    loaded: int = 0
    records: int = 0
    rejected: int = 0
    batches: int = 0
    total_loaded: int = 0  # over every run of this file
    total_records: int = 0
    total_rejected: int = 0
    resumed_at_line: int | None = None
    seconds: float = 0.0
    prepare_seconds: float = 0.0  # validating and building COPY text (worker thread)
    load_seconds: float = 0.0  # in the database (summed over the loader threads)
    # of load_seconds, by step: "keys" (BEGIN and the uniqueness checks), each table's COPY,
    # "finish" (marks, rejects, the wait for earlier batches' loaders, the run's position, the
    # commit); a batch tried again counts once per try
    load_steps: dict[str, float] = field(default_factory=dict)
    rejects_file: Path | None = None
    tenant_id: int = 0


Progress = Callable[[int, int, Report], None]  # (position, total, report so far)


@dataclass(frozen=True, slots=True)
class _Lookup:
    conn: store.Conn
    tenant_id: int

    def members(self, ids: set[str], phones: set[str], cards: set[str]) -> Members:
        return store.members(self.conn, self.tenant_id, ids, phones, cards)

    def stores(self) -> dict[str, str | None]:
        return store.stores(self.conn, self.tenant_id)

    def reserve(self, table: str, count: int) -> list[int]:
        return store.reserve(self.conn, table, count)

    def lowered(self, texts: set[str]) -> dict[str, str]:
        return store.lowered(self.conn, texts)


def run(
    url: str,
    tenant: str,
    kind: str,
    path: Path,
    *,
    fmt: str | None = None,
    rejects: Path | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    staging: bool = False,
    workers: int = 1,
) -> Report:
    """Imports ``path`` as ``kind`` for ``tenant``, or continues an interrupted import of it."""
    if kind not in KINDS:
        raise ImportFailed(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    columns, make, extra_allowed = KINDS[kind]
    started = time.perf_counter()
    fmt = reader.detect_format(path, fmt)
    fingerprint = reader.fingerprint(path)
    report = Report(kind, path, fingerprint, rejects_file=rejects or default_rejects(path))
    with store.connect(url) as conn, store.connect(url) as lookup_conn:
        found = store.tenant(conn, tenant)
        if found is None:
            raise ImportFailed(f"no tenant {tenant!r}")
        tenant_id, settings = found
        report.tenant_id = tenant_id
        key = RunKey(tenant_id, kind, fingerprint)
        if not store.lock_run(conn, key):
            raise ImportFailed("another process is importing this file for this tenant right now")
        try:
            source = reader.open_source(path, fmt, None)
        except ValueError as exc:  # the file cannot even be opened as one of its format
            raise ImportFailed(f"{path.name}: {exc}") from exc
        try:
            try:
                header = Header.check(source.header, columns, extra_allowed=extra_allowed)
            except ValueError as exc:
                raise ImportFailed(f"{path.name}: {exc}") from exc
            state = store.start_run(
                conn,
                key,
                file_name=str(path),
                file_size=path.stat().st_size,
                fmt=fmt,
                columns=source.header,
                start=source.position,
            )
            report.total_loaded, report.total_records = state.loaded, state.records
            report.total_rejected = state.rejected
            if state.finished_at is not None:
                report.already_done = True
            else:
                if state.batches:
                    report.resumed_at_line = state.position.line
                    source.close()
                    source = reader.open_source(path, fmt, state.position)
                ctx = Context(
                    tenant_id,
                    Program.model_validate(settings),
                    datetime.now(UTC),
                    _Lookup(lookup_conn, tenant_id),
                    f"{kind}:{fingerprint[:12]}",
                )
                try:
                    importer = make(header, ctx)
                except ValueError as exc:
                    raise ImportFailed(f"{path.name}: {exc}") from exc
                _pipeline(
                    url, key, importer, source, batch_rows, report, progress, staging, workers, TABLES[kind]
                )
                store.finish(conn, key)
                store.analyze(conn, TABLES[kind])
        finally:
            source.close()
        if report.total_rejected:
            assert report.rejects_file is not None
            write_rejects(conn, key, state.columns, report.rejects_file)
        else:
            report.rejects_file = None
    report.seconds = time.perf_counter() - started
    return report


def default_rejects(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def write_rejects(conn: store.Conn, key: RunKey, columns: list[str], target: Path) -> None:
    """The run's rejected rows as CSV: ``_line`` and ``_reason``, then the file's own columns
    (so the file, once fixed, can be imported as it is: the importer skips those two columns)."""
    # a rejects file imported back has these two already: its rows' new ones replace them
    dropped = {i for i, name in enumerate(columns) if name.strip().lower() in IGNORED}
    partial = target.with_name(target.name + ".part")
    with partial.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["_line", "_reason", *(name for i, name in enumerate(columns) if i not in dropped)])
        for line, reason, cells in store.rejects(conn, key):
            # by position, also in a row of more or fewer values than the header (its reason says so)
            shown = ("" if cell is None else cell for i, cell in enumerate(cells) if i not in dropped)
            out.writerow([line, reason, *shown])
    partial.replace(target)


_DONE = object()


class _Aborted(Exception):
    """A loader stops because another one failed (whose error is the one reported)."""


@dataclass(slots=True)
class _Batch:
    seq: int
    prepared: Prepared[Any]
    after: reader.Position


class _Order:
    """Loaders commit their batches in file order, so the run's position only moves forward and
    always means "every row before it is in". They may COPY at the same time; batches in flight
    never share a unique key (the preparing thread sees to it), so they never wait for each other."""

    def __init__(self) -> None:
        self.committed = -1
        self.failed: BaseException | None = None
        self.turn = threading.Condition()
        self.in_flight: dict[int, set[tuple[str, Any]]] = {}

    def wait_turn(self, seq: int) -> None:
        with self.turn:
            self.turn.wait_for(lambda: self.committed == seq - 1 or self.failed is not None)
            if self.failed is not None:
                raise _Aborted("another loader failed")

    def done(self, seq: int) -> None:
        with self.turn:
            self.committed = seq
            self.in_flight.pop(seq, None)
            self.turn.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.turn:
            if self.failed is None:
                self.failed = exc
            self.turn.notify_all()

    def claim(self, seq: int, prepared: Prepared[Any], importer: Kind[Any]) -> None:
        """Rejects records whose unique key is in a batch still loading, then records this one's."""
        with self.turn:
            earlier = set().union(*self.in_flight.values()) if self.in_flight else set()
        owners: dict[int, str] = {}
        for unique in prepared.unique:
            for item, owner in zip(unique.keys, unique.owners, strict=True):
                if (unique.what, item) in earlier and owner not in owners:
                    owners[owner] = importer.taken_reason(unique.what, item, in_file=True)
        if owners:
            drop(prepared, owners)
        mine = {(u.what, k) for u in prepared.unique for k in u.keys}
        with self.turn:
            self.in_flight[seq] = mine


def _pipeline(
    url: str,
    key: RunKey,
    importer: Kind[Any],
    source: reader.Source,
    batch_rows: int,
    report: Report,
    progress: Progress | None,
    staging: bool,
    workers: int,
    tables: list[str],
) -> None:
    handoff: queue.Queue[Any] = queue.Queue(maxsize=workers)
    stop = threading.Event()
    order = _Order()
    counting = threading.Lock()

    def produce() -> None:
        try:
            group = importer.group_key if importer.grouped else None
            for seq, (rows, after) in enumerate(reader.batches(source, batch_rows, group)):
                began = time.perf_counter()
                prepared = importer.prepare(rows)
                if workers > 1:
                    order.claim(seq, prepared, importer)
                prepared.tables = importer.tables(prepared)
                report.prepare_seconds += time.perf_counter() - began
                if not _put(handoff, _Batch(seq, prepared, after), stop):
                    return
            for _ in range(workers):
                _put(handoff, _DONE, stop)
        except BaseException as exc:  # handed to a loader, which raises it
            for _ in range(workers):
                _put(handoff, exc, stop)

    def load(conn: store.Conn) -> None:
        try:
            for batch in _received(handoff, stop):
                began = time.perf_counter()
                steps = _load(conn, key, importer, batch, order, staging)
                prepared = batch.prepared
                with counting:
                    report.load_seconds += time.perf_counter() - began
                    for step, seconds in steps.items():
                        report.load_steps[step] = report.load_steps.get(step, 0.0) + seconds
                    report.batches += 1
                    report.rows += prepared.rows
                    report.loaded += prepared.loaded_rows
                    report.records += len(prepared.records)
                    report.rejected += len(prepared.rejects)
                    report.total_loaded += prepared.loaded_rows
                    report.total_records += len(prepared.records)
                    report.total_rejected += len(prepared.rejects)
                    if progress is not None:
                        progress(batch.after.offset, source.total, report)
                    growing = report.batches in ANALYZE_AFTER_BATCHES
                if growing:
                    store.analyze(conn, tables)
        except BaseException as exc:
            order.fail(exc)
            stop.set()
            raise

    producer = threading.Thread(target=produce, name="import-prepare", daemon=True)
    connections = [store.loader(url) for _ in range(workers)]
    errors: list[BaseException] = []

    def loader(conn: store.Conn) -> None:
        try:
            load(conn)
        except BaseException as exc:
            errors.append(exc)

    loaders = [
        threading.Thread(target=loader, args=(c,), name=f"import-load-{i}", daemon=True)
        for i, c in enumerate(connections)
    ]
    producer.start()
    for thread in loaders:
        thread.start()
    try:
        for thread in loaders:
            while thread.is_alive():
                thread.join(timeout=0.5)
    finally:
        stop.set()
        order.fail(_Aborted("stopped"))
        producer.join(timeout=5)
        for conn in connections:
            conn.close()
    causes = [e for e in errors if not isinstance(e, _Aborted)] or errors
    if causes:
        raise causes[0]


def _put(handoff: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _received(handoff: queue.Queue[Any], stop: threading.Event) -> Iterator[_Batch]:
    while True:
        try:
            item = handoff.get(timeout=0.2)
        except queue.Empty:
            if stop.is_set():
                raise _Aborted("the import stopped") from None
            continue
        if item is _DONE:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _load(
    conn: store.Conn, key: RunKey, importer: Kind[Any], batch: _Batch, order: _Order, staging: bool
) -> dict[str, float]:
    """One batch in one transaction: keys taken meanwhile are rejected, then COPY, rejects, progress.
    Returns the seconds each step took (``Report.load_steps``).

    A unique violation means someone else inserted one of the batch's keys after the check; the
    transaction is rolled back and the batch tried again, when the check will see that key."""
    prepared = batch.prepared
    steps: dict[str, float] = {}

    def lap(step: str, since: float) -> float:
        now = time.perf_counter()
        steps[step] = steps.get(step, 0.0) + now - since
        return now

    for attempt in range(RETRIES):
        try:
            began = time.perf_counter()
            with conn.transaction():
                owners: dict[int, str] = {}
                for unique in prepared.unique:
                    found = store.taken(conn, key.tenant_id, unique.what, unique.keys)
                    if found:
                        for item, owner in zip(unique.keys, unique.owners, strict=True):
                            if item in found and owner not in owners:
                                owners[owner] = importer.taken_reason(unique.what, item, in_file=False)
                if owners:
                    drop(prepared, owners)
                    prepared.tables = importer.tables(prepared)
                began = lap("keys", began)
                for table in prepared.tables:
                    store.copy(conn, table, staging=staging)
                    began = lap(table.name, began)
                store.mark_days(conn, key.tenant_id, prepared.days)
                store.save_rejects(conn, key, prepared.rejects)
                order.wait_turn(batch.seq)
                store.advance(
                    conn,
                    key,
                    batch.after,
                    rows=prepared.rows,
                    loaded=prepared.loaded_rows,
                    records=len(prepared.records),
                    rejected=len(prepared.rejects),
                )
            lap("finish", began)
            order.done(batch.seq)
            return steps
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable: the last try returns or raises")  # pragma: no cover
