"""The scenario invariant language: expressions over named memory words and bits.

    not (page0.flags:PG_dirty and req0.wb_flags:PG_CLEAN)
    counter <= 100 and (state & 3) != 2
    done0 == 1 and done1 == 1

Operands
    page0.flags        the word's value (a symbol, `x[3]` for an array element)
    page0.flags:PG_dirty   that bit of the word, 0 or 1 (a bit name from bits.parquet, or a number)
    42, 0x2a, 0b101    integer literals; true and false are 1 and 0
Operators, loosest first (as in Python)
    or    and    not    == != < <= > >=    |    ^    &    << >>    + -    unary - ~    ( )
Values are 64-bit unsigned words: + - and unary - wrap around, comparisons are unsigned, `and`,
`or` and `not` treat any non-zero value as true, and comparisons give 1 or 0. The invariant holds
when the expression is non-zero. Comparisons do not chain (write `a < b and b < c`).

Templates: an invariant with `for = "i in 0..3"` stands for one instance per value of i
(0, 1, 2 and 3: the range includes both ends; `0..<4` excludes the end; `[0, 2, 5]` lists values),
named `name[i]`, with `{i}` replaced in the expression. Several loops separated by commas give
every combination: `for = "i in 0..1, j in 0..2"`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from .errors import QueryError

MASK = (1 << 64) - 1

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:(?:\.[A-Za-z_][A-Za-z0-9_]*)|(?:\[\s*[0-9]+\s*\]))*)
  | (?P<op>==|!=|<=|>=|<<|>>|[<>()&|^+\-~:])
""", re.VERBOSE)

KEYWORDS = {"and", "or", "not", "true", "false"}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class Operand:
    symbol: str
    bit: str | None  # a bit name or a number as written, None for the whole word

    @property
    def text(self) -> str:
        return self.symbol if self.bit is None else f"{self.symbol}:{self.bit}"


@dataclass
class Invariant:
    name: str
    text: str
    tree: tuple
    operands: list[Operand]


class _Parser:
    def __init__(self, text: str, where: str):
        self.text = text
        self.where = where
        self.tokens: list[tuple[str, str, int]] = []  # kind, value, column (1-based)
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(f"unexpected character {text[pos]!r}", pos + 1)
            kind = m.lastgroup
            if kind != "ws":
                value = m.group(kind)
                if kind == "name" and value in KEYWORDS:
                    kind = "kw"
                self.tokens.append((kind, value, pos + 1))
            pos = m.end()
        self.tokens.append(("end", "", len(text) + 1))
        self.i = 0
        self.operands: list[Operand] = []

    def fail(self, message: str, col: int):
        raise QueryError(f"{message} (col {col} of {self.text!r})", self.where)

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] in ("op", "kw"):
            self.i += 1
            return True
        return False

    def parse(self) -> tuple:
        tree = self.expr()
        kind, value, col = self.peek()
        if kind != "end":
            self.fail(f"unexpected {value!r}", col)
        return tree

    def expr(self) -> tuple:
        node = self.and_()
        while self.accept("or"):
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.not_()
        while self.accept("and"):
            node = ("and", node, self.not_())
        return node

    def not_(self) -> tuple:
        if self.accept("not"):
            return ("not", self.not_())
        return self.comparison()

    def comparison(self) -> tuple:
        node = self.binary(0)
        kind, value, col = self.peek()
        if kind == "op" and value in COMPARISONS:
            self.take()
            node = (value, node, self.binary(0))
            kind, value, col = self.peek()
            if kind == "op" and value in COMPARISONS:
                self.fail("comparisons do not chain; use `and`", col)
        return node

    LEVELS = (("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"))

    def binary(self, level: int) -> tuple:
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while True:
            kind, value, _ = self.peek()
            if kind == "op" and value in self.LEVELS[level]:
                self.take()
                node = (value, node, self.binary(level + 1))
            else:
                return node

    def unary(self) -> tuple:
        if self.accept("-"):
            return ("neg", self.unary())
        if self.accept("~"):
            return ("~", self.unary())
        return self.atom()

    def atom(self) -> tuple:
        kind, value, col = self.take()
        if kind == "num":
            return ("lit", int(value.replace("_", ""), 0) & MASK)
        if kind == "kw" and value in ("true", "false"):
            return ("lit", 1 if value == "true" else 0)
        if kind == "op" and value == "(":
            node = self.expr()
            k, v, c = self.take()
            if v != ")":
                self.fail("expected ')'", c)
            return node
        if kind == "name":
            symbol = re.sub(r"\s+", "", value)
            bit = None
            if self.peek()[1] == ":":
                self.take()
                k, v, c = self.take()
                if k not in ("name", "num") or (k == "name" and "." in v):
                    self.fail("expected a bit name or number after ':'", c)
                bit = v
            op = Operand(symbol, bit)
            self.operands.append(op)
            return ("word", op)
        if kind == "end":
            self.fail("unexpected end of expression", col)
        self.fail(f"unexpected {value!r}", col)
        raise AssertionError  # unreachable


