"""How the members page reads part of a phone number typed as people of the program's country
dial it: its national prefix is dropped, with the country's own rule."""

from __future__ import annotations

import pytest

from patron.web.members_view import National, read_query


@pytest.mark.parametrize(
    ("text", "region", "national"),
    [
        ("030 1234 000", "DE", National(49, "301234000")),
        ("(030) 1234-0007", "DE", National(49, "3012340007")),
        ("8 900 123", "RU", National(7, "900123")),
        ("011 15 2345", "AR", National(54, "9112345")),  # Argentina's mobile "15" becomes its 9
        ("3012340 000", "DE", None),  # no national prefix: the digits match as they are
        ("+49 30 1234", "DE", None),  # international already
        ("030 1", "DE", None),  # too few digits left to search by
        ("030 1234", None, None),  # no country to read it in
        ("Anna 030 1234", "DE", None),  # not a phone
    ],
)
def test_part_of_a_national_number_loses_its_national_prefix(
    text: str, region: str | None, national: National | None
) -> None:
    assert read_query(text, region).national == national
