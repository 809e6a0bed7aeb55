"""Streaming an import file row by row, from any position, in constant memory.

CSV is read line by line (Python's csv module: quoted values may hold separators, quotes and even
line breaks); the position is a byte offset, so a resumed import seeks straight to it. Parquet is
read in record batches of the row groups still to do; its position is a row index.

A row is ``(line, values, problem)``: ``line`` is the source line number (CSV: the physical line
where the row starts; Parquet: the 1-based row number), ``values`` the cells in header order, and
``problem`` the reason a row cannot even be read (wrong number of values, not UTF-8), else None.
A CSV row the csv module cannot read at all has its raw text as its one value, so that its
reject keeps what the file held.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

Row = tuple[int, Sequence[object], str | None]

SAMPLE = 1 << 20
FIELD_LIMIT = 16 << 20  # a cell may hold up to 16 MiB (the csv module's default is 128 KiB)


@dataclass(frozen=True, slots=True)
class Position:
    """Where the next row starts: a byte offset and line number (CSV) or row index (Parquet)."""

    offset: int
    line: int


class Source(Protocol):
    header: list[str]
    position: Position
    total: int  # the size ``position.offset`` grows to: bytes (CSV) or rows (Parquet)

    def rows(self) -> Iterator[Row]: ...

    def close(self) -> None: ...


def fingerprint(path: Path) -> str:
    """Identifies a file's content without reading all of it: its size, its first and last MiB
    and 62 MiB-spaced samples (a terabyte file is fingerprinted in a second). A file edited
    in place without changing size, head, tail or samples would look the same: do not."""
    size = path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as f:
        if size <= 64 * SAMPLE:
            while chunk := f.read(SAMPLE):
                digest.update(chunk)
        else:
            step = (size - SAMPLE) // 63
            for offset in [i * step for i in range(63)] + [size - SAMPLE]:
                f.seek(offset)
                digest.update(f.read(SAMPLE))
    return digest.hexdigest()


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in ("csv", "parquet"):
            raise ValueError(f"unknown format {given!r}: csv or parquet")
        return given
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"


def open_source(path: Path, fmt: str, start: Position | None) -> Source:
    if path.stat().st_size == 0:
        raise ValueError("the file is empty")
    return ParquetSource(path, start) if fmt == "parquet" else CsvSource(path, start)


class CsvSource:
    """UTF-8 CSV with a header line, comma-separated, ``"`` for quoting. Blank lines are skipped."""

    def __init__(self, path: Path, start: Position | None) -> None:
        if csv.field_size_limit() < FIELD_LIMIT:
            csv.field_size_limit(FIELD_LIMIT)
        self._file: IO[bytes] = path.open("rb")
        self.total = os.fstat(self._file.fileno()).st_size
        first = self._file.readline()
        try:
            header_text = first.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError("the header line is not UTF-8 text") from exc
        if not header_text:  # nothing at all, or a byte order mark alone
            raise ValueError("the file is empty")
        if not header_text.strip():
            raise ValueError("the header line is blank")
        if "\r" in header_text.rstrip("\r\n"):
            # a file whose lines end in CR alone is one line to a reader of LF and CRLF lines
            raise ValueError(
                "the header line holds a carriage return (CR): if the file's lines end in CR alone,"
                " save it with LF or CRLF line ends"
            )
        if unclosed_quote(header_text) is not None:
            raise ValueError("the header line has a quote left open")
        try:
            self.header = next(csv.reader([header_text], strict=True), [])
        except csv.Error as exc:
            raise ValueError(f"the header line is not readable CSV: {exc}") from exc
        if start is None:
            self.position = Position(self._file.tell(), 2)
        else:
            self._file.seek(start.offset)
            self.position = start

    def rows(self) -> Iterator[Row]:
        while True:
            resume = yield from self._rows_from_position()
            if resume is None:
                return
            # After a row the csv module could not read, its state is of no use: read on with a
            # new reader from where that row's reject ends.
            self._file.seek(resume.offset)
            self.position = resume

    def _rows_from_position(self) -> Generator[Row, None, Position | None]:
        """Rows up to the end of the file (then None), or up to one the csv module cannot read:
        that row is rejected with its raw text, and the position to read on from is returned."""
        offset, line = self.position.offset, self.position.line
        broken: set[int] = set()
        count = 0
        at_end = False

        def lines() -> Iterator[str]:
            nonlocal offset, count, at_end
            for raw in self._file:
                offset += len(raw)
                count += 1
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    broken.add(count)
                    yield raw.decode("utf-8", "replace")
            at_end = True

        reader = csv.reader(lines())
        width = len(self.header)
        consumed = 0
        while True:
            starts_at = self.position.offset
            try:
                values = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                unread, resume = self._unreadable(
                    exc, starts_at, line + consumed, Position(offset, line + count)
                )
                self.position = resume
                yield unread
                return resume
            problem = None
            first_line = line + consumed
            consumed = count
            self.position = Position(offset, line + count)
            if at_end:
                # the csv module ends a quoted value at the end of the file without a word
                problem = self._unclosed_quote(starts_at, first_line)
            if problem is None and (not values or (len(values) == 1 and not values[0].strip())):
                continue  # a blank line, or one of spaces only
            if broken:
                if problem is None and any(first_line - line < n <= count for n in broken):
                    problem = "not UTF-8 text"
                broken.clear()
            if problem is None and len(values) != width:
                problem = f"expected {width} values, got {len(values)}"
            yield first_line, values, problem

    def _unreadable(
        self, exc: csv.Error, starts_at: int, first_line: int, read_to: Position
    ) -> tuple[Row, Position]:
        """A row the csv module could not read, which starts at byte ``starts_at`` and line
        ``first_line`` and of which it read the lines up to ``read_to``: rejected with its raw
        text as its one cell (so that nothing vanishes and it can be corrected from the rejects
        file), and where to read on. A value that grew past the field limit is, in practice, a
        quote never closed: then the row is the lines up to the one where that quote opened, and
        reading goes on at the line after it (the csv module went on inside the value, and the
        lines it took were neither loaded nor rejected)."""
        self._file.seek(starts_at)
        raw = self._file.read(read_to.offset - starts_at)
        problem = _csv_problem(exc)
        taken, resume = raw, read_to
        if str(exc).startswith("field larger than field limit"):
            # latin-1 gives a character a byte: the quotes, commas and line ends UTF-8 writes as
            # themselves are at their byte offsets
            opened = unclosed_quote(raw.decode("latin-1"))
            limit = _size(csv.field_size_limit())
            if opened is None:
                problem = f"unreadable CSV: a value longer than {limit}"
            else:
                quote_line = first_line + raw.count(b"\n", 0, opened)
                line_end = raw.find(b"\n", opened)
                if line_end >= 0:
                    taken = raw[: line_end + 1]
                    resume = Position(starts_at + len(taken), quote_line + 1)
                problem = (
                    f"a quote opened at line {quote_line} is not closed within {limit}:"
                    " the lines after it are read as rows"
                )
        text = taken.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")
        return (first_line, [text], problem), resume

    def _unclosed_quote(self, starts_at: int, first_line: int) -> str | None:
        """Why the file's last row, which starts at byte ``starts_at`` and line ``first_line``,
        cannot load when a quote in it is never closed: every line after it was read into one
        value. Read again from the file (once, at its end) so that the hot loop keeps no lines."""
        self._file.seek(starts_at)
        text = self._file.read().decode("utf-8", "replace")
        opened = unclosed_quote(text)
        if opened is None:
            return None
        quote_line = first_line + text.count("\n", 0, opened)
        after = text.count("\n", opened) - text.endswith("\n")
        if not after:
            return f"a quote opened at line {quote_line} is never closed"
        swallowed = "the line after it was" if after == 1 else f"the {after} lines after it were"
        return f"a quote opened at line {quote_line} is never closed: {swallowed} read into one value"

    def close(self) -> None:
        self._file.close()