def parse(text: str, name: str = "") -> Invariant:
    p = _Parser(text, f"invariant '{name}'" if name else "invariant")
    tree = p.parse()
    seen: dict[Operand, None] = {}
    for op in p.operands:
        seen.setdefault(op, None)
    return Invariant(name, text, tree, list(seen))


_RANGE = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(?:(-?\d+)\s*\.\.(<?)\s*(-?\d+)|\[([^\]]*)\])\s*$")


def expand(name: str, expr: str, loops: str | None) -> list[tuple[str, str]]:
    """A declared invariant -> its instances (name, expression text)."""
    if not loops:
        return [(name, expr)]
    variables, values = [], []
    for part in _split_loops(loops):
        m = _RANGE.match(part)
        if not m:
            raise QueryError(f"cannot read for = {loops!r} (expected `i in 0..3`, `i in 0..<4` "
                             f"or `i in [0, 2]`)", f"invariant '{name}'")
        var, lo, excl, hi, listed = m.groups()
        if listed is not None:
            vals = [v.strip() for v in listed.split(",") if v.strip()]
        else:
            lo_i, hi_i = int(lo), int(hi)
            vals = [str(v) for v in range(lo_i, hi_i if excl else hi_i + 1)]
        variables.append(var)
        values.append(vals)
    out = []
    for combo in itertools.product(*values):
        text = expr
        for var, val in zip(variables, combo):
            text = text.replace("{" + var + "}", val)
        if "{" in text:
            raise QueryError(f"{text!r} still has a placeholder after expanding for = {loops!r}",
                             f"invariant '{name}'")
        out.append((f"{name}[{','.join(combo)}]", text))
    return out


def _split_loops(loops: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in loops:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


# ------------------------------------------------------------------------------------------------
# evaluation, vectorised over states


def evaluate(tree: tuple, values: dict[Operand, np.ndarray], n: int) -> np.ndarray:
    """The expression's value (uint64) for n states; values[operand] are the operands' values."""
    op = tree[0]
    if op == "lit":
        return np.full(n, tree[1], dtype=np.uint64)
    if op == "word":
        return values[tree[1]]
    if op == "not":
        return (evaluate(tree[1], values, n) == 0).astype(np.uint64)
    if op == "neg":
        return np.uint64(0) - evaluate(tree[1], values, n)
    if op == "~":
        return ~evaluate(tree[1], values, n)
    a = evaluate(tree[1], values, n)
    b = evaluate(tree[2], values, n)
    with np.errstate(over="ignore"):
        if op == "and":
            return ((a != 0) & (b != 0)).astype(np.uint64)
        if op == "or":
            return ((a != 0) | (b != 0)).astype(np.uint64)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "&":
            return a & b
        if op == "|":
            return a | b
        if op == "^":
            return a ^ b
        if op in ("<<", ">>"):
            big = b >= 64
            sh = np.where(big, 0, b)
            r = (a << sh) if op == "<<" else (a >> sh)
            return np.where(big, np.uint64(0), r)
        cmp = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
               ">": np.greater, ">=": np.greater_equal}[op]
        return cmp(a, b).astype(np.uint64)


def evaluate_one(tree: tuple, values: dict[Operand, int]) -> int:
    """The expression's value for one state (plain Python ints; used by the tests' reference)."""
    arr = evaluate(tree, {k: np.array([v], dtype=np.uint64) for k, v in values.items()}, 1)
    return int(arr[0])
