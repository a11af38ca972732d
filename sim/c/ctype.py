"""C types of the subset: every scalar is stored in one 64-bit word, and sizes count words.

Storage is one word per scalar, but integer types have C's widths on x86-64 (LP64): `char` 8 bits,
`short` 16, `int` 32, `long` and `long long` 64 (the kernel's `u8..u64`, `s8..s64` are typedefs of
them), pointers 64. A value of a narrower type is always held as C holds it, truncated to its width
and sign- or zero-extended to the word (`u8 x = 255; x++` gives 0; `int` arithmetic wraps at 32
bits); arithmetic follows C's integer promotions and usual arithmetic conversions (`promote`,
`arith`). `_Bool` holds 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CType:
    size = 1

    @property
    def is_scalar(self) -> bool:
        return isinstance(self, (Int, Ptr))


@dataclass(frozen=True, eq=True)
class Void(CType):
    size = 0

    def __str__(self) -> str:
        return "void"


@dataclass(frozen=True, eq=True)
class Int(CType):
    signed: bool
    name: str = "long"
    is_bool: bool = False
    bits: int = 64  # C's width (the word holds the value truncated to it and extended)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=True)
class Ptr(CType):
    to: CType

    def __str__(self) -> str:
        return f"{self.to} *"


@dataclass(frozen=True, eq=True)
class Array(CType):
    of: CType
    n: int | None  # None: size not known (an `extern` or a parameter)

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.of.size * (self.n or 0)

    def __str__(self) -> str:
        return f"{self.of}[{'' if self.n is None else self.n}]"


@dataclass(eq=False)
class Field:
    name: str
    type: CType
    offset: int


@dataclass(eq=False)
class Struct(CType):
    """A struct (or union) tag; `fields` is None until the definition is seen."""

    tag: str
    union: bool = False
    fields: dict[str, Field] | None = None
    where: str = ""

    @property
    def size(self) -> int:  # type: ignore[override]
        if not self.fields:
            return 0
        if self.union:
            return max(f.type.size for f in self.fields.values())
        return sum(f.type.size for f in self.fields.values())

    def __str__(self) -> str:
        return f"{'union' if self.union else 'struct'} {self.tag}"


@dataclass(frozen=True, eq=True)
class Func(CType):
    ret: CType
    params: tuple[CType, ...] = field(default=())
    variadic: bool = False
    unknown_params: bool = False  # `f()`: no prototype

    def __str__(self) -> str:
        return f"{self.ret} (*)({', '.join(map(str, self.params))})"


LONG = Int(True, "long")
ULONG = Int(False, "unsigned long")
INT = Int(True, "int", bits=32)
UINT = Int(False, "unsigned int", bits=32)
BOOL = Int(False, "_Bool", True, bits=1)
VOID = Void()

SIGNED_NAMES = {"char", "short", "int", "long", "signed", "long long", "s8", "s16", "s32", "s64",
                "ssize_t", "loff_t", "ptrdiff_t", "intptr_t", "pid_t", "int8_t", "int16_t",
                "int32_t", "int64_t", "__s8", "__s16", "__s32", "__s64"}


def int_type(words: list[str]) -> Int | None:
    """The Int for a list of type specifier words such as ['unsigned', 'long'], or None."""
    ws = [w for w in words if w not in ("const", "volatile")]
    if ws in (["_Bool"], ["bool"]):
        return BOOL
    unsigned = "unsigned" in ws
    rest = [w for w in ws if w not in ("unsigned", "signed")]
    if not rest:
        rest = ["int"]
    if all(w in ("char", "short", "int", "long") for w in rest):
        bits = 8 if "char" in rest else 16 if "short" in rest else 64 if "long" in rest else 32
        return Int(not unsigned, " ".join(ws), bits=bits)
    return None


def decay(t: CType) -> CType:
    """Arrays used as values become pointers to their first element; functions, pointers to them."""
    if isinstance(t, Array):
        return Ptr(t.of)
    if isinstance(t, Func):
        return Ptr(t)
    return t


def is_unsigned(t: CType) -> bool:
    return isinstance(t, Ptr) or (isinstance(t, Int) and not t.signed)


def promote(t: CType) -> CType:
    """C's integer promotion: a type narrower than int (and _Bool) becomes int."""
    if isinstance(t, Int) and t.bits < 32:
        return INT
    return t


def arith(a: CType, b: CType) -> Int:
    """C's usual arithmetic conversions (LP64): after promotion the wider type wins, and at equal
    width the unsigned one. Pointers count as unsigned long."""
    a, b = promote(a), promote(b)
    wa = a.bits if isinstance(a, Int) else 64
    wb = b.bits if isinstance(b, Int) else 64
    width = max(wa, wb)
    uns = (wa == width and is_unsigned(a)) or (wb == width and is_unsigned(b))
    if width == 32:
        return UINT if uns else INT
    return ULONG if uns else LONG


def is_narrow(t: CType) -> bool:
    """An integer type narrower than the word (not _Bool, which conversions make 0 or 1)."""
    return isinstance(t, Int) and not t.is_bool and t.bits < 64


def wrap(v: int, t: CType) -> int:
    """The word that holds value v converted to type t (truncated, then sign- or zero-extended)."""
    v &= (1 << 64) - 1
    if not is_narrow(t):
        return v
    v &= (1 << t.bits) - 1
    if t.signed and v >> (t.bits - 1):
        v -= 1 << t.bits
    return v & ((1 << 64) - 1)


def needs_wrap(frm: CType, to: CType) -> bool:
    """Does converting a value of type frm (held as C holds it) to type to change its word?"""
    if not is_narrow(to):
        return False
    if isinstance(frm, Int) and frm.is_bool:
        return False
    fb = frm.bits if isinstance(frm, Int) else 64
    fs = isinstance(frm, Int) and frm.signed
    if fb < to.bits:
        return fs and not to.signed  # a negative value of a narrower signed type
    return not (fb == to.bits and fs == to.signed)


def pointee_size(t: CType) -> int:
    if isinstance(t, Ptr):
        return max(1, t.to.size) if not isinstance(t.to, (Void, Func)) else 1
    return 1
