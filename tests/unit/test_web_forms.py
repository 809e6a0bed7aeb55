"""Reading admin form fields into what the API takes."""

from __future__ import annotations

import pytest

from patron.web import forms
from patron.web.routes.campaigns import when


def test_a_local_time_is_read_in_the_programs_zone_with_its_offset_that_day() -> None:
    assert forms.local_moment("2026-01-15T10:00", "Europe/Berlin") == "2026-01-15T10:00:00+01:00"
    assert forms.local_moment("2026-07-15T10:00", "Europe/Berlin") == "2026-07-15T10:00:00+02:00"
    assert forms.local_moment("2026-07-15T10:00", "Asia/Vladivostok") == "2026-07-15T10:00:00+10:00"


def test_text_that_is_not_a_local_time_is_left_for_the_api_to_refuse() -> None:
    assert forms.local_moment("next week", "Europe/Berlin") == "next week"
    assert forms.local_moment("2026-07-15T10:00:00+03:00", "Europe/Berlin") == "2026-07-15T10:00:00+03:00"


def test_the_campaign_list_says_when_a_campaign_applies() -> None:
    assert when({"name": "x"}) == "always"
    assert when({"weekdays": [1, 2, 3, 4, 5, 6, 7]}) == "always"  # every day limits nothing
    assert when({"hours": {"from": "10:00", "to": "12:00"}, "weekdays": [7, 6]}) == "Sat Sun · 10:00–12:00"
    assert when({"starts_at": "2026-12-01", "tiers": ["silver"]}) == "2026-12-01 – … · tiers: silver"
    assert when({"stores": ["S001"], "birthday": {"days_before": 3, "days_after": 3}}) == (
        "stores: S001 · around birthdays"
    )


@pytest.mark.parametrize("typed", ["3_65", "３６５", "1e3", "nan", "inf", "5,0", "9" * 5000])
def test_a_number_a_form_reads_is_ascii_digits(typed: str) -> None:
    """Python's int() and float() read "3_65" as 365 and full-width digits too; the API does not."""
    assert forms.int_or_text(typed) == typed  # passed on as text, for the model to refuse by name
    assert forms.number_or_text(typed) == typed


def test_a_number_a_form_reads() -> None:
    assert (forms.int_or_text(" 365 "), forms.int_or_text(""), forms.number_or_text("2.5")) == (
        365,
        None,
        2.5,
    )
