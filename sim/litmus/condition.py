"""A litmus test's final condition: `exists`, `~exists` or `forall` over a proposition.

The proposition is herd's (herdtools7 lib/constrGen.ml): atoms `i:REG=v` (thread i's register)
and `x=v` or `[x]=v` (a memory location), combined with `/\\`, `\\/`, `~` (also `not`), `=>`,
`true`, `false` and parentheses. Printing follows herd's `dump_constraints` exactly (the same
parenthesising rules, `not (...)`, memory locations as `[x]`), so a `Condition` line reads as
herd's does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import LitmusError
from ..isa import MASK64

EXISTS, NOT_EXISTS, FORALL = "exists", "~exists", "forall"
KIND_NAMES = {EXISTS: "Allowed", NOT_EXISTS: "Forbidden", FORALL: "Required"}  # herd's pp_kind


@dataclass(frozen=True, order=True)
class Loc:
    """A register of thread `proc` (proc >= 0) or a memory location (proc == -1).

    The order (registers by thread then name, then memory) is the one herd prints states in."""

    is_mem: bool
    proc: int
    name: str

    def __str__(self) -> str:
        return f"[{self.name}]" if self.is_mem else f"{self.proc}:{self.name}"


def reg(proc: int, name: str) -> Loc:
    return Loc(False, proc, name)


def mem(name: str) -> Loc:
    return Loc(True, -1, name)


def signed(v: int) -> int:
    """A 64-bit word as herd prints it (signed decimal)."""
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


# ---- the proposition: nested tuples, cheap to evaluate
# ("atom", Loc, value) | ("not", p) | ("and", [p...]) | ("or", [p...]) | ("implies", p, q)

def evaluate(p, state: dict[Loc, int]) -> bool:
    op = p[0]
    if op == "atom":
        return (state[p[1]] & MASK64) == (p[2] & MASK64)
    if op == "not":
        return not evaluate(p[1], state)
    if op == "and":
        return all(evaluate(q, state) for q in p[1])
    if op == "or":
        return any(evaluate(q, state) for q in p[1])
    return (not evaluate(p[1], state)) or evaluate(p[2], state)


def locations(p) -> list[Loc]:
    """Every location the proposition mentions, in order of appearance."""
    if p[0] == "atom":
        return [p[1]]
    if p[0] in ("and", "or"):
        return [loc for q in p[1] for loc in locations(q)]
    return [loc for q in p[1:] for loc in locations(q)]


_PAREN = {("and", "or"), ("and", "implies"), ("or", "implies"), ("implies", "or"), ("implies", "and")}


def render(p, above: str = "top") -> str:
    """herd's ConstrGen.pp_prop."""
    op = p[0]
    if op == "atom":
        return f"{p[1]}={signed(p[2])}"
    if op == "not":
        return "not (" + render(p[1]) + ")"
    if op in ("and", "or") and not p[1]:
        return "true" if op == "and" else "false"
    if op == "and":
        s = " /\\ ".join(render(q, "and") for q in p[1])
    elif op == "or":
        s = " \\/ ".join(render(q, "or") for q in p[1])
    else:
        s = render(p[1], "implies") + " => " + render(p[2], "implies")
    return f"({s})" if (above, op) in _PAREN else s


@dataclass(frozen=True)
class Condition:
    kind: str  # EXISTS, NOT_EXISTS or FORALL
    prop: tuple

    def __str__(self) -> str:
        return f"{self.kind} ({render(self.prop)})"

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    def holds(self, positive: int, negative: int) -> bool:
        """herd's check_cond: `positive` states satisfy the proposition, `negative` do not."""
        if self.kind == EXISTS:
            return positive > 0
        if self.kind == NOT_EXISTS:
            return positive == 0
        return negative == 0

    def witnesses(self, positive: int, negative: int) -> tuple[int, int]:
        """herd's check_wit: what "Positive: P Negative: N" counts for this kind."""
        return (negative, positive) if self.kind == NOT_EXISTS else (positive, negative)


