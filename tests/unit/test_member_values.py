"""Phones, cards, emails and birthdays as a member's keys: what is the same key written another
way, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from patron.errors import InvalidInput
from patron.members import phones
from patron.members.model import MemberIn, normalized_email
from patron.members.service import card_to_find, clean_card, emails_to_find


@pytest.mark.parametrize(
    "written",
    [
        "030 12345678",
        "+49 30 12345678",
        "0049 (30) 1234-5678",
        "tel:+49-30-12345678",
        "Tel. +49 30 12345678",
        "030 12345678 ext. 12",
        "+49 30 12345678 extension 5",
        "+49 30 12345678 extn. 5",
        "+49 30 12345678 Ext: 5",
        "+49 30 12345678 anexo 12",
    ],
)
def test_a_german_number_in_common_forms_is_one_number(written: str) -> None:
    assert phones.normalize(written, "DE") == "+493012345678"


@pytest.mark.parametrize(
    "typo", ["030 1234567O", "+49 30 12345678 ext", "+49 30 NOTANUMBER", "+49 30 1234 5678a"]
)
def test_letters_in_a_phone_are_refused_not_read_as_a_keypad(typo: str) -> None:
    """phonenumbers reads letters as keypad digits: each of these was another member's number."""
    with pytest.raises(ValueError, match="letters"):
        phones.normalize(typo, "DE")


@pytest.mark.parametrize(
    ("written", "country", "number"),
    [
        ("008 20 100 123 4567", "KR", "+201001234567"),  # Korea's 008 to Egypt, not Korea's +82
        ("009 1 212 555 0123", "CO", "+12125550123"),  # Colombia's 009 to the US, not India's +91
        ("0011 44 7911 123456", "AU", "+447911123456"),  # Australia's 0011: it was refused
        ("0044 7911 123456", "FR", "+447911123456"),
        ("00 7 900 123 45 67", "RU", "+79001234567"),  # Russia's own is 8~10; 00 is read as "+"
        ("0049 30 1234567", None, "+49301234567"),  # no country: 00 is "+"
        ("(00) 44 20 7946 0958", "US", "+442079460958"),  # 00 however it is written
        ("\uff10\uff1044 20 7946 0958", "US", "+442079460958"),
        ("tel:0044 20 7946 0958", "US", "+442079460958"),
        ("+44 20 7946 0958 durchwahl 5", "GB", "+442079460958"),  # an extension the library does not know
    ],
)
def test_a_number_dialled_with_the_countrys_international_prefix_is_the_number_dialled(
    written: str, country: str | None, number: str
) -> None:
    """A probe: "00" was always taken for "+", so a Korean till's "008 20 ..." found the member of
    +82 10 0123 4567 and a Colombian's "009 1 ..." made an Indian number."""
    assert phones.normalize(written, country) == number


def test_a_national_number_without_a_country_says_so() -> None:
    with pytest.raises(phones.NoCountry, match="international form"):
        phones.normalize("07911 123457", None)


@pytest.mark.parametrize("written", ["+49 30 1234567890123", "030 1234567890123", "+4930123456789012"])
def test_a_number_longer_than_e164_allows_is_refused_saying_so(written: str) -> None:
    """The phone library takes these German numbers (16 and 17 digits) as valid: the 17-digit one
    was a 500 from the table's check, the 16-digit one was stored, and no SMS provider takes either."""
    with pytest.raises(phones.Explained, match="15 digits"):
        phones.normalize(written, "DE")
    assert phones.normalize("+49 30 12345678901", "DE") == "+493012345678901"  # 15: E.164's most


@pytest.mark.parametrize(("typed", "kept"), [(" CARD1 ", "CARD1"), ("C-100\r\n", "C-100"), ("\t77\n", "77")])
def test_a_card_loses_what_a_scanner_adds_around_it(typed: str, kept: str) -> None:
    assert clean_card(typed) == kept


@pytest.mark.parametrize("bad", ["", "  ", "Z\x07", "Z\u200b", "A B", "x" * 65, "\x1b[31m"])
def test_a_card_with_control_or_invisible_characters_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_card(bad, "member.card")
    assert refused.value.field == "member.card"


def test_an_email_is_looked_up_in_the_form_it_is_stored_and_as_written() -> None:
    stored = str(MemberIn.model_validate({"phone": "+4930123456", "email": "hans@bücher.de"}).email)
    assert normalized_email("hans@xn--bcher-kva.de") == stored == normalized_email(" hans@bücher.de ")
    assert normalized_email("e\u0301@example.com") == normalized_email("\u00e9@example.com")  # NFD, NFC
    assert normalized_email("Anna <anna2@example.com>") == "anna2@example.com"
    with pytest.raises(ValueError):
        normalized_email("not-an-email")
    # an import's, or an older row's, stored as written, is found too
    assert emails_to_find("hans@xn--bcher-kva.de") == sorted({stored, "hans@xn--bcher-kva.de"})
    assert emails_to_find("anna@corp.local") == ["anna@corp.local"]  # not an address to the validator


def test_a_card_a_till_names_is_found_as_stored_whatever_new_cards_may_hold() -> None:
    assert card_to_find(" C\u200b1004\r\n") == "C\u200b1004"  # refused as a new card, found if stored
    with pytest.raises(InvalidInput):
        card_to_find("  ")


def test_a_birthday_is_a_date_that_has_come_somewhere_on_earth() -> None:
    furthest_ahead = (datetime.now(UTC) + timedelta(hours=14)).date()
    assert MemberIn.model_validate({"phone": "+4930123456", "birthday": str(furthest_ahead)}).birthday
    with pytest.raises(ValidationError):
        MemberIn.model_validate({"phone": "+4930123456", "birthday": str(furthest_ahead + timedelta(days=1))})


def test_null_cards_or_consents_on_a_new_member_mean_none() -> None:
    member = MemberIn.model_validate({"phone": "+4930123456", "cards": None, "consents": None})
    assert member.cards == [] and (member.consents.sms, member.consents.email) == (False, False)
