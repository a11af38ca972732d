"""C types of the subset: every scalar is one 64-bit word, and sizes count words.

Integer types differ only in signedness (`char`, `short`, `int`, `long`, `long long` and the
kernel's `s8..s64` are signed 64-bit words; their `unsigned` forms, `u8..u64`, `size_t` and
pointers are unsigned 64-bit words). `_Bool` holds 0 or 1.
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
BOOL = Int(False, "_Bool", True)
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
        return Int(not unsigned, " ".join(ws))
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


def arith(a: CType, b: CType) -> Int:
    """The usual arithmetic conversions at one width: unsigned if either side is."""
    if is_unsigned(a) or is_unsigned(b):
        return ULONG
    return LONG


def pointee_size(t: CType) -> int:
    if isinstance(t, Ptr):
        return max(1, t.to.size) if not isinstance(t.to, (Void, Func)) else 1
    return 1
