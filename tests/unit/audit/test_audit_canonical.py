from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.domain.canonical import MAX_SAFE_INTEGER, canonical_json


def test_rfc8785_sample_object() -> None:
    # The structure of RFC 8785 §3.2.2 ("numbers", "string", "literals").
    value = json.loads(
        '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        '"literals":[null,true,false]}'
    )
    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")


def test_keys_sorted_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: the emoji (surrogate pair D83D DE00) sorts before U+FB33.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_compact_utf8_without_ascii_escapes() -> None:
    value = {"tên": "Nguyễn Văn A", "b": [1, 2], "a": {"z": None, "y": True}}
    expected = '{"a":{"y":true,"z":null},"b":[1,2],"tên":"Nguyễn Văn A"}'
    assert canonical_json(value) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("\n", "\\n"),
        ("\t", "\\t"),
        ("\r", "\\r"),
        ("\b", "\\b"),
        ("\f", "\\f"),
        ("\x0f", "\\u000f"),
        ("\x1f", "\\u001f"),
        ('"', '\\"'),
        ("\\", "\\\\"),
        ("/", "/"),
        ("\x7f", "\x7f"),
        ("\u2028", "\u2028"),
    ],
)
def test_string_escaping(text: str, escaped: str) -> None:
    assert canonical_json(text) == f'"{escaped}"'.encode()


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (4.5, "4.5"),
        (0.002, "0.002"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.23e-18, "1.23e-18"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e30, "1e+30"),
        (123456789012345680000.0, "123456789012345680000"),
        (2.0**68, "295147905179352830000"),
        (9007199254740992.0, "9007199254740992"),
        (333333333.33333329, "333333333.3333333"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1e-7, "-1e-7"),
        (12, "12"),
        (-(2**53 - 1), "-9007199254740991"),
    ],
)
def test_numbers_follow_ecmascript(number: float, expected: str) -> None:
    assert canonical_json(number) == expected.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, {"x": math.nan}]])
def test_rejects_non_finite_numbers(value: object) -> None:
    with pytest.raises(ValueError, match="NaN"):
        canonical_json(value)


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 10**30])
def test_rejects_integers_a_double_cannot_hold(value: int) -> None:
    with pytest.raises(ValueError, match="integer"):
        canonical_json({"n": value})


def test_booleans_are_not_numbers() -> None:
    assert canonical_json([True, False, 1, 0]) == b"[true,false,1,0]"


@pytest.mark.parametrize(
    "value",
    [datetime(2024, 5, 1, tzinfo=UTC), {"at": datetime(2024, 5, 1, tzinfo=UTC)}, {1: "x"}, {b"x"}],
)
def test_rejects_non_json_types(value: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


@pytest.mark.parametrize("value", ["\ud800", {"\udc00": 1}])
def test_rejects_lone_surrogates(value: object) -> None:
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json(value)


def test_tuples_are_arrays() -> None:
    assert canonical_json({"a": (1, "x")}) == canonical_json({"a": [1, "x"]}) == b'{"a":[1,"x"]}'


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_output_is_json_that_reads_back_to_the_same_value(value: object) -> None:
    # Read numbers as doubles, as JCS does: a large integral float is written without a
    # fraction and would otherwise come back as an int.
    decoded = json.loads(canonical_json(value), parse_int=float)
    assert decoded == value
    # Canonical form is a fixed point: re-encoding what was read gives the same bytes.
    assert canonical_json(decoded) == canonical_json(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips_exactly(number: float) -> None:
    assert float(canonical_json(number)) == number


@given(st.dictionaries(st.text(), st.integers(min_value=0, max_value=9), max_size=6))
def test_insertion_order_does_not_matter(value: dict[str, int]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_json(reordered) == canonical_json(value)
