"""State expressions: the invariant language, evaluated on the live machine.

The grammar is the one `queries.invariants` documents (the scenario's `[[invariants]]` and
`[[checks]]` share it): `counter == 2 * N`, `not (page0.flags:PG_dirty and req0.wb_flags:PG_CLEAN)`.
The recording side evaluates it vectorised over recorded states; this side evaluates one state of
a running System, after assembly, with names resolved to addresses once. The queries floor may not
import the simulator (a run directory is all it needs), so the parser lives on both floors; a test
(tests/sim/test_checks.py) holds them to the same trees.

On top of the query language, a name may also be a scenario parameter or an assembler constant
(`N`, `PG_dirty`), so that a check can say `counter == 2 * N`; `*`, `/` and `%` are allowed
(unsigned, wrapping; division by zero gives 0 rather than stopping a run).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from .errors import ScenarioError

MASK = (1 << 64) - 1

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:(?:\.[A-Za-z_][A-Za-z0-9_]*)|(?:\[\s*[0-9]+\s*\]))*)
  | (?P<op>==|!=|<=|>=|<<|>>|[<>()&|^+\-~:*/%])
""", re.VERBOSE)

KEYWORDS = {"and", "or", "not", "true", "false"}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
LEVELS = (("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/", "%"))


@dataclass(frozen=True)
class Operand:
    symbol: str
    bit: str | None  # a bit name or number as written; None for the whole word

    @property
    def text(self) -> str:
        return self.symbol if self.bit is None else f"{self.symbol}:{self.bit}"


class ExprError(ScenarioError):
    """A state expression that does not parse or names something unknown."""


class _Parser:
    def __init__(self, text: str, where: str, file: str | None):
        self.text, self.where, self.file = text, where, file
        self.tokens: list[tuple[str, str, int]] = []
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
        raise ExprError(f"{self.where}: {message} (col {col} of {self.text!r})", self.file)

    def peek(self):
        return self.tokens[self.i]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        kind, v, _ = self.peek()
        if v == value and kind in ("op", "kw"):
            self.i += 1
            return True
        return False

    def parse(self) -> tuple:
        tree = self.expr()
        kind, value, col = self.peek()
        if kind != "end":
            self.fail(f"unexpected {value!r}", col)
        return tree

    def expr(self):
        node = self.and_()
        while self.accept("or"):
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while self.accept("and"):
            node = ("and", node, self.not_())
        return node

    def not_(self):
        if self.accept("not"):
            return ("not", self.not_())
        return self.comparison()

    def comparison(self):
        node = self.binary(0)
        kind, value, col = self.peek()
        if kind == "op" and value in COMPARISONS:
            self.take()
            node = (value, node, self.binary(0))
            kind, value, col = self.peek()
            if kind == "op" and value in COMPARISONS:
                self.fail("comparisons do not chain; use `and`", col)
        return node

    def binary(self, level: int):
        if level == len(LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while True:
            kind, value, _ = self.peek()
            if kind == "op" and value in LEVELS[level]:
                self.take()
                node = (value, node, self.binary(level + 1))
            else:
                return node

    def unary(self):
        if self.accept("-"):
            return ("neg", self.unary())
        if self.accept("~"):
            return ("~", self.unary())
        return self.atom()

    def atom(self):
        kind, value, col = self.take()
        if kind == "num":
            return ("lit", int(value.replace("_", ""), 0) & MASK)
        if kind == "kw" and value in ("true", "false"):
            return ("lit", 1 if value == "true" else 0)
        if kind == "op" and value == "(":
            node = self.expr()
            _, v, c = self.take()
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


def parse(text: str, where: str = "expression", file: str | None = None) -> tuple[tuple, list[Operand]]:
    """(tree, operands in order of first use). The tree's shape is queries.invariants' one."""
    p = _Parser(text, where, file)
    tree = p.parse()
    return tree, list(dict.fromkeys(p.operands))


_RANGE = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(?:(-?\d+)\s*\.\.(<?)\s*(-?\d+)|\[([^\]]*)\])\s*$")


def expand(name: str, expr: str, loops: str | None, where: str = "", file: str | None = None) -> list[tuple[str, str]]:
    """A declared entry with `for = "i in 0..3"` -> its instances (name[i], expression text)."""
    if not loops:
        return [(name, expr)]
    variables, values = [], []
    for part in [p for p in re.split(r",(?![^\[]*\])", loops) if p.strip()]:
        m = _RANGE.match(part)
        if not m:
            raise ExprError(f"{where}: cannot read for = {loops!r} (expected `i in 0..3`, `i in 0..<4` "
                            f"or `i in [0, 2]`)", file)
        var, lo, excl, hi, listed = m.groups()
        if listed is not None:
            vals = [v.strip() for v in listed.split(",") if v.strip()]
        else:
            vals = [str(v) for v in range(int(lo), int(hi) if excl else int(hi) + 1)]
        variables.append(var)
        values.append(vals)
    out = []
    for combo in itertools.product(*values):
        text = expr
        for var, val in zip(variables, combo):
            text = text.replace("{" + var + "}", val)
        if "{" in text:
            raise ExprError(f"{where}: {text!r} still has a placeholder after expanding for = {loops!r}", file)
        out.append((f"{name}[{','.join(combo)}]", text))
    return out


def _div(a: int, b: int) -> int:
    return a // b if b else 0


def _mod(a: int, b: int) -> int:
    return a % b if b else 0


_BINOPS = {
    "+": lambda a, b: (a + b) & MASK, "-": lambda a, b: (a - b) & MASK, "*": lambda a, b: (a * b) & MASK,
    "/": _div, "%": _mod, "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
    "<<": lambda a, b: (a << b) & MASK if b < 64 else 0, ">>": lambda a, b: a >> b if b < 64 else 0,
    "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b), "<": lambda a, b: int(a < b),
    "<=": lambda a, b: int(a <= b), ">": lambda a, b: int(a > b), ">=": lambda a, b: int(a >= b),
}


def bind(tree: tuple, resolve) -> tuple:
    """The tree with every operand replaced by `resolve(operand)`: ("lit", value) for a constant,
    ("mem", mem, addr, shift, mask) for a word or bit of a machine's memory."""
    op = tree[0]
    if op == "word":
        return resolve(tree[1])
    if op == "lit":
        return tree
    return (op, *(bind(t, resolve) for t in tree[1:]))


def evaluate(tree: tuple) -> int:
    """The value of a bound tree on the machine's memory now."""
    op = tree[0]
    if op == "mem":
        return (tree[1][tree[2]] >> tree[3]) & tree[4]
    if op == "lit":
        return tree[1]
    if op == "not":
        return int(evaluate(tree[1]) == 0)
    if op == "neg":
        return -evaluate(tree[1]) & MASK
    if op == "~":
        return ~evaluate(tree[1]) & MASK
    if op == "and":
        return int(evaluate(tree[1]) != 0 and evaluate(tree[2]) != 0)
    if op == "or":
        return int(evaluate(tree[1]) != 0 or evaluate(tree[2]) != 0)
    return _BINOPS[op](evaluate(tree[1]), evaluate(tree[2]))


def addresses(tree: tuple) -> set[tuple[int, int]]:
    """(id of the memory list, address) of every memory operand of a bound tree."""
    if tree[0] == "mem":
        return {(id(tree[1]), tree[2])}
    if tree[0] == "lit":
        return set()
    out: set[tuple[int, int]] = set()
    for t in tree[1:]:
        out |= addresses(t)
    return out
