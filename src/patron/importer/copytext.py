"""PostgreSQL COPY text format: one row per line, tab-separated, ``\\N`` for null. Pure.

Text format is what the importer streams: building a line with ``join`` is cheaper in Python than
psycopg's binary row writer, and PostgreSQL parses it quickly."""

from __future__ import annotations

from collections.abc import Iterable

NULL = "\\N"
_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def field(value: object) -> str:
    """One value as COPY text: None is null, text is escaped, anything else is its ``str``."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return escape(value)
    return str(value)


def escape(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_SPECIAL)
    return value


def line(values: Iterable[object]) -> str:
    return "\t".join([field(value) for value in values]) + "\n"


class Table:
    """Rows for one table, kept as text until they are streamed with COPY."""

    __slots__ = ("columns", "name", "parts", "rows")

    def __init__(self, name: str, columns: tuple[str, ...]) -> None:
        self.name = name
        self.columns = columns
        self.parts: list[str] = []
        self.rows = 0

    def add(self, values: Iterable[object]) -> None:
        self.parts.append(line(values))
        self.rows += 1

    def add_text(self, text_line: str) -> None:
        """A line built by the caller (already escaped, ending in a newline)."""
        self.parts.append(text_line)
        self.rows += 1

    def payload(self) -> bytes:
        return "".join(self.parts).encode()
