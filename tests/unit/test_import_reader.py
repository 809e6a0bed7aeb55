"""Reading import files row by row, and starting again from any batch boundary."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron.importer import reader
from patron.importer.reader import Position, Row


def rows_of(source: reader.Source) -> list[Row]:
    return list(source.rows())


def test_csv_rows_carry_their_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(
        b"\xef\xbb\xbfa,b\n"  # a BOM before the header
        b"1,2\n"  # line 2
        b"\n"  # a blank line is skipped
        b'"x\ny",3\n'  # line 4: a quoted value with a line break
        b"4\n"  # line 6: too few values
        b"\xff\xfe,5\n"  # line 7: not UTF-8
        b"6,7"  # line 8, without a final newline
    )
    source = reader.CsvSource(path, None)
    assert source.header == ["a", "b"]
    assert rows_of(source) == [
        (2, ["1", "2"], None),
        (4, ["x\ny", "3"], None),
        (6, ["4"], "expected 2 values, got 1"),
        (7, ["\ufffd\ufffd", "5"], "not UTF-8 text"),
        (8, ["6", "7"], None),
    ]
    assert source.position == Position(path.stat().st_size, 9)


def test_csv_resumes_from_a_batch_boundary(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("k,v\n" + "".join(f"{i // 3},{i}\n" for i in range(20)))
    source = reader.CsvSource(path, None)
    batches = list(reader.batches(source, 4, lambda row: row[1][0]))
    # Batches of at least 4 rows that never split a key: 6, 6, 6, 2 rows.
    assert [len(rows) for rows, _ in batches] == [6, 6, 6, 2]
    all_rows = [row for rows, _ in batches for row in rows]
    for index, (_, after) in enumerate(batches):
        again = reader.CsvSource(path, after)
        rest = rows_of(again)
        assert rest == all_rows[sum(len(r) for r, _ in batches[: index + 1]) :]
        assert again.header == ["k", "v"]


def test_parquet_resumes_inside_a_row_group(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"k": list(range(10)), "v": [str(i) for i in range(10)]}), path, row_group_size=4)
    source = reader.ParquetSource(path, None)
    assert source.header == ["k", "v"]
    assert source.total == 10
    everything = rows_of(source)
    assert everything[0] == (1, (0, "0"), None)
    for start in range(11):
        resumed = rows_of(reader.ParquetSource(path, Position(start, start + 1)))
        assert resumed == everything[start:]


def test_fingerprint_follows_content_not_name(tmp_path: Path) -> None:
    one, two, three = tmp_path / "1.csv", tmp_path / "2.csv", tmp_path / "3.csv"
    one.write_text("a\n1\n")
    two.write_text("a\n1\n")
    three.write_text("a\n2\n")
    assert reader.fingerprint(one) == reader.fingerprint(two) != reader.fingerprint(three)
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.write(b"x" * (70 << 20))
    before = reader.fingerprint(big)
    with big.open("r+b") as f:
        f.seek(big.stat().st_size - 10)
        f.write(b"y")
    assert reader.fingerprint(big) != before  # the tail is always sampled


def test_a_header_with_an_unclosed_quote_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('number,"store,at\nR1,S1,2026-01-01T00:00:00Z\n')
    with pytest.raises(ValueError, match=r"^the header line has a quote left open$"):
        reader.CsvSource(path, None)
    path.write_text('number,"store",at\n')
    assert reader.CsvSource(path, None).header == ["number", "store", "at"]


def test_a_32_bit_float_is_read_as_the_decimal_it_prints_as(tmp_path: Path) -> None:
    """Python's float widens float32 0.1 to 0.10000000149011612: a price was refused for its
    decimals, and an attribute matched no condition the API's would."""
    path = tmp_path / "f32.parquet"
    pq.write_table(pa.table({"price": pa.array([19.9, 0.1, 1e-7, None], pa.float32())}), path)
    source = reader.open_source(path, "parquet", None)
    try:
        assert [row[1][0] for row in rows_of(source)] == [19.9, 0.1, 1e-7, None]
    finally:
        source.close()


def test_a_quote_never_closed_names_its_line_and_the_lines_it_took(tmp_path: Path) -> None:
    """The csv module reads an open quote to the end of the file without a word: the rows after it
    vanished into one value, and the reason named a control character."""
    path = tmp_path / "f.csv"
    path.write_text('sku,name\nQ1,ok\nQ2,"Jacket 5\nQ3,x\nQ4,y\n')
    assert rows_of(reader.CsvSource(path, None)) == [
        (2, ["Q1", "ok"], None),
        (
            3,
            ["Q2", "Jacket 5\nQ3,x\nQ4,y\n"],
            "a quote opened at line 3 is never closed: the 2 lines after it were read into one value",
        ),
    ]
    path.write_text('sku,name\nQ1,"a ""b"" c",\n"Q2\nQ3","Jacket 5')  # the last quote opens on line 4
    assert rows_of(reader.CsvSource(path, None))[1] == (
        3,
        ["Q2\nQ3", "Jacket 5"],
        "a quote opened at line 4 is never closed",
    )
    path.write_text(
        'sku,name\nQ1,"x\ny"\nQ2,5" tall\n'
    )  # closed, and a quote inside a value is taken as it is
    assert [problem for _, _, problem in rows_of(reader.CsvSource(path, None))] == [None, None]


