"""herd's litmus format (herdtools7), read into a `LitmusTest`.

    X86 SB                                  <- architecture and name
    "Fre PodWR Fre PodWR"                   <- optional doc string and Key=Value lines
    { x=0; y=0; 0:EAX=0; }                  <- the initial state (zero when omitted)
     P0          | P1          ;            <- thread columns, one row per line, ';' ends a row
     MOV [x],$1  | MOV [y],$1  ;
     MOV EAX,[y] | MOV EAX,[x] ;
    locations [x;y;]                        <- optional: more locations to show in final states
    exists (0:EAX=0 /\\ 1:EAX=0)            <- or ~exists, forall

Comments are OCaml's `(* ... *)`. The C dialect (`C NAME`, threads as `P0(int *x) { ... }`) has
the same header, init block and condition around C functions. Every error carries file:line:col.
The dialects (x86 in `sim.litmus.x86`) turn the thread code into a program; the parser only
splits it into cells with their positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LitmusError
from .condition import EXISTS, FORALL, NOT_EXISTS, Condition, Loc, mem, parse_condition, reg

ARCHES = {"X86": "x86", "X86_64": "x86", "C": "c"}
# 32- and 64-bit names of the general registers (herd's X86 and X86_64)
X86_REGISTERS = frozenset(
    "EAX EBX ECX EDX ESI EDI EBP ESP RAX RBX RCX RDX RSI RDI RBP RSP".split()
    + [f"R{i}" for i in range(8, 16)] + [f"R{i}D" for i in range(8, 16)])
_CONDITION = re.compile(r"^\s*(~\s*exists|exists|forall)\b", re.M)
_UNSUPPORTED_CONDITIONS = re.compile(r"^\s*(filter|observed|cases)\b", re.M)


@dataclass(frozen=True)
class Cell:
    """One thread's instruction on one row of the table (text stripped), with its position."""

    text: str
    line: int
    col: int


@dataclass
class InitEntry:
    """`x=1`, `0:EAX=1`, `0:EAX=x` (an address), `int x=1`, `int *y=&x`, as written."""

    target: str  # `x` or `0:EAX`
    value: str  # the value text
    ctype: str  # a C type before the name, '' if none
    line: int
    col: int


@dataclass
class LitmusTest:
    path: Path
    text: str
    arch: str  # x86 or c
    arch_name: str  # as written: X86, X86_64, C
    name: str
    init: list[InitEntry]
    threads: list[list[Cell]]  # x86: each thread's cells in order; C: empty (see `c_source`)
    # C: (the file's text with comments blanked, where the thread code starts and ends in it)
    c_source: tuple[str, int, int] = ("", 0, 0)
    locations: list[Loc] = field(default_factory=list)
    condition: Condition | None = None

    @property
    def display(self) -> str:
        return str(self.path)


