"""C integer arithmetic on 64-bit words: constant folding with C's promotions, conversions and widths.

The same rules the generated code follows at run time (sim.isa's signed and unsigned ops), so a
folded constant and a computed value never differ.
"""

from __future__ import annotations

from ..isa import MASK64
from .ctype import INT, LONG, UINT, ULONG, CType, arith, is_unsigned, promote, wrap

SIGN = 1 << 63


def signed(x: int) -> int:
    x &= MASK64
    return x - (1 << 64) if x & SIGN else x


def c_div(a: int, b: int) -> int:
    """C's truncating division of two signed values."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    return a - b * c_div(a, b)


COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


def fold(op: str, a: int, b: int, ta: CType, tb: CType) -> tuple[int, CType]:
    """(value, type) of `a op b`; raises ZeroDivisionError for / and % by zero."""
    if op in ("<<", ">>"):
        rt = promote(ta) if ta.is_scalar else LONG
        n = b & 63
        a = wrap(a, rt)
        if op == "<<":
            return wrap(a << n, rt), rt
        return wrap((a & MASK64) >> n if is_unsigned(rt) else signed(a) >> n, rt), rt
    rt = arith(ta, tb)
    uns = is_unsigned(rt)
    a, b = wrap(a, rt), wrap(b, rt)
    x, y = (a & MASK64, b & MASK64) if uns else (signed(a), signed(b))
    if op in COMPARISONS:
        r = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[op]
        return int(r), INT
    if op == "+":
        r = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op == "/":
        if y == 0:
            raise ZeroDivisionError
        r = x // y if uns else c_div(x, y)
    elif op == "%":
        if y == 0:
            raise ZeroDivisionError
        r = x % y if uns else c_mod(x, y)
    elif op == "&":
        r = x & y
    elif op == "|":
        r = x | y
    elif op == "^":
        r = x ^ y
    elif op == "&&":
        return int(bool(x) and bool(y)), INT
    elif op == "||":
        return int(bool(x) or bool(y)), INT
    else:
        raise KeyError(op)
    return wrap(r, rt), rt


def literal_type(text: str, value: int) -> CType:
    """The type of an integer literal, as C gives it: the first of int, (unsigned int for hex and
    octal), long, unsigned long that holds the value, as its suffix allows."""
    t = text.lower()
    suffix = ""
    while t and t[-1] in "ul":
        suffix = t[-1] + suffix
        t = t[:-1]
    decimal = not (len(t) > 1 and t.startswith("0"))
    candidates = [INT, UINT, LONG, ULONG] if not decimal else [INT, LONG, ULONG]
    if "u" in suffix:
        candidates = [UINT, ULONG]
    if "l" in suffix:
        candidates = [c for c in candidates if c.bits == 64]
    for c in candidates:
        limit = 1 << (c.bits - (0 if is_unsigned(c) else 1))
        if value < limit:
            return c
    return ULONG


def parse_int(text: str) -> tuple[int, bool]:
    """(value, unsigned) of a C integer literal such as 0x10UL, 017, 42."""
    t = text.lower()
    suffix = ""
    while t and t[-1] in "ul":
        suffix = t[-1] + suffix
        t = t[:-1]
    if t.startswith("0x"):
        v = int(t[2:], 16)
    elif t.startswith("0b"):
        v = int(t[2:], 2)
    elif len(t) > 1 and t.startswith("0"):
        v = int(t[1:], 8)
    else:
        v = int(t)
    unsigned = "u" in suffix or v > (1 << 63) - 1
    if v > MASK64:
        raise ValueError("integer constant is too large for 64 bits")
    return v, unsigned


_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12,
            "v": 11, "?": 63}


def parse_char(text: str) -> int:
    """The value of a character literal such as 'a' or '\\n'."""
    body = text[1:-1]
    if body.startswith("\\"):
        e = body[1:]
        if e.startswith("x"):
            return int(e[1:], 16)
        if e and e[0] in "01234567" and len(e) > 1:
            return int(e, 8)
        if e in _ESCAPES:
            return _ESCAPES[e]
        raise ValueError(f"unknown escape {body!r}")
    if len(body) != 1:
        raise ValueError(f"multi-character constant {text}")
    return ord(body)