def test_unclosed_quote_reads_as_the_csv_module_does() -> None:
    assert reader.unclosed_quote('a,"b') == 2
    assert reader.unclosed_quote('a,"b""') == 2  # a doubled quote does not close it
    assert reader.unclosed_quote('a,"b"""') is None
    assert reader.unclosed_quote('a,b"c,"d"x"e\n"f"') is None  # quotes inside a value are text
    assert reader.unclosed_quote('"a"\r\n"b') == 5


def test_file_level_problems_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"sku,name\rQ1,a\rQ2,b\r")
    with pytest.raises(ValueError, match=r"^the header line holds a carriage return \(CR\)"):
        reader.CsvSource(path, None)
    path.write_bytes(b"sku,name\nQ1,a\rb\n")
    assert rows_of(reader.CsvSource(path, None)) == [
        (2, ["Q1,a\rb"], "unreadable CSV: a carriage return (CR) inside a value that is not quoted")
    ]
    path.write_bytes(b"")
    for fmt in ("csv", "parquet"):
        with pytest.raises(ValueError, match=r"^the file is empty$"):
            reader.open_source(path, fmt, None)
    path.write_bytes(b"\xef\xbb\xbf")  # a byte order mark and nothing else
    with pytest.raises(ValueError, match=r"^the file is empty$"):
        reader.CsvSource(path, None)
    path.write_bytes(b"\xef\xbb\xbf  \nsku\n")
    with pytest.raises(ValueError, match=r"^the header line is blank$"):
        reader.CsvSource(path, None)


def test_a_row_the_csv_module_cannot_read_keeps_its_raw_text(tmp_path: Path) -> None:
    """A bare CR inside a row went to the rejects file with no cells: the three stores on that
    line were gone, and the row could not be corrected from there."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"code,name\nS1,One\rS2,Two\rS3,Three\r\nS4,Four\n")
    source = reader.CsvSource(path, None)
    assert rows_of(source) == [
        (
            2,
            ["S1,One\rS2,Two\rS3,Three"],
            "unreadable CSV: a carriage return (CR) inside a value that is not quoted",
        ),
        (3, ["S4", "Four"], None),
    ]
    assert source.position == Position(path.stat().st_size, 4)


@pytest.fixture
def small_field_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A field limit of 1,000 bytes, so that a quote left open runs into it in a small file."""
    before = csv.field_size_limit()
    monkeypatch.setattr(reader, "FIELD_LIMIT", 1000)
    csv.field_size_limit(1000)
    try:
        yield 1000
    finally:
        csv.field_size_limit(before)


def test_a_quote_open_past_the_field_limit_rejects_its_line_and_reading_goes_on(
    tmp_path: Path, small_field_limit: int
) -> None:
    """The csv module stopped at the limit inside the value and went on reading from there: the
    lines it had taken were neither loaded nor rejected (92,877 of 700,000 stores loaded, one
    row rejected with no cells, exit 0)."""
    path = tmp_path / "f.csv"
    stores = "".join(f"B{i},Store number {i}\n" for i in range(200))  # 4,390 bytes
    path.write_text(f'code,name\nA0,first\nA1,"Alpha\n{stores}', encoding="utf-8")
    reason = "a quote opened at line 3 is not closed within 1,000 bytes: the lines after it are read as rows"
    everything = rows_of(reader.CsvSource(path, None))
    assert everything == [
        (2, ["A0", "first"], None),
        (3, ['A1,"Alpha'], reason),
        *[(4 + i, [f"B{i}", f"Store number {i}"], None) for i in range(200)],
    ]
    # resumed from any batch boundary, the same rows follow
    batches = list(reader.batches(reader.CsvSource(path, None), 2))
    for index, (_, after) in enumerate(batches):
        done = sum(len(rows) for rows, _ in batches[: index + 1])
        assert rows_of(reader.CsvSource(path, after)) == everything[done:]
    # a quote that opens on a later line of the row: the row up to that line is its reject
    path.write_text(f'code,name\n"A\n1","Alpha\n{stores}', encoding="utf-8")
    assert rows_of(reader.CsvSource(path, None))[:2] == [
        (
            2,
            ['"A\n1","Alpha'],
            "a quote opened at line 3 is not closed within 1,000 bytes: the lines after it are read as rows",
        ),
        (4, ["B0", "Store number 0"], None),
    ]
    # a value past the limit without quotes is one line: that line is the reject
    path.write_text(f"code,name\nA1,{'x' * 1200}\nA2,ok\n", encoding="utf-8")
    assert rows_of(reader.CsvSource(path, None)) == [
        (2, [f"A1,{'x' * 1200}"], "unreadable CSV: a value longer than 1,000 bytes"),
        (3, ["A2", "ok"], None),
    ]
