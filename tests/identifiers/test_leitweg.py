"""Leitweg-ID format and ISO 7064 MOD 97-10 check digits."""
import pytest

from einvoice.identifiers.leitweg import check_leitweg_id, is_valid_leitweg_id, mod97_10


@pytest.mark.parametrize("value", ["04011000-1234512345-06", "992-90009-96", "09564000-NUE0001-49"])
def test_known_good(value):
    assert check_leitweg_id(value) == []
    assert mod97_10(value.replace("-", "")) == 1


@pytest.mark.parametrize(
    "value, words",
    [
        ("04011000-1234512345-07", "check digits"),
        ("992-90009-69", "check digits"),
        ("09564000-nue0001-49", "lower-case"),
        ("0956400-NUE0001", "form"),
        ("", "empty"),
        ("1-06", "form"),
        ("04011000-1234512345_06", "form"),
        ("17011000-1234512345-06", "Land"),
    ],
)
def test_bad(value, words):
    problems = check_leitweg_id(value)
    assert problems and any(words in p for p in problems)
    assert not is_valid_leitweg_id(value)


def test_every_single_digit_typo_is_caught():
    good = "04011000-1234512345-06"
    for i, ch in enumerate(good):
        if ch.isdigit():
            for d in "0123456789":
                if d != ch:
                    assert check_leitweg_id(good[:i] + d + good[i + 1:]), (i, d)
