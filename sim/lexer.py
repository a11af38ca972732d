"""Tokens of one line of assembly source.

Labels, directives and instructions never span lines, so the lexer turns a single line into
tokens and stops at a comment (`;` or `//`, outside string and character literals). Columns are
1-based, like the positions in error messages and Sites. Problems are reported as `LineError`
(a message and a column); the assembler adds the file and line number.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from .isa import MASK64

NAME = "name"  # identifiers, dotted forms included: r1, page0.flags, .retry, .equ
NUMBER = "number"  # decimal, 0x hex, 0b binary, 'c' character literals; `value` is the int
STRING = "string"  # "double quoted"; `value` is the unescaped text
PUNCT = "punct"  # , [ ] ( ) + - * / % << >> & | ^ ~ : =


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str  # exactly as written (with quotes, for strings and characters)
    col: int  # 1-based column of the first character
    end: int  # 0-based index just past the last character, to slice the raw line
    value: int | str | None = None


class LineError(Exception):
    """A problem at `col` of the line being assembled (None: the assembler picks the column)."""

    def __init__(self, message: str, col: int | None = None):
        super().__init__(message)
        self.message = message
        self.col = col


_NAME_START = frozenset(string.ascii_letters + "_.")
_NAME_CHARS = _NAME_START | frozenset(string.digits)
_NUMBER_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_PUNCT2 = ("<<", ">>")
_PUNCT1 = frozenset(",[]()+-*/%&|^~:=")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "0": "\0"}
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+")


def comment_start(line: str) -> int:
    """Index where the line's comment starts (len(line) if none). Quotes hide `;` and `//`."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in "\"'":
            i = _skip_quoted(line, i)
            continue
        if ch == ";" or line.startswith("//", i):
            return i
        i += 1
    return n


def strip_comment(line: str) -> str:
    return line[:comment_start(line)]


def _skip_quoted(line: str, i: int) -> int:
    """Index just past the literal opened at i (or len(line) if it is unterminated)."""
    quote, i = line[i], i + 1
    while i < len(line):
        if line[i] == "\\":
            i += 2
        elif line[i] == quote:
            return i + 1
        else:
            i += 1
    return len(line)


def tokenize(line: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
        elif ch == ";" or line.startswith("//", i):
            break
        elif ch in _NAME_START:
            j = i + 1
            while j < n and line[j] in _NAME_CHARS:
                j += 1
            tokens.append(Token(NAME, line[i:j], i + 1, j))
            i = j
        elif ch in string.digits:
            j = i + 1
            while j < n and line[j] in _NUMBER_CHARS:
                j += 1
            tokens.append(Token(NUMBER, line[i:j], i + 1, j, _number(line[i:j], i + 1)))
            i = j
        elif ch == '"':
            tokens.append(_string(line, i))
            i = tokens[-1].end
        elif ch == "'":
            tokens.append(_char(line, i))
            i = tokens[-1].end
        elif line.startswith(_PUNCT2, i):
            tokens.append(Token(PUNCT, line[i:i + 2], i + 1, i + 2))
            i += 2
        elif ch in _PUNCT1:
            tokens.append(Token(PUNCT, ch, i + 1, i + 1))
            i += 1
        else:
            raise LineError(f"unexpected character {ch!r}", i + 1)
    return tokens


def _number(text: str, col: int) -> int:
    if not _NUMBER.fullmatch(text):
        raise LineError(f"bad number literal '{text}'", col)
    if text[:2] in ("0x", "0X", "0b", "0B"):
        value = int(text, 0)
    else:
        digits = text.lstrip("0") or "0"
        # 2**64 has 20 digits; checking first also avoids Python's limit on huge decimal strings.
        value = int(digits) if len(digits) <= 20 else MASK64 + 1
    if value > MASK64:
        raise LineError(f"number literal '{text}' does not fit in 64 bits", col)
    return value


def _string(line: str, start: int) -> Token:
    chars: list[str] = []
    i = start + 1
    while i < len(line):
        ch = line[i]
        if ch == '"':
            return Token(STRING, line[start:i + 1], start + 1, i + 1, "".join(chars))
        if ch == "\\":
            esc = line[i + 1:i + 2]
            if not esc:
                break  # a backslash at the end of the line: the string is unterminated
            if esc not in _ESCAPES:
                raise LineError(f"unknown escape '\\{esc}' in string (use \\\" \\\\ \\n \\t \\0)", i + 1)
            chars.append(_ESCAPES[esc])
            i += 2
        else:
            chars.append(ch)
            i += 1
    raise LineError("unterminated string (missing closing '\"')", start + 1)


def _char(line: str, start: int) -> Token:
    """'c' or an escape such as '\\n'."""
    i = start + 1
    if line[i:i + 1] == "\\" and line[i + 1:i + 2] in _ESCAPES:
        value, i = ord(_ESCAPES[line[i + 1]]), i + 2
    elif line[i:i + 1] not in ("", "'", "\\"):
        value, i = ord(line[i]), i + 1
    else:
        raise LineError("bad character literal (expected one character, like 'a' or '\\n')", start + 1)
    if line[i:i + 1] != "'":
        raise LineError("unterminated character literal (missing closing \"'\")", start + 1)
    return Token(NUMBER, line[start:i + 1], start + 1, i + 1, value)
