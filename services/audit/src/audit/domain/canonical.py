"""Canonical JSON bytes for hashing and signing audit records.

Every hash in the audit log (entry hashes, Merkle leaves, checkpoint signatures) is computed
over bytes produced here, so two parties holding the same audit entry must arrive at the same
bytes regardless of language, dict order or JSON library. We follow RFC 8785 (JSON
Canonicalization Scheme, JCS) for the subset of JSON the audit log carries:

* objects: keys sorted by their UTF-16 code units (JCS §3.2.3, which differs from Python's
  code point order only for keys mixing astral characters with U+E000..U+FFFF);
* no insignificant whitespace; output encoded as UTF-8, non-ASCII characters are not escaped;
* strings: only ``"``, ``\\`` and control characters are escaped, using the short forms
  (``\\n``, ``\\t``...) where JSON has them and lowercase ``\\u00xx`` otherwise;
* numbers: formatted like ECMAScript ``Number.prototype.toString`` (``1.0`` -> ``1``,
  ``1e21`` -> ``1e+21``). NaN and infinities are rejected because JSON cannot express them.
  Integers beyond +/-(2**53 - 1) are rejected: a JCS implementation reads every number as an
  IEEE-754 double, so such an integer would be hashed as a different value elsewhere.
  Conversely a large integral float is written without a fraction (``1e16`` ->
  ``10000000000000000``), as JCS does; the bytes are only ever hashed, never read back;
* lone surrogates in strings are rejected (they have no UTF-8 encoding).

Accepted Python types: ``dict`` with ``str`` keys, ``list``/``tuple``, ``str``, ``int``,
``float``, ``bool`` and ``None``. Anything else raises ``TypeError`` -- in particular
``datetime`` values must already be ISO-8601 strings before they reach an audit entry, because
a silent conversion here would let two writers hash the same instant differently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final

__all__ = ["MAX_SAFE_INTEGER", "canonical_json"]

# Largest integer an IEEE-754 double represents exactly; see the module docstring.
MAX_SAFE_INTEGER: Final = 2**53 - 1

# The C implementation escapes exactly the characters JCS requires (quote, backslash, controls)
# and leaves everything else, including U+2028/U+2029 and DEL, untouched.
# Typed to take Any: _encode checks the type by identity, which mypy does not narrow.
_encode_string: Final[Callable[[Any], str]] = json.encoder.encode_basestring


def canonical_json(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of ``obj``.

    Raises ``TypeError`` for values JSON cannot carry (including ``datetime``) and
    ``ValueError`` for NaN/infinity, unsafe integers and lone surrogates.
    """
    parts: list[str] = []
    _encode(obj, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("string contains a lone surrogate; it has no UTF-8 form") from exc


def _encode(obj: object, out: list[str]) -> None:
    # Exact type checks first: they are the hot path when verifying large exports.
    kind = type(obj)
    if kind is str:
        out.append(_encode_string(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        if -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            out.append(str(int(obj)))
        else:
            raise ValueError(f"integer {obj} is outside the exactly representable JSON range")
    elif isinstance(obj, float):
        out.append(_format_number(obj))
    elif isinstance(obj, str):
        out.append(_encode_string(str(obj)))
    elif isinstance(obj, dict):
        _encode_object(obj, out)
    elif isinstance(obj, list | tuple):
        out.append("[")
        first = True
        for item in obj:
            if not first:
                out.append(",")
            first = False
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(
            f"{kind.__name__} is not canonical JSON; convert it first "
            "(timestamps must be ISO-8601 strings)"
        )


def _encode_object(obj: dict[object, object], out: list[str]) -> None:
    ascii_keys = True
    for key in obj:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, got {type(key).__name__}")
        if ascii_keys and not key.isascii():
            ascii_keys = False
    if ascii_keys:
        # For ASCII, code point order and UTF-16 order coincide; skip the costly sort key.
        keys: list[str] = sorted(obj)  # type: ignore[arg-type]
    else:
        try:
            keys = sorted(obj, key=_utf16_sort_key)  # type: ignore[arg-type]
        except UnicodeEncodeError as exc:
            raise ValueError("object key contains a lone surrogate") from exc
    out.append("{")
    first = True
    for key in keys:
        if not first:
            out.append(",")
        first = False
        out.append(_encode_string(key))
        out.append(":")
        _encode(obj[key], out)
    out.append("}")


def _utf16_sort_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare in the same order as the UTF-16 code units JCS sorts by.
    return key.encode("utf-16-be")


def _format_number(value: float) -> str:
    """Format a float the way ECMAScript ``Number.prototype.toString`` does."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and infinity have no JSON representation")
    if value == 0:
        return "0"  # also for -0.0, as ECMAScript prints it
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, the same digits ECMAScript picks.
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    raw_digits = int_part + frac_part
    stripped = raw_digits.lstrip("0")
    # n: position of the decimal point relative to the first significant digit.
    n = len(int_part) + exponent - (len(raw_digits) - len(stripped))
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        exp = n - 1
        exp_sign = "+" if exp >= 0 else "-"
        head = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{head}e{exp_sign}{abs(exp)}"
    return sign + body
