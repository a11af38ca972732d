"""A litmus test turned into a scenario and a program image, in memory (no files are written).

One machine with a core per thread; thread Pi is pinned to core i and runs function Pi, which
ends in `halt`. Memory locations are words named as in the test; registers are kept by the
threads after they exit, so the final state reads them directly. Sites name the litmus file's
line and column, so an instruction in a run or a recording points at the test's own text.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..errors import LitmusError
from ..isa import MASK64
from ..program import Image, Instr, MachineCode, Site, Symbol
from ..scenario import MachineSpec, Scenario, ThreadSpec
from .condition import Loc, locations
from .parse import LitmusTest
from .x86 import MAX_REGS, X86_REGISTERS, Op, resolve, translate_thread

MACHINE = "host"
DATA_BASE = 0x100
STEP_LIMIT = 100_000  # a litmus thread that loops (a spin on JNE) ends the run as step_limit
# A thread that halts drains its store buffer; two nops before the halt let its last stores stay
# buffered while the other threads run on (x86-TSO allows any delay), which shows relaxed outcomes
# two to three times as often in seeded runs (bench/bench_litmus.py). Final states are unchanged.
LINGER = 2


@dataclass
class LitmusProgram:
    test: LitmusTest
    scenario: Scenario
    image: Image
    shown: list[Loc]  # the locations of a final state, in herd's order
    registers: dict[Loc, int]  # register location -> simulator register number
    addresses: dict[str, int]  # memory location -> address

    def reader(self, system, loc: Loc):
        """A function of no arguments that reads `loc` in `system` (lists are restored in place,
        so it stays valid across runs)."""
        if loc.is_mem:
            memory, addr = system.machines[0].mem, self.addresses[loc.name]
            return lambda: memory[addr]
        regs, n = system.threads[loc.proc].regs, self.registers[loc]
        return lambda: regs[n]


def build(test: LitmusTest) -> LitmusProgram:
    if test.arch != "x86":
        from .c_dialect import build_c  # the C dialect compiles with the C front-end

        return build_c(test)
    file = test.display
    addresses: dict[str, int] = {}

    def address_of(name: str) -> int:
        if name not in addresses:
            addresses[name] = DATA_BASE + len(addresses)
        return addresses[name]

    thread_regs: list[dict[str, int]] = [{} for _ in test.threads]
    initial_mem: dict[str, int] = {}
    initial_regs: list[dict[int, int]] = [{} for _ in test.threads]
    pending_values = []
    for e in test.init:
        if e.ctype and not re.fullmatch(r"(unsigned\s+)?(int|long|char|u?int(8|16|32|64)_t)", e.ctype):
            raise LitmusError(f"unsupported type {e.ctype!r} in the initial state", file, e.line, e.col)
        pending_values.append(e)
        rm = re.fullmatch(r"(\d+):(\w+)", e.target)
        if rm is None:
            address_of(e.target)
    for e in pending_values:  # after every location has its address, so values may name one
        vm = re.fullmatch(r"\$?(-?(?:0[xX][0-9a-fA-F]+|\d+))", e.value)
        if vm:
            value = int(vm.group(1), 0) & MASK64
        elif re.fullmatch(r"[A-Za-z_]\w*", e.value):
            value = address_of(e.value)
        else:
            raise LitmusError(f"unsupported initial value {e.value!r} for {e.target}", file, e.line, e.col)
        rm = re.fullmatch(r"(\d+):(\w+)", e.target)
        if rm:
            proc = int(rm.group(1))
            if proc >= len(test.threads):
                raise LitmusError(f"no thread P{proc} (this test has {len(test.threads)})", file, e.line, e.col)
            name = rm.group(2).upper()
            if name not in X86_REGISTERS:
                raise LitmusError(f"{rm.group(2)!r} is not an x86 register", file, e.line, e.col)
            regs = thread_regs[proc]
            if name not in regs:
                if len(regs) >= MAX_REGS:
                    raise LitmusError(f"thread P{proc} uses more than {MAX_REGS} registers", file, e.line, e.col)
                regs[name] = len(regs)
            initial_regs[proc][regs[name]] = value
        else:
            initial_mem[e.target] = value

    codes = [translate_thread(i, cells, file, thread_regs[i], address_of) for i, cells in enumerate(test.threads)]
    shown_set = set(test.locations) | set(locations(test.condition.prop))
    for loc in shown_set:
        if loc.is_mem:
            address_of(loc.name)
        elif loc.name not in thread_regs[loc.proc]:
            regs = thread_regs[loc.proc]
            if len(regs) >= MAX_REGS:
                raise LitmusError(f"thread P{loc.proc} uses more than {MAX_REGS} registers", file)
            regs[loc.name] = len(regs)  # never written: stays at its initial value
    registers = {Loc(False, p, name): n for p, regs in enumerate(thread_regs) for name, n in regs.items()}

    sites: list[Site] = []
    code: list[Instr] = []
    labels: dict[str, int] = {}
    for i, tc in enumerate(codes):
        base = len(code)
        fn = f"P{i}"
        labels[fn] = base
        label_at = {index: name for name, index in tc.labels.items()}
        for k, op in enumerate(tc.ops + [Op("nop", (), None)] * LINGER + [Op("halt", (), None)]):
            cell = op.cell
            label = fn if k == 0 else (f"{fn}.{label_at[k]}" if k in label_at else "")
            sites.append(Site(MACHINE, len(code), file, cell.line if cell else 0, cell.col if cell else 0, fn,
                              label, cell.text if cell else "(end of thread)"))
            code.append(Instr(op.op, resolve(op, base, tc.labels), len(sites) - 1))

    mc = MachineCode(MACHINE, code, labels, {addr: initial_mem.get(name, 0) for name, addr in addresses.items()})
    symbols = [Symbol(name, addr, name, "", 1, MACHINE) for name, addr in sorted(addresses.items(), key=lambda a: a[1])]
    image = Image(machines={MACHINE: mc}, sites=sites, symbols=symbols, bits={}, constants={},
                  memory_words=DATA_BASE + len(addresses), sources={file: test.text})
    scenario = make_scenario(test, len(codes), [tuple(sorted(r.items())) for r in initial_regs])
    return LitmusProgram(test, scenario, image, sorted(shown_set), registers, addresses)


def make_scenario(test: LitmusTest, nthreads: int, regs: list[tuple[tuple[int, int], ...]]) -> Scenario:
    """The scenario a litmus test stands for: one core per thread, each thread on its own core."""
    threads = tuple(
        ThreadSpec(tid=i, name=f"P{i}", entry=f"P{i}", machine=MACHINE, cores=(i,), kind="kernel",
                   regs=regs[i], daemon=False, start=True)
        for i in range(nthreads))
    given = dict(
        folder=test.path.parent, toml_path=test.path, name=test.name, description=f"litmus test {test.name}",
        machines=(MachineSpec(MACHINE, max(1, nthreads), (), True),), primary=MACHINE, threads=threads,
        links={}, ports={}, variants={}, default_variant=None, memory_model="tso", preemption="full",
        timeslice=1 << 30, step_limit=STEP_LIMIT, pct_steps=0, params={}, toml_text=test.text)
    # the scenario's query and check tables (invariants, orderings, locksets, checks, ...) are empty
    for f in dataclasses.fields(Scenario):
        if f.name not in given and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            given[f.name] = {} if str(f.type).startswith("dict") else ()
    return Scenario(**given)

