"""Constant expressions, evaluated at assembly time on 64-bit unsigned words.

C syntax and precedence (loosest first): `|`, `^`, `&`, `<< >>`, `+ -`, `* / %`, then the unary
`- ~ +` and parentheses. Every intermediate result wraps modulo 2**64, so `-1` is 0xffff...ffff
and `/` and `%` are unsigned, as in the simulated machine. Names are looked up through a
`resolve(token, index)` callback: `index` is the value inside `name[...]`, or None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .isa import MASK64
from .lexer import NAME, NUMBER, PUNCT, LineError, Token

Resolver = Callable[[Token, int | None], int]

_BINARY = {"|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_MAX_NESTING = 64  # parentheses and unary operators; keeps the recursion far from Python's limit


def evaluate(tokens: Sequence[Token], resolve: Resolver, *, col: int | None = None) -> int:
    """The value of the expression made of all `tokens`.

    `col` is where value errors (division by zero) are reported: the operand's column.
    """
    if not tokens:
        raise LineError("missing value", col)
    parser = _Parser(tokens, resolve, tokens[0].col if col is None else col)
    value = parser.binary(1)
    if parser.pos < len(tokens):
        extra = tokens[parser.pos]
        hint = " (missing ','?)" if extra.kind != PUNCT else ""
        raise LineError(f"unexpected '{extra.text}' after the expression{hint}", extra.col)
    return value


class _Parser:
    def __init__(self, tokens: Sequence[Token], resolve: Resolver, col: int):
        self.tokens = tokens
        self.resolve = resolve
        self.col = col
        self.pos = 0
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, wanted: str) -> Token:
        """The next token, which must exist: `wanted` describes it for the error message."""
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1]
            raise LineError(f"expected {wanted} after '{last.text}'", last.end + 1)
        self.pos += 1
        return tok

    def binary(self, min_prec: int) -> int:
        """Precedence climbing: operators binding at least as tightly as `min_prec`."""
        left = self.unary()
        while (tok := self.peek()) is not None and tok.kind == PUNCT:
            prec = _BINARY.get(tok.text)
            if prec is None or prec < min_prec:
                break
            self.pos += 1
            right = self.binary(prec + 1)
            left = self.apply(tok.text, left, right)
        return left

    def unary(self) -> int:
        tok = self.next("a value")
        if tok.kind == PUNCT and tok.text in ("-", "~", "+"):
            with _Nesting(self, tok):
                value = self.unary()
            if tok.text == "-":
                return -value & MASK64
            return ~value & MASK64 if tok.text == "~" else value
        return self.primary(tok)

    def primary(self, tok: Token) -> int:
        if tok.kind == NUMBER:
            return tok.value  # type: ignore[return-value]
        if tok.kind == NAME:
            index = None
            if (bracket := self.peek()) is not None and bracket.kind == PUNCT and bracket.text == "[":
                self.pos += 1
                with _Nesting(self, bracket):
                    index = self.binary(1)
                self.close("]", bracket)
            return self.resolve(tok, index)
        if tok.kind == PUNCT and tok.text == "(":
            with _Nesting(self, tok):
                value = self.binary(1)
            self.close(")", tok)
            return value
        raise LineError(f"expected a value, got '{tok.text}'", tok.col)

    def close(self, closer: str, opener: Token) -> None:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1]
            raise LineError(f"missing '{closer}' to match '{opener.text}'", last.end + 1)
        if tok.kind != PUNCT or tok.text != closer:
            raise LineError(f"missing '{closer}' to match '{opener.text}', got '{tok.text}'", tok.col)
        self.pos += 1

    def apply(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%") and b == 0:
            raise LineError("division by zero", self.col)
        if op == "+":
            return (a + b) & MASK64
        if op == "-":
            return (a - b) & MASK64
        if op == "*":
            return (a * b) & MASK64
        if op == "/":
            return a // b
        if op == "%":
            return a % b
        if op == "<<":
            # A shift by 64 or more leaves nothing (and must not build a huge Python int).
            return (a << b) & MASK64 if b < 64 else 0
        if op == ">>":
            return a >> b if b < 64 else 0
        if op == "&":
            return a & b
        if op == "|":
            return a | b
        return a ^ b


class _Nesting:
    """Counts nested parentheses/brackets/unary operators so that absurd input fails cleanly."""

    def __init__(self, parser: _Parser, tok: Token):
        self.parser, self.tok = parser, tok

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > _MAX_NESTING:
            raise LineError(f"expression nested too deeply (more than {_MAX_NESTING} levels)", self.tok.col)

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1