class ParquetSource:
    """A Parquet file, read one record batch at a time from the row group holding the position."""

    BATCH = 16_384

    def __init__(self, path: Path, start: Position | None) -> None:
        import pyarrow.parquet as pq

        self._file = pq.ParquetFile(path)
        meta = self._file.metadata
        self.total = meta.num_rows
        self.header = list(self._file.schema_arrow.names)
        offset = 0 if start is None else start.offset
        self.position = Position(offset, offset + 1)

    def rows(self) -> Iterator[Row]:
        meta = self._file.metadata
        begin = self.position.offset
        first_group, skip, group_start = meta.num_row_groups, 0, 0
        for group in range(meta.num_row_groups):
            size = meta.row_group(group).num_rows
            if begin < group_start + size:
                first_group, skip = group, begin - group_start
                break
            group_start += size
        if first_group >= meta.num_row_groups:
            return
        index = begin
        batches = self._file.iter_batches(
            batch_size=self.BATCH, row_groups=range(first_group, meta.num_row_groups)
        )
        for batch in batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            if skip:
                batch = batch.slice(skip)
                skip = 0
            problems: dict[int, str] = {}
            columns = [
                _python_values(column, name, problems)
                for column, name in zip(batch.columns, self.header, strict=True)
            ]
            for row, values in enumerate(zip(*columns, strict=True)):
                index += 1
                self.position = Position(index, index + 1)
                yield index, values, problems.get(row)

    def close(self) -> None:
        self._file.close()


