"""herd's C dialect (the Linux kernel's tools/memory-model litmus tests), compiled by sim.c.

    C SB+poonceonces
    { }
    P0(int *x, int *y) { int r0; WRITE_ONCE(*x, 1); r0 = READ_ONCE(*y); }
    P1(int *x, int *y) { int r0; WRITE_ONCE(*y, 1); r0 = READ_ONCE(*x); }
    exists (0:r0=0 /\\ 1:r0=0)

The test becomes one C translation unit, line for line: every line that is not thread code is
blanked (the first carries the shared variables, one global per parameter name, and the globals
that keep the observed locals); `P0(int *x, int *y) {` becomes `void __litmus_P0(int *x, int *y) {`
on the same line, and just before its closing brace the locals named in the condition are copied
to globals (`__litmus_0_r0 = r0;`). Thread Pi's entry is `void Pi(void) { __litmus_Pi(&x, &y); }`,
appended after the last line. So the C front-end's errors and every site name the litmus file's
own lines. READ_ONCE, WRITE_ONCE, smp_mb/rmb/wmb, smp_load_acquire, smp_store_release, xchg,
cmpxchg, spin_lock/unlock and atomic_* are the front-end's kernel API (data/include); their
_relaxed/_acquire/_release variants compile as the fully ordered forms, as on x86.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ..errors import LitmusError, SimError
from ..program import Image
from .build import DATA_BASE, MACHINE, LitmusProgram, make_scenario
from .condition import Loc, locations
from .parse import LitmusTest

_HEADER = re.compile(r"(?:\bvoid\s+)?\bP(\d+)\s*\(([^)]*)\)\s*\{")
_PARAM = re.compile(r"\s*((?:const\s+|volatile\s+)*[A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*)\s*\*\s*([A-Za-z_]\w*)\s*")


def _matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def build_c(test: LitmusTest) -> LitmusProgram:
    file = test.display
    blanked, start, end = test.c_source
    region = blanked[start:end]
    offset0 = start

    def where(off: int) -> tuple[int, int]:
        before = blanked[:offset0 + off]
        return before.count("\n") + 1, offset0 + off - (before.rfind("\n") + 1) + 1

    def fail(off: int, message: str):
        line, col = where(off)
        raise LitmusError(message, file, line, col)

    threads = []  # (proc, params [(type, name)], header span, close offset)
    pos = 0
    while True:
        m = _HEADER.search(region, pos)
        gap = region[pos:m.start() if m else len(region)]
        if gap.strip():
            off = pos + len(gap) - len(gap.lstrip())
            fail(off, "expected a thread function such as 'P0(int *x, int *y) { ... }'")
        if m is None:
            break
        proc = int(m.group(1))
        if proc != len(threads):
            fail(m.start(), f"expected thread P{len(threads)}, got P{proc}")
        params = []
        if m.group(2).strip() and m.group(2).strip() != "void":
            for p in m.group(2).split(","):
                pm = _PARAM.fullmatch(p)
                if pm is None:
                    fail(m.start(2), f"unsupported parameter {p.strip()!r} (a pointer to a shared "
                                     "variable, such as 'int *x', is expected)")
                params.append((re.sub(r"\s+", " ", pm.group(1)).strip(), pm.group(2)))
        close = _matching_brace(region, m.end() - 1)
        if close < 0:
            fail(m.end() - 1, f"unterminated body of P{proc}: no matching '}}'")
        threads.append((proc, params, m.start(), m.end(), close))
        pos = close + 1
    if not threads:
        fail(0, "expected thread functions such as 'P0(int *x, int *y) { ... }'")

    # shared variables: every parameter name, typed by its pointer's target; init values
    shared: dict[str, str] = {}
    for _, params, *_ in threads:
        for ctype, name in params:
            if shared.setdefault(name, ctype) != ctype:
                fail(0, f"shared variable {name!r} has two types: {shared[name]} and {ctype}")
    init_values: dict[str, str] = {}
    for e in test.init:
        if re.fullmatch(r"\d+:\w+", e.target):
            raise LitmusError("initial values of C threads' locals are not supported", file, e.line, e.col)
        if not re.fullmatch(r"-?(0[xX][0-9a-fA-F]+|\d+)", e.value):
            raise LitmusError(f"unsupported initial value {e.value!r} for {e.target}", file, e.line, e.col)
        init_values[e.target] = e.value
        if e.target not in shared:
            shared[e.target] = e.ctype or "int"
    shown = sorted(set(test.locations) | set(locations(test.condition.prop)))
    for loc in shown:
        if loc.is_mem and loc.name not in shared:
            shared[loc.name] = "int"
    observed = [loc for loc in shown if not loc.is_mem]
    for loc in observed:
        _, _, h_start, h_end, close = threads[loc.proc]
        if not re.search(rf"\b{re.escape(loc.name)}\b", region[h_end:close]):
            fail(h_start, f"P{loc.proc} has no local variable {loc.name!r} (the condition reads {loc})")

    # the translation unit, line for line with the litmus file
    out = list(blanked)
    for i in [*range(0, start), *range(end, len(out))]:  # the header, init block and condition
        if out[i] != "\n":
            out[i] = " "
    edits = []  # (start, end, replacement) in file offsets, applied from the end
    for proc, params, h_start, h_end, close in threads:
        header = f"void __litmus_P{proc}({', '.join(f'{t} *{n}' for t, n in params) or 'void'}) {{"
        newlines = region.count("\n", h_start, h_end)  # `P0(int *x)` and `{` on two lines: keep both
        edits.append((offset0 + h_start, offset0 + h_end, header[:-1] + "\n" * newlines + "{"))
        saves = " ".join(f"__litmus_{loc.proc}_{loc.name} = {loc.name};" for loc in observed if loc.proc == proc)
        if saves:
            edits.append((offset0 + close, offset0 + close, saves + " "))
    text = _ordered_variants("".join(out))
    for a, b, rep in sorted(edits, reverse=True):
        text = text[:a] + rep + text[b:]
    c_lines = text.split("\n")
    # line 1 (the test's name) takes the include; the line where the init block ends takes the
    # declarations: both lie before any thread code, so every other line keeps its number
    init_line = blanked[:start].count("\n")
    c_lines[0] = "#include <linux/kernel.h>"
    if init_line == 0:
        fail(0, "the init block must end on a line of its own before the threads")
    globals_ = " ".join(f"{t} {n} = {init_values.get(n, '0')};" for n, t in shared.items())
    keeps = " ".join(f"long __litmus_{loc.proc}_{loc.name};" for loc in observed)
    c_lines[init_line] = f"{globals_} {keeps} {c_lines[init_line]}"
    entries = [f"void P{proc}(void) {{ __litmus_P{proc}({', '.join('&' + n for _, n in params)}); }}"
               for proc, params, *_ in threads]
    source = "\n".join(c_lines + entries) + "\n"

    image = _compile(test, source, len(threads))
    registers = {}
    addresses = {sym.name: sym.addr for sym in image.symbols}
    for loc in observed:
        name = f"__litmus_{loc.proc}_{loc.name}"
        registers[loc] = addresses[name]
    scenario = make_scenario(test, len(threads), [() for _ in threads])
    return _CProgram(test, scenario, image, shown, registers, addresses)


class _CProgram(LitmusProgram):
    """Observed C locals live in globals (copied at the end of the thread): `registers` maps each
    register location to its global's address."""

    def reader(self, system, loc: Loc):
        mem = system.machines[0].mem
        addr = self.addresses[loc.name] if loc.is_mem else self.registers[loc]
        return lambda: mem[addr]


