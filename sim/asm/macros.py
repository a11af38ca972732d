"""Macros: `.macro NAME params` ... `.endm` bodies are kept as text, expanded at each invocation
with `\\param` and `\\@` substituted (GNU as style); expansions nest up to MACRO_DEPTH_LIMIT."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..isa import OPS
from ..lexer import NAME, LineError, Token
from .source_line import Arg, Where, is_punct, missing_comma, suggest

MACRO_DEPTH_LIMIT = 32
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIRST_WORD = re.compile(r"\s*(\.?[A-Za-z_][A-Za-z0-9_]*)")


@dataclass(slots=True)
class _Macro:
    name: str
    params: tuple[str, ...]
    where: Where  # the .macro line
    col: int
    body: list[tuple[str, str]] = field(default_factory=list)  # ('file:line', text without comment)



class MacroReader:
    """The macro part of sim.assembler's _Machine."""

    def _record(self, raw: str, where: Where) -> None:
        """A line inside .macro ... .endm: kept as text, parsed only when expanded."""
        assert self.recording is not None
        m = _FIRST_WORD.match(where.text)
        word = m.group(1) if m else ""
        col = len(raw) - len(raw.lstrip()) + 1
        if word == ".endm":
            rest = where.text[len(word):].strip()
            if rest:
                raise where.error(f"unexpected '{rest}' after .endm", raw.index(rest, col - 1) + 1)
            self.macros[self.recording.name] = self.recording
            self.recording = None
        elif word == ".macro":
            r = self.recording
            raise where.error(f"nested .macro: macro {r.name} (started at {r.where.loc}) is not "
                              "closed with .endm", col)
        else:
            self.recording.body.append((where.loc, where.text))


    def _expand(self, macro: _Macro, head: Token, args: list[Arg], where: Where) -> None:
        if len(args) != len(macro.params):
            missing_comma(args)
            params = ", ".join(macro.params) if macro.params else "no parameters"
            raise LineError(f"macro {macro.name} takes {len(macro.params)} argument"
                            f"{'' if len(macro.params) == 1 else 's'} ({params}), got {len(args)}",
                            head.col)
        if self.depth >= MACRO_DEPTH_LIMIT:
            raise LineError(f"macro expansion nested deeper than {MACRO_DEPTH_LIMIT} levels "
                            f"(is {macro.name} recursive?)", head.col)
        self.asm.expansions += 1
        unique = str(self.asm.expansions)
        values = dict(zip(macro.params, (a.text for a in args)))
        col = where.col if where.col is not None else head.col
        self.depth += 1
        try:
            for body_loc, text in macro.body:
                inner = Where(where.file, where.line, where.text, col, (*where.macros, macro.name), body_loc)
                try:
                    line = substitute(text, values, unique, macro)
                except LineError as e:
                    raise inner.error(e.message) from None
                self._line(line, inner)
        finally:
            self.depth -= 1

    def _macro(self, head: Token, tokens: list[Token], where: Where) -> None:
        if where.macros:
            raise LineError(".macro inside a macro body", head.col)
        if not tokens:
            raise LineError("expected a macro name after .macro", head.col)
        name_tok = tokens[0]
        name = name_tok.text
        if name_tok.kind != NAME or not _IDENT.fullmatch(name):
            raise LineError(f"invalid macro name '{name}'", name_tok.col)
        if name in OPS:
            raise LineError(f"macro '{name}' would redefine the instruction '{name}'", name_tok.col)
        if name in self.macros:
            raise LineError(f"macro '{name}' is already defined (at {self.macros[name].where.loc})",
                            name_tok.col)
        params: list[str] = []
        want_name = True  # commas between parameters are optional, like in GNU as
        for tok in tokens[1:]:
            if is_punct(tok, ","):
                if want_name:
                    raise LineError("expected a parameter name before ','", tok.col)
                want_name = True
                continue
            if tok.kind != NAME or not _IDENT.fullmatch(tok.text):
                raise LineError(f"expected a parameter name, got '{tok.text}'", tok.col)
            if tok.text in params:
                raise LineError(f"duplicate macro parameter '{tok.text}'", tok.col)
            params.append(tok.text)
            want_name = False
        if len(tokens) > 1 and want_name:
            raise LineError("expected a parameter name after ','", tokens[-1].col)
        self.recording = _Macro(name, tuple(params), where, head.col)


def substitute(text: str, values: Mapping[str, str], unique: str, macro: _Macro) -> str:
    r"""A macro body line with `\param` replaced by its argument and `\@` by the expansion number.

    `\()` is an empty separator (`\name\()_end`). Inside string and character literals a
    backslash not followed by a parameter name is an ordinary escape such as \n.
    """
    out: list[str] = []
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if text.startswith("@", i + 1):
                out.append(unique)
                i += 2
                continue
            if text.startswith("()", i + 1):
                i += 3
                continue
            m = _IDENT.match(text, i + 1)
            if m and m.group() in values:
                out.append(values[m.group()])
                i = m.end()
                continue
            if quote is not None:
                out.append(text[i:i + 2])
                i += 2
                continue
            name = m.group() if m else text[i + 1:i + 2]
            hint = suggest("\\" + name, ["\\" + p for p in values])
            if not hint:
                hint = f" (macro {macro.name} has parameters: {', '.join(values)})" if values else \
                    f" (macro {macro.name} has no parameters)"
            raise LineError(f"unknown macro parameter '\\{name}'{hint}")
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        out.append(ch)
        i += 1
    return "".join(out)