def _python_values(column: Any, name: str, problems: dict[int, str]) -> list[object]:
    """A Parquet column as Python values. A value Python cannot hold (a date beyond the year 9999)
    makes the whole column's conversion fail; then the column is converted value by value, and
    each such value becomes its row's problem (a reject), so the rest of the file still loads.
    Such a value is kept as the text Arrow writes for it, named in the reason and written to the
    rejects file, so that the rejects file imported again refuses it again until it is corrected
    (an empty cell there had loaded the row without it).
    A 32-bit float is read as the decimal it prints as (19.9, not 19.899999618530273: Python's
    float widens it), through Arrow's shortest text of it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.type == pa.float32():
        column = pc.cast(pc.cast(column, pa.string()), pa.float64())
    try:
        return cast(list[object], column.to_pylist())
    except (OverflowError, ValueError):
        pass
    out: list[object] = []
    for row in range(len(column)):
        try:
            out.append(column[row].as_py())
        except (OverflowError, ValueError) as exc:
            written = _arrow_text(column, row)
            problems.setdefault(
                row, f"{name}: {written} ({column.type}) is beyond what Python can read ({exc})"
            )
            out.append(written)
    return out


def _arrow_text(column: Any, row: int) -> str:
    """One value of a Parquet column as Arrow writes it (``10183-09-21``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return str(pc.cast(column.slice(row, 1), pa.string())[0].as_py())
    except pa.ArrowException:  # a list or a struct, which Arrow does not cast to text: as it prints
        return str(column.slice(row, 1).to_string(skip_new_lines=True))


_UNQUOTED_END = re.compile(r"[,\r\n]")


def unclosed_quote(text: str) -> int | None:
    """Where in ``text`` a quoted value opens that is never closed, read as the csv module reads
    it (a quote opens a value only at the value's start, ``""`` in it is a quote, and a quote
    elsewhere is taken as it is); None when every quoted value closes."""
    at = 0
    while at < len(text):
        if text[at] == '"':
            opened, at = at, at + 1
            while True:
                close = text.find('"', at)
                if close < 0:
                    return opened
                at = close + 1
                if not text.startswith('"', at):
                    break
                at += 1  # a doubled quote: one quote in the value
        end = _UNQUOTED_END.search(text, at)  # the rest of the value, taken as it is
        if end is None:
            return None
        at = end.end()
    return None


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit:,} bytes"


def _csv_problem(exc: csv.Error) -> str:
    """Why the csv module could not read a row, in words that name the cause."""
    if str(exc).startswith("new-line character seen in unquoted field"):
        return "unreadable CSV: a carriage return (CR) inside a value that is not quoted"
    return f"unreadable CSV: {exc}"


def batches(
    source: Source, size: int, key: KeyFunction | None = None, *, longest: int = 10_000
) -> Iterator[tuple[list[Row], Position]]:
    """Rows in batches of at least ``size`` and the position right after each batch. With ``key``,
    a batch does not split consecutive rows of equal key (the lines of one receipt) unless they
    run past ``longest`` more rows, so that no file can make a batch grow without end."""
    batch: list[Row] = []
    after = source.position
    last_key: object = None
    for row in source.rows():
        row_key = key(row) if key is not None else None
        if len(batch) >= size and (key is None or row_key != last_key or len(batch) >= size + longest):
            yield batch, after
            batch = []
        batch.append(row)
        after = source.position
        last_key = row_key
    if batch:
        yield batch, after


class KeyFunction(Protocol):
    def __call__(self, row: Row) -> object: ...