# ---- parsing

_TOKEN = re.compile(r"\s+|(?P<tok>/\\|\\/|=>|~|\(|\)|\[|\]|=|:|-?0[xX][0-9a-fA-F]+|-?\d+|[A-Za-z_$][\w.$]*)")


class _Parser:
    """Recursive descent over the condition text; `where(offset)` gives (line, col) for errors."""

    def __init__(self, text: str, where: Callable[[int], tuple[int, int]], file: str,
                 register: Callable[[int, str, int], Loc], memory: Callable[[str, int], Loc]):
        self.file, self.where = file, where
        self.register, self.memory = register, memory
        self.toks: list[tuple[str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                self.fail(pos, f"unexpected character {text[pos]!r} in the condition")
            if m.group("tok"):
                self.toks.append((m.group("tok"), m.start()))
            pos = m.end()
        self.toks.append(("", len(text)))
        self.i = 0

    def fail(self, offset: int, message: str):
        line, col = self.where(offset)
        raise LitmusError(message, self.file, line, col)

    def peek(self) -> str:
        return self.toks[self.i][0]

    def take(self, expected: str | None = None) -> tuple[str, int]:
        tok = self.toks[self.i]
        if expected is not None and tok[0] != expected:
            self.fail(tok[1], f"expected {expected!r} in the condition, got {tok[0] or 'the end'!r}")
        self.i += 1
        return tok

    def prop(self):
        left = self.disjunction()
        if self.peek() == "=>":
            self.take()
            return ("implies", left, self.prop())
        return left

    def disjunction(self):
        parts = [self.conjunction()]
        while self.peek() == "\\/":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conjunction(self):
        parts = [self.unary()]
        while self.peek() == "/\\":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def unary(self):
        tok, off = self.toks[self.i]
        if tok in ("~", "not"):
            self.take()
            return ("not", self.unary())
        if tok == "(":
            self.take()
            p = self.prop()
            self.take(")")
            return p
        if tok == "true":
            self.take()
            return ("and", [])
        if tok == "false":
            self.take()
            return ("or", [])
        return self.atom()

    def atom(self):
        tok, off = self.take()
        if tok == "[":
            name, noff = self.take()
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                self.fail(noff, f"expected a location name, got {name or 'the end'!r}")
            self.take("]")
            loc = self.memory(name, noff)
        elif re.fullmatch(r"\d+", tok) and self.peek() == ":":
            self.take(":")
            name, noff = self.take()
            if not re.fullmatch(r"[A-Za-z_$][\w.$]*", name):
                self.fail(noff, f"expected a register after '{tok}:', got {name or 'the end'!r}")
            loc = self.register(int(tok), name, off)
        elif re.fullmatch(r"[A-Za-z_]\w*", tok):
            loc = self.memory(tok, off)
        else:
            self.fail(off, f"expected a location (i:REG, x or [x]) in the condition, got {tok or 'the end'!r}")
        if self.peek() != "=":
            self.fail(self.toks[self.i][1], f"expected '=' after {loc} (the only comparison herd's conditions have)")
        self.take("=")
        value, voff = self.take()
        if not re.fullmatch(r"-?(0[xX][0-9a-fA-F]+|\d+)", value):
            self.fail(voff, f"expected an integer value for {loc}, got {value or 'the end'!r}"
                      + (" (values that are addresses are not supported)" if value[:1].isalpha() else ""))
        return ("atom", loc, int(value, 0) & MASK64)


def parse_condition(kind: str, text: str, where, file: str, register, memory) -> Condition:
    """`text` is everything after the kind keyword; `register(proc, name, offset)` and
    `memory(name, offset)` resolve (and check) locations."""
    p = _Parser(text, where, file, register, memory)
    prop = p.prop()
    tok, off = p.toks[p.i]
    if tok:
        p.fail(off, f"unexpected {tok!r} after the condition")
    return Condition(kind, prop)
