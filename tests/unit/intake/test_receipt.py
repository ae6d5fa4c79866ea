"""Receipt codes: shape, normalisation, and the errors the check character must catch."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from chassis.catalogue import load_default_catalogue
from intake.domain.receipt import (
    ALPHABET,
    RANDOM_LENGTH,
    check_character,
    is_valid_receipt_code,
    new_receipt_code,
    normalise_receipt_code,
)

CODE_RE = re.compile(r"^[A-Z]{2,4}-\d{6}-[0-9A-Z]{6}$")


def seeded_rng(seed: int) -> Callable[[int], str]:
    generator = random.Random(seed)
    return lambda length: "".join(generator.choice(ALPHABET) for _ in range(length))


def sample_codes(count: int) -> list[str]:
    """Codes over every agency prefix of the catalogue plus 2-4 letter edge prefixes."""
    prefixes = sorted(a.receipt_prefix for a in load_default_catalogue().agencies.values())
    prefixes += ["AB", "ZZZ", "XYWV", "HJKM"]
    rng = seeded_rng(20261126)
    first = date(2000, 1, 1)
    codes = []
    for index in range(count):
        day = first + timedelta(days=(index * 367) % 36500)
        codes.append(new_receipt_code(prefixes[index % len(prefixes)], day, rng=rng))
    return codes


SAMPLE = sample_codes(240)


def compact(code: str) -> str:
    return code.replace("-", "")


class TestShape:
    def test_format(self) -> None:
        code = new_receipt_code("MT", date(2026, 11, 26), rng=lambda n: "7KQ4X"[:n])
        assert code.startswith("MT-261126-7KQ4X")
        assert len(code) == len("MT-261126-7KQ4XP")
        assert CODE_RE.fullmatch(code)
        assert is_valid_receipt_code(code)

    def test_alphabet_is_unambiguous(self) -> None:
        assert len(ALPHABET) == len(set(ALPHABET)) == 32
        assert not set("ILOU") & set(ALPHABET)

    def test_entropy_of_the_random_part(self) -> None:
        assert RANDOM_LENGTH * math.log2(len(ALPHABET)) == 25

    def test_default_randomness_comes_from_secrets(self) -> None:
        codes = [new_receipt_code("TN", date(2025, 3, 10)) for _ in range(200)]
        assert all(is_valid_receipt_code(code) for code in codes)
        assert all(set(code[10:]) <= set(ALPHABET) for code in codes)
        assert len({code[10:15] for code in codes}) > 190

    def test_sample_codes_are_valid(self) -> None:
        assert len(SAMPLE) >= 200
        for code in SAMPLE:
            assert CODE_RE.fullmatch(code), code
            assert is_valid_receipt_code(code), code
            assert check_character(code[:-1]) == code[-1]

    @pytest.mark.parametrize("prefix", ["M", "MTKSV", "mt", "MO", "QL", "IT", "UB", "M1", ""])
    def test_bad_prefix(self, prefix: str) -> None:
        with pytest.raises(ValueError, match="prefix"):
            new_receipt_code(prefix, date(2025, 3, 10))

    @pytest.mark.parametrize("random_part", ["7KQ4", "7KQ4XP", "7KQ4O", "7kq4x", "7KQ4-"])
    def test_bad_random_part(self, random_part: str) -> None:
        with pytest.raises(ValueError, match="random part"):
            new_receipt_code("MT", date(2025, 3, 10), rng=lambda _: random_part)

    def test_datetime_refused(self) -> None:
        with pytest.raises(TypeError):
            new_receipt_code("MT", datetime(2025, 3, 10, 9))

    def test_check_character_refuses_foreign_characters(self) -> None:
        with pytest.raises(ValueError, match="O"):
            check_character("MO2503107KQ4X")
        with pytest.raises(ValueError, match="empty"):
            check_character("--")


class TestNormalisation:
    CODE = new_receipt_code("MT", date(2026, 11, 26), rng=lambda n: "10K4X"[:n])

    @pytest.mark.parametrize(
        "typed",
        [
            lambda c: c.lower(),
            lambda c: c.replace("-", ""),
            lambda c: c.replace("-", " "),
            lambda c: f"  {c[:2]} {c[3:6]} {c[6:9]} {c[10:13]} {c[13:]}  ",
            lambda c: c.replace("1", "I").replace("0", "O"),
            lambda c: c.replace("1", "l").lower(),
            lambda c: c.replace("-", "–"),
            lambda c: "".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in c),
        ],
    )
    def test_what_people_type_is_accepted(self, typed: Callable[[str], str]) -> None:
        spelled = typed(self.CODE)
        assert normalise_receipt_code(spelled) == self.CODE
        assert is_valid_receipt_code(spelled)

    @pytest.mark.parametrize(
        "text",
        ["", "MT", "MT-261126", "MT-261126-10K4X", "M-261126-10K4XP", "MTKSVX-261126-10K4XP"],
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(ValueError, match="not a receipt code"):
            normalise_receipt_code(text)
        assert not is_valid_receipt_code(text)

    def test_impossible_date_with_correct_check(self) -> None:
        body = "MT2502307KQ4X"  # 30 February
        code = f"MT-250230-7KQ4X{check_character(body)}"
        assert normalise_receipt_code(code) == code
        assert not is_valid_receipt_code(code)

    def test_u_is_not_guessed(self) -> None:
        assert not is_valid_receipt_code(self.CODE[:-1] + "U")


def substitutions(code: str) -> list[tuple[int, str]]:
    """Every (position, character) replacing one character of the compact code."""
    return [
        (position, replacement)
        for position, original in enumerate(code)
        for replacement in ALPHABET
        if replacement != original
    ]


class TestErrorDetection:
    """Exhaustive over the sample: nothing below may be taken for a valid code."""

    def test_every_single_substitution_is_rejected(self) -> None:
        checked = 0
        for code in SAMPLE:
            body = compact(code)
            for position, replacement in substitutions(body):
                mistyped = body[:position] + replacement + body[position + 1 :]
                assert not is_valid_receipt_code(mistyped), (code, mistyped)
                # The check character alone catches it, even where the shape would not.
                if position < len(body) - 1:
                    assert check_character(mistyped[:-1]) != mistyped[-1], (code, mistyped)
                checked += 1
        assert checked >= 200 * 14 * 31

    def test_every_adjacent_transposition_is_rejected(self) -> None:
        checked = 0
        for code in SAMPLE:
            body = compact(code)
            for position in range(len(body) - 1):
                first, second = body[position], body[position + 1]
                if first == second:
                    continue
                swapped = body[:position] + second + first + body[position + 2 :]
                assert not is_valid_receipt_code(swapped), (code, swapped)
                if position < len(body) - 2:
                    assert check_character(swapped[:-1]) != swapped[-1], (code, swapped)
                checked += 1
        assert checked > 200 * 10

    def test_every_transposition_at_any_distance_is_rejected(self) -> None:
        for code in SAMPLE:
            body = compact(code)
            for left in range(len(body)):
                for right in range(left + 1, len(body)):
                    if body[left] == body[right]:
                        continue
                    chars = list(body)
                    chars[left], chars[right] = chars[right], chars[left]
                    swapped = "".join(chars)
                    assert check_character(swapped[:-1]) != swapped[-1], (code, swapped)

    def test_swaps_in_the_displayed_form_are_rejected(self) -> None:
        for code in SAMPLE[:50]:
            for position in range(len(code) - 1):
                first, second = code[position], code[position + 1]
                if first == second or "-" in (first, second):
                    continue
                swapped = code[:position] + second + first + code[position + 2 :]
                assert not is_valid_receipt_code(swapped), (code, swapped)
