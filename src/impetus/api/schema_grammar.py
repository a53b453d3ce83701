"""JSON Schema → GBNF, with integer bounds and JSON-valid string characters.

llama-cpp-python's converter (a port of llama.cpp's) leaves `minimum`/`maximum` out for integers
(a TODO in its code), so a strict `{"type": "integer", "maximum": 150}` let the model write 1008.
llama.cpp's C++ converter builds digit-range rules for them; this does the same in Python.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import impetus.engines.llama_ctypes  # noqa: F401  (stand-in package first: no high-level import)

_gbnf = importlib.import_module("llama_cpp.llama_grammar")

# Unbounded sides stop at 18 digits: every value fits an int64, as in llama.cpp's converter.
_LIMIT = 10**18 - 1
_BOUND_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _same_length(lo: str, hi: str) -> str:
    """Digits from `lo` to `hi` (equal lengths, lo <= hi) as a GBNF expression."""
    n = len(lo)
    if n == 0:
        return ""
    if lo[1:] == "0" * (n - 1) and hi[1:] == "9" * (n - 1):  # whole decades: no recursion
        return " ".join([f"[{lo[0]}-{hi[0]}]"] + ["[0-9]"] * (n - 1))
    if lo[0] == hi[0]:
        return f'"{lo[0]}" ' + _same_length(lo[1:], hi[1:])
    parts = [f'"{lo[0]}" ' + _same_length(lo[1:], "9" * (n - 1))]
    if int(hi[0]) - int(lo[0]) > 1:
        parts.append(" ".join([f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]"] + ["[0-9]"] * (n - 1)))
    parts.append(f'"{hi[0]}" ' + _same_length("0" * (n - 1), hi[1:]))
    return "(" + " | ".join(parts) + ")"


def _non_negative(lo: int, hi: int) -> list[str]:
    """Alternatives matching lo..hi (0 <= lo <= hi) written without leading zeros."""
    out = []
    for digits in range(len(str(lo)), len(str(hi)) + 1):
        a = max(lo, 10 ** (digits - 1) if digits > 1 else 0)
        b = min(hi, 10**digits - 1)
        if a <= b:
            out.append(_same_length(str(a), str(b)))
    return out


def integer_range(lo: int, hi: int) -> str:
    """A GBNF expression for the integers lo..hi."""
    if lo > hi:
        raise ValueError(f"minimum {lo} is above maximum {hi}")
    alts = []
    if lo < 0:
        alts += ['"-" ' + e for e in _non_negative(max(1, -hi), -lo)]
    if hi >= 0:
        alts += _non_negative(max(0, lo), hi)
    return "(" + " | ".join(alts) + ")"


def _bounds(schema: dict) -> tuple[int, int]:
    lo, hi = -_LIMIT, _LIMIT
    if isinstance(schema.get("minimum"), int | float):
        lo = math.ceil(schema["minimum"])
    if isinstance(schema.get("maximum"), int | float):
        hi = math.floor(schema["maximum"])
    ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_lo is True:  # draft 4: a flag on minimum
        lo += 1
    elif isinstance(ex_lo, int | float) and not isinstance(ex_lo, bool):
        lo = max(lo, math.floor(ex_lo) + 1)
    if ex_hi is True:
        hi -= 1
    elif isinstance(ex_hi, int | float) and not isinstance(ex_hi, bool):
        hi = min(hi, math.ceil(ex_hi) - 1)
    return max(lo, -_LIMIT), min(hi, _LIMIT)


# JSON forbids raw control characters inside strings; the Python port's `char` lets them through
# (a sampled newline inside "city" broke json.loads), so use llama.cpp's C++ rule.
_JSON_CHAR = _gbnf.BuiltinRule(
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])',
    [],
)


class SchemaConverter(_gbnf.SchemaConverter):
    def _add_primitive(self, name: str, rule: _gbnf.BuiltinRule) -> str:
        return super()._add_primitive(name, _JSON_CHAR if name == "char" else rule)

    def visit(self, schema: Any, name: str) -> str:
        if (
            isinstance(schema, dict)
            and schema.get("type") == "integer"
            and any(k in schema for k in _BOUND_KEYS)
        ):
            lo, hi = _bounds(schema)
            rule_name = name + "-" if name in _gbnf.RESERVED_NAMES else name or "root"
            # "space" is one of the rules every converter starts with, as its `integer` uses it.
            return self._add_rule(rule_name, f"{integer_range(lo, hi)} space")
        return super().visit(schema, name)