_VARIANT = re.compile(r"\b((?:atomic(?:64|_long)?_\w+?)|xchg|cmpxchg)_(relaxed|acquire|release)(?=\s*\()")


def _ordered_variants(text: str) -> str:
    """`xchg_relaxed(`, `atomic_add_return_acquire(`, ...: x86 implements every ordering variant of
    a value-returning atomic with the one locked instruction, so under tso and sc each is its fully
    ordered form. The front-end knows those; the name is padded so columns do not move."""
    from ..c.kernel_api import API

    def base(m: re.Match) -> str:
        name = m.group(1)
        known = name in API or name.startswith(("atomic64_", "atomic_long_"))
        return name + " " * (len(m.group(2)) + 1) if known and m.group(0) not in API else m.group(0)
    return _VARIANT.sub(base, text)


def _compile(test: LitmusTest, source: str, nthreads: int) -> Image:
    from ..assembler import _Assembly, _Files  # one in-memory C unit on one machine

    file = test.display
    c_name = file + ".c"
    files = _Files(None, None, [])  # paths as given: the unit is named like the test
    threads = [(f"P{i}", MACHINE, f"P{i}") for i in range(nthreads)]
    try:
        image = _Assembly(files, {}, {}, DATA_BASE).run({MACHINE: [files.text(c_name, source)]}, threads)
    except SimError as e:
        raise LitmusError(e.message, file if _is_unit(e.file, c_name) else e.file, e.line, e.col) from None
    # sites name the litmus file itself (the unit's lines are the file's lines)
    image.sites = [replace(s, file=file) if _is_unit(s.file, c_name) else s for s in image.sites]
    image.sources = {file: test.text, **{k: v for k, v in image.sources.items() if not _is_unit(k, c_name)}}
    return image


def _is_unit(name: str | None, c_name: str) -> bool:
    """The generated unit, however the preprocessor spelled its path (relative or absolute)."""
    return name is not None and (name == c_name or Path(name).name == Path(c_name).name)