class _Text:
    """The file's text with comments blanked out (positions kept) and offset -> line:col."""

    def __init__(self, path: Path, text: str, c_comments: bool):
        self.path = str(path)
        self.raw = text
        self.text = _blank_comments(text, c_comments, self)
        self.starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    def where(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.starts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.starts[mid] <= offset:
                lo = mid + 1
            else:
                hi = mid
        return lo, offset - self.starts[lo - 1] + 1

    def fail(self, offset: int, message: str):
        line, col = self.where(offset)
        raise LitmusError(message, self.path, line, col)


def _blank_comments(text: str, c_comments: bool, t: _Text) -> str:
    """Comments become spaces (newlines stay), so offsets and line numbers do not move."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        # in C, `(*x` is a dereference: a comment there opens with `(*` and a blank
        if text.startswith("(*", i) and not (c_comments and not text[i + 2:i + 3].isspace()):
            j = text.find("*)", i + 2)
            if j < 0:
                t.raw = text
                t.starts = [0] + [m.end() for m in re.finditer("\n", text)]
                t.fail(i, "unterminated comment '(*'")
            end = j + 2
        elif c_comments and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                t.starts = [0] + [m.end() for m in re.finditer("\n", text)]
                t.fail(i, "unterminated comment '/*'")
            end = j + 2
        elif c_comments and text.startswith("//", i):
            j = text.find("\n", i)
            end = n if j < 0 else j
        elif text[i] == '"':  # the doc string may hold anything
            j = text.find('"', i + 1)
            end = n if j < 0 else j + 1
            i = end
            continue
        else:
            i += 1
            continue
        for k in range(i, end):
            if out[k] != "\n":
                out[k] = " "
        i = end
    return "".join(out)


def read_litmus(path: str | Path) -> LitmusTest:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise LitmusError("no such litmus file", str(p)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise LitmusError(f"cannot read: {e}", str(p)) from None
    return parse_litmus(text, p)


def parse_litmus(text: str, path: str | Path = "<litmus>") -> LitmusTest:
    path = Path(path)
    head = re.match(r"\s*(\S+)[ \t]*([^\n]*)", text)
    if head is None or not head.group(1):
        raise LitmusError("empty file: expected a line 'ARCH NAME' such as 'X86 SB'", str(path), 1, 1)
    arch_name = head.group(1)
    arch = ARCHES.get(arch_name)
    t = _Text(path, text, c_comments=arch == "c")
    if arch is None:
        t.fail(head.start(1), f"architecture {arch_name!r} is not supported (X86, X86_64 and C are)")
    name = head.group(2).strip()
    if not name:
        t.fail(head.end(1), f"expected the test's name after {arch_name!r}")
    s = t.text

    # the init block: the first '{' after the header lines (doc string, Key=Value)
    pos = head.end()
    brace = s.find("{", pos)
    if brace < 0:
        t.fail(len(s), "expected the initial state block '{ ... }'")
    for m in re.finditer(r"[^\n]*", s[pos:brace]):
        line = m.group(0).strip()
        if line and not re.fullmatch(r'"[^"]*"|[\w.+-]+\s*=.*', line):
            t.fail(pos + m.start() + m.group(0).index(line[0]),
                   "expected the initial state block '{ ... }' after the test's name")
    close = s.find("}", brace)
    if close < 0:
        t.fail(brace, "unterminated initial state block: no '}'")
    init = _init_entries(t, brace + 1, close)

    # the condition: the last `exists`/`~exists`/`forall` at the start of a line
    bad = _UNSUPPORTED_CONDITIONS.search(s, close)
    cond_match = None
    for m in _CONDITION.finditer(s, close + 1):
        cond_match = m
    if bad and (cond_match is None or bad.start() < cond_match.start()):
        t.fail(bad.start(1), f"'{bad.group(1)}' clauses are not supported (only exists, ~exists, forall)")
    if cond_match is None:
        t.fail(len(s), "expected a final condition: exists (...), ~exists (...) or forall (...)")
    body_end = cond_match.start()
    loc_match = re.search(r"^\s*locations\b", s[close + 1:body_end], re.M)
    if loc_match:
        body_end = close + 1 + loc_match.start()

    test = LitmusTest(path=path, text=text, arch=arch, arch_name=arch_name, name=name, init=init, threads=[])
    if arch == "x86":
        test.threads = _columns(t, close + 1, body_end)
    else:
        test.c_source = (s, close + 1, body_end)

    nthreads = len(test.threads) if arch == "x86" else len(re.findall(r"\bP\d+\s*\(", s[close + 1:body_end]))

    def resolve(proc: int, name: str, offset: int) -> Loc:
        if proc >= nthreads:
            t.fail(offset, f"no thread P{proc} (this test has {nthreads})")
        if arch == "x86":
            canonical = name.upper()
            if canonical not in X86_REGISTERS:
                t.fail(offset, f"{name!r} is not an x86 register (EAX, EBX, ECX, EDX, ESI, EDI, ...)")
            return reg(proc, canonical)
        return reg(proc, name)

    def memory(name: str, offset: int) -> Loc:
        return mem(name)

    if loc_match:
        start = close + 1 + loc_match.end()
        lb = s.find("[", start)
        rb = s.find("]", lb)
        if lb < 0 or rb < 0 or rb > cond_match.start() or s[start:lb].strip():
            t.fail(start, "expected 'locations [a; b; ...]'")
        for m in re.finditer(r"[^;\s][^;]*", s[lb + 1:rb]):
            item = m.group(0).strip()
            off = lb + 1 + m.start()
            rm = re.fullmatch(r"(\d+):([A-Za-z_$][\w.$]*)", item)
            if rm:
                test.locations.append(resolve(int(rm.group(1)), rm.group(2), off))
            elif re.fullmatch(r"\[?[A-Za-z_]\w*\]?", item):
                test.locations.append(memory(item.strip("[]"), off))
            else:
                t.fail(off, f"expected a location in 'locations', got {item!r}")
        rest = s[rb + 1:cond_match.start()]
        if rest.strip():
            t.fail(rb + 1 + len(rest) - len(rest.lstrip()), "unexpected text between 'locations' and the condition")
    kind_text = re.sub(r"\s+", "", cond_match.group(1))
    kind = {"exists": EXISTS, "~exists": NOT_EXISTS, "forall": FORALL}[kind_text]
    start = cond_match.end()
    test.condition = parse_condition(kind, s[start:], lambda off: t.where(start + off), t.path,
                                     lambda proc, name, off: resolve(proc, name, start + off), memory)
    return test


def _init_entries(t: _Text, start: int, end: int) -> list[InitEntry]:
    out = []
    s = t.text
    for m in re.finditer(r"[^;]+", s[start:end]):
        item = m.group(0)
        if not item.strip():
            continue
        off = start + m.start() + len(item) - len(item.lstrip())
        item = item.strip()
        em = re.fullmatch(r"((?:[A-Za-z_]\w*\s+)*?)(\*?\s*)((?:\d+:)?[A-Za-z_$][\w.$]*)\s*(?:=\s*(.+))?", item, re.S)
        if em is None:
            t.fail(off, f"expected 'location=value' in the initial state, got {item!r}")
        ctype = (em.group(1) + em.group(2)).strip()
        value = (em.group(4) or "0").strip()
        line, col = t.where(off)
        out.append(InitEntry(em.group(3), value, ctype, line, col))
    return out


def _columns(t: _Text, start: int, end: int) -> list[list[Cell]]:
    """The thread table: a header `P0 | P1 ;`, then rows of cells separated by '|' ending in ';'."""
    s = t.text
    rows: list[list[tuple[str, int]]] = []
    pos = start
    for m in re.finditer(r"[^;]*;", s[start:end]):
        row_start = start + m.start()
        cells, cstart = [], row_start
        body = m.group(0)[:-1]
        for part in body.split("|"):
            cells.append((part, cstart))
            cstart += len(part) + 1
        rows.append(cells)
        pos = start + m.end()
    if s[pos:end].strip():
        off = pos + len(s[pos:end]) - len(s[pos:end].lstrip())
        t.fail(off, "expected ';' at the end of this row of the thread table")
    if not rows:
        t.fail(start, "expected the thread table: a header such as 'P0 | P1 ;' and rows of instructions")
    header = rows[0]
    threads: list[list[Cell]] = []
    for i, (text, off) in enumerate(header):
        name = text.strip()
        lead = off + len(text) - len(text.lstrip())
        if name != f"P{i}":
            t.fail(lead, f"expected thread P{i} in the table's header, got {name or 'nothing'!r}")
        threads.append([])
    for row in rows[1:]:
        if len(row) > len(threads):
            off = row[len(threads)][1]
            t.fail(off, f"this row has {len(row)} columns, the header has {len(threads)} threads")
        for i, (text, off) in enumerate(row):
            if text.strip():
                lead = off + len(text) - len(text.lstrip())
                line, col = t.where(lead)
                threads[i].append(Cell(text.strip(), line, col))
    return threads
