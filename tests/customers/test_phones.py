"""customers.phones: E.164 normalization (fast path and phonenumbers agree), masking, last-4 queries."""

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from customers.phones import last4_or_none, phone_display, phone_mask, phone_normalize, phone_or_none


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812345678", "+8613812345678"),
        (" 138-1234-5678 ", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("(010) 6552 9988", "+861065529988"),  # a Beijing landline: the slow path
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_spellings_of_one_number_normalize_to_e164(raw, e164):
    assert phone_normalize(raw) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not a phone", "is not a phone number"),
        ("12345678901", "not a valid phone number"),  # 11 digits but not a mobile range
        ("1381234567", "not a valid phone number"),  # one digit short
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(raw, reason):
    with pytest.raises(ValidationError) as caught:
        phone_normalize(raw)

    with translation.override("en"):  # the reasons are lazy: read them in the source language
        assert reason in caught.value.messages[0]
    assert phone_or_none(raw) is None


def test_the_fast_path_agrees_with_phonenumbers_on_every_mobile_prefix():
    for prefix in range(130, 200):
        number = f"{prefix}12345678"
        parsed = phonenumbers.parse(number, "CN")
        expected = (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(parsed)
            else None
        )
        assert phone_or_none(number) == expected, number


@pytest.mark.parametrize(
    ("e164", "masked", "shown"),
    [
        ("+8613812345678", "138****5678", "13812345678"),
        ("+861065529988", "106****988", "1065529988"),
        ("+85291234567", "+852 91****67", "+85291234567"),
        ("", "", ""),
    ],
)
def test_masking_and_display(e164, masked, shown):
    assert phone_mask(e164) == masked
    assert phone_display(e164) == shown


@pytest.mark.parametrize(("query", "last4"), [("5678", "5678"), (" 5678 ", "5678"), ("567", None), ("abcd", None)])
def test_last4_queries(query, last4):
    assert last4_or_none(query) == last4
