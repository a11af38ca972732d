"""The common instruction lines, read whole by one compiled regular expression.

Most lines of a program are an instruction with simple operands (`    add r1, 1`,
`.retry: ld r2, [page0.flags]  ; comment`). Tokenizing each of them into Token objects, splitting
and evaluating the operands cost the assembler most of its time (~120 us per instruction, issue
#14). FAST_LINE matches such a line in one call: an optional label, the mnemonic, operands each of
which is a name or number (maybe negated) or a memory operand `[name]`, `[name +/- name-or-number]`,
and an optional comment. Every line it matches is one the lexer tokenizes without error, with the
same label, mnemonic and operand texts: so pass 1 can queue the operand texts untokenized, and
pass 2 encodes each distinct operand text once (sim.asm.encode). Any other line (directives,
macros, strings, expressions, anything unusual) takes the general path, which also produces every
error message, so the two paths cannot disagree on what a line means.
"""

from __future__ import annotations

import re

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"  # the lexer's NAME token (dotted names included)
# decimal and hex literals that always fit in 64 bits (longer ones take the general path)
_NUMBER = r"(?:0[xX][0-9a-fA-F]{1,16}|[0-9]{1,19})"
_VALUE = rf"-?(?:{_NAME}|{_NUMBER})"
_MEMORY = rf"\[[ \t]*{_NAME}(?:[ \t]*[+-][ \t]*(?:{_NAME}|{_NUMBER}))?[ \t]*\]"
_OPERAND = rf"(?:{_VALUE}|{_MEMORY})"
_LABEL = r"[A-Za-z_][A-Za-z0-9_]*|\.[A-Za-z0-9_]+"

# groups: 1 label, 2 mnemonic, 3 operands, 4 comment
FAST_LINE = re.compile(
    rf"[ \t]*(?:({_LABEL})[ \t]*:[ \t]*)?"
    rf"(?:([A-Za-z_][A-Za-z0-9_]*)(?:[ \t]+({_OPERAND}(?:[ \t]*,[ \t]*{_OPERAND})*))?)?"
    r"[ \t]*(;.*|//.*)?")


def operand_texts(operands: str | None) -> tuple[str, ...]:
    """The operand texts of FAST_LINE's group 3, as split_args would cut them (no operand holds
    a comma, and none starts or ends with a blank)."""
    if not operands:
        return ()
    return tuple(text.strip(" \t") for text in operands.split(","))
