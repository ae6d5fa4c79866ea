"""Citizen IDs, tax codes and phone numbers are written with the ASCII digits only.

Python's ``\\d`` and ``str.isdigit`` accept every script's decimal digits, and the phone
parser reads them too: "００１０９９０１２３４５" would pass as a citizen ID and be stored
and published as sent. Each of Unicode's decimal digit sets is tried here, taken from
the running interpreter's Unicode database, so a set added by a new Unicode version is
tried as soon as Python knows it.
"""

from __future__ import annotations

import sys
import unicodedata

import pytest
from pydantic import ValidationError

from intake.api.models import ApplicantIn
from intake.domain.applicant import normalise_phone, normalise_tax_code


def digit_sets() -> dict[int, str]:
    """Every decimal digit set, keyed by its zero's code point: "0123456789" in its script.

    A set is the ten code points zero..nine in a row, which is how Unicode lays out every
    decimal digit (the decimal property is only given to such runs).
    """
    found: dict[int, dict[int, str]] = {}
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        value = unicodedata.decimal(char, None)
        if value is not None:
            found.setdefault(code_point - value, {})[value] = char
    return {zero: "".join(digits[d] for d in range(10)) for zero, digits in found.items()}


SETS = digit_sets()
FOREIGN = {zero: digits for zero, digits in SETS.items() if zero != ord("0")}


def spelled(ascii_text: str, digits: str) -> str:
    return ascii_text.translate(str.maketrans("0123456789", digits))


def applicant(**fields: object) -> ApplicantIn:
    base: dict[str, object] = {
        "type": "person",
        "name": "Nguyễn Văn An",
        "id_number": "001099012345",
        "email": "an@example.vn",
    }
    return ApplicantIn.model_validate(base | fields)


def refused_fields(**fields: object) -> set[str]:
    try:
        applicant(**fields)
    except ValidationError as exc:
        return {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    return set()


def test_the_unicode_database_has_the_digit_sets_we_expect() -> None:
    # Unicode 14 has 66 sets, later versions more: far more than a hand-written list holds.
    assert len(SETS) >= 60
    assert SETS[ord("0")] == "0123456789"
    assert SETS[0xFF10] == "０１２３４５６７８９"  # full width
    assert SETS[0x0660] == "٠١٢٣٤٥٦٧٨٩"  # Arabic-Indic
    assert all(len(d) == 10 for d in SETS.values())


def test_ascii_digits_are_still_accepted() -> None:
    assert applicant(id_number="001099012345", phone="0912 345 678").phone == "+84912345678"
    assert applicant(type="organisation", id_number="0101234567-001").id_number == ("0101234567001")


@pytest.mark.parametrize("zero", sorted(FOREIGN), ids=lambda z: f"U+{z:04X}")
def test_every_other_digit_set_is_refused(zero: int) -> None:
    digits = FOREIGN[zero]
    citizen_id = spelled("001099012345", digits)
    tax_code = spelled("0101234567", digits)
    branch = spelled("0101234567", digits) + "-001"
    phone = spelled("0912345678", digits)

    assert refused_fields(id_number=citizen_id) == {"id_number"}
    assert refused_fields(type="organisation", id_number=tax_code) == {"id_number"}
    assert refused_fields(type="organisation", id_number=branch) == {"id_number"}
    assert refused_fields(phone=phone) == {"phone"}
    assert refused_fields(phone="+84 " + spelled("912345678", digits)) == {"phone"}
    with pytest.raises(ValueError, match="tax code"):
        normalise_tax_code(tax_code)
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(phone)


@pytest.mark.parametrize("zero", sorted(FOREIGN), ids=lambda z: f"U+{z:04X}")
def test_one_foreign_digit_among_ascii_ones_is_refused(zero: int) -> None:
    seven = FOREIGN[zero][7]
    assert refused_fields(id_number="00109901234" + seven) == {"id_number"}
    assert refused_fields(type="organisation", id_number="010123456" + seven) == {"id_number"}
    assert refused_fields(phone="091234567" + seven) == {"phone"}


@pytest.mark.parametrize(
    "typed", ["0912345678 ext. 12", "tel:+84-91-234-5678", "0912345678#", "0912-345-67８"]
)
def test_a_phone_number_is_only_digits_and_punctuation(typed: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(typed)
