"""One line of assembly source: where it is (for Sites and errors) and its operands."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import AsmError
from ..isa import NUM_REGS, REG_ALIASES
from ..lexer import NAME, PUNCT, LineError, Token

REGISTERS: dict[str, int] = {f"r{n}": n for n in range(NUM_REGS)} | REG_ALIASES


def suggest(name: str, candidates: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest candidates, or ''."""
    matches = difflib.get_close_matches(name, list(candidates), n=3)
    if not matches:
        return ""
    quoted = [f"'{m}'" for m in matches]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"; did you mean {listed}?"


def count(n: int) -> str:
    return "no operands" if n == 0 else "1 operand" if n == 1 else f"{n} operands"


def is_punct(tok: Token, punct: str) -> bool:
    return tok.kind == PUNCT and tok.text == punct


@dataclass(frozen=True, slots=True)
class Where:
    """The source line being assembled, for Sites and error messages.

    Lines produced by a macro expansion keep the invocation's file, line, text and column (`col`),
    so that Sites and errors point at code the user wrote; `macros` is the expansion chain
    (outermost first) and `body` the 'file:line' of the macro line being expanded.
    """

    file: str
    line: int
    text: str
    col: int | None = None
    macros: tuple[str, ...] = ()
    body: str = ""

    def error(self, message: str, col: int | None = None) -> AsmError:
        if not self.macros:
            return AsmError(message, self.file, self.line, col)
        names = self.macros
        if len(names) > 6:  # runaway recursion: the ends of the chain say enough
            names = (*names[:3], "...", *names[-2:])
        chain = " -> ".join(names)
        return AsmError(f"in expansion of macro {chain}: {message} (macro line {self.body})",
                        self.file, self.line, self.col)

    @property
    def loc(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Arg:
    """One comma-separated operand: its tokens, its source text and column."""

    tokens: tuple[Token, ...]
    text: str
    col: int


def split_args(line: str, tokens: Sequence[Token]) -> list[Arg]:
    """Split operand tokens on commas that are not inside () or []."""
    args: list[Arg] = []
    current: list[Token] = []
    depth = 0
    for tok in tokens:
        if tok.kind == PUNCT:
            if tok.text in ("(", "["):
                depth += 1
            elif tok.text in (")", "]"):
                depth = max(0, depth - 1)
            elif tok.text == "," and depth == 0:
                if not current:
                    raise LineError("missing operand before ','", tok.col)
                args.append(_arg(line, current))
                current = []
                continue
        current.append(tok)
    if current:
        args.append(_arg(line, current))
    elif args:
        raise LineError("missing operand after ','", tokens[-1].col)
    return args


def _arg(line: str, tokens: list[Token]) -> Arg:
    return Arg(tuple(tokens), line[tokens[0].col - 1:tokens[-1].end], tokens[0].col)



def missing_comma(args: Sequence[Arg]) -> None:
    """After a wrong operand count: point at two operands written without a comma between."""
    for arg in args:
        for a, b in zip(arg.tokens, arg.tokens[1:]):
            if (a.kind != PUNCT or a.text in (")", "]")) and b.kind != PUNCT:
                raise LineError(f"unexpected '{b.text}' after '{a.text}' (missing ','?)", b.col)




def register(arg: Arg) -> int:
    tok = arg.tokens[0]
    if tok.kind == NAME and tok.text in REGISTERS:
        no_junk(arg, 1, "register")
        return REGISTERS[tok.text]
    hint = suggest(tok.text, REGISTERS) if tok.kind == NAME and len(arg.tokens) == 1 else ""
    raise LineError(f"expected a register, got '{arg.text}'{hint}", arg.col)


def no_junk(arg: Arg, used: int, what: str) -> None:
    """Complain about tokens after the first `used` ones of an operand."""
    if len(arg.tokens) > used:
        tok = arg.tokens[used]
        hint = " (missing ','?)" if tok.kind != PUNCT else ""
        raise LineError(f"unexpected '{tok.text}' after the {what}{hint}", tok.col)
