"""Failures beyond panics: the scenario's final-state checks and its invariants, on a live run.

`[[checks]]` are evaluated once, when a run completes (always: one evaluation per run costs
nothing); a false one turns the outcome `completed` into `check_failed` with the check's name.
`[[invariants]]` are evaluated during the run only when asked (`--check-invariants`): the
`InvariantWatch` observer re-evaluates, after every write or read-modify-write, the invariants
that read the written word, and stops the run at the first event that breaks one, with the
event's seq (the same seq a recording gives it) and cycle. Without the option no observer is
attached and the run pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import observer as ev
from .errors import ScenarioError
from .state_expr import addresses, bind, evaluate, expand, parse


@dataclass
class Check:
    name: str
    text: str
    kind: str  # "check" (final state) or "invariant" (every state)
    tree: tuple  # bound: operands are ("mem", mem, addr, shift, mask) or ("lit", value)
    words: dict[str, tuple]  # operand text -> its bound node, to report the values seen

    def holds(self) -> bool:
        return evaluate(self.tree) != 0

    def values(self) -> dict[str, int]:
        return {name: evaluate(node) for name, node in self.words.items()}

    def failure(self, **where) -> dict:
        return {"name": self.name, "kind": self.kind, "expr": self.text, "values": self.values(), **where}


def compile_checks(system, entries, kind: str, key: str) -> list[Check]:
    """Each declared entry (name, expr, for) expanded and bound to the system's memory."""
    file = str(system.scenario.toml_path)
    image = system.image
    constants = dict(image.constants)
    machines = {m.name: m for m in system.machines}
    out = []
    for i, entry in enumerate(entries):
        where = f"{key}[{i}] '{entry['name']}'"
        for name, text in expand(entry["name"], entry["expr"], entry.get("for"), where, file):
            tree, operands = parse(text, where, file)
            words = {}

            def resolve(op, where=where):
                sym = image.symbol(op.symbol)
                if sym is None:
                    if op.bit is None and op.symbol in constants:
                        return ("lit", constants[op.symbol] & ((1 << 64) - 1))
                    raise ScenarioError(f"{where}: unknown symbol or constant {op.symbol!r}", file)
                shift, mask = 0, (1 << 64) - 1
                if op.bit is not None:
                    shift = int(op.bit, 0) if op.bit[0].isdigit() else image.bits.get(op.bit, -1)
                    if not 0 <= shift < 64:
                        raise ScenarioError(f"{where}: unknown bit {op.bit!r}", file)
                    mask = 1
                node = ("mem", machines[sym.machine].mem, sym.addr, shift, mask)
                words[op.text] = node
                return node

            out.append(Check(name, text, kind, bind(tree, resolve), words))
    return out


def final_failure(checks: list[Check]) -> dict | None:
    """The first final-state check that does not hold, as the outcome reports it."""
    for c in checks:
        if not c.holds():
            return c.failure()
    return None


class InvariantWatch:
    """An observer (sim.observer) that stops the run at the first event breaking an invariant."""

    def __init__(self):
        self.system = None
        self.seq = 0
        self.watch: dict[int, list[Check]] = {}  # address -> invariants reading it
        self.machine_of: dict[int, int] = {}  # id(mem) -> machine index

    def attach(self, system) -> None:
        self.system = system
        invariants = compile_checks(system, system.scenario.invariants, "invariant", "invariants")
        mem_ids = {id(m.mem): m.index for m in system.machines}
        for inv in invariants:
            for mem_id, addr in sorted(addresses(inv.tree)):
                self.watch.setdefault((mem_ids[mem_id] << 48) | addr, []).append(inv)

    def event(self, kind, core, addr, old, new, site, sync, atomic, mode=ev.PLAIN):
        seq = self.seq
        self.seq = seq + 1
        if (kind == ev.WRITE or kind == ev.RMW) and old != new:
            watchers = self.watch.get((core.machine.index << 48) | addr)
            if watchers is not None:
                for inv in watchers:
                    if not inv.holds():
                        system = self.system
                        system.fail_check(inv.failure(seq=seq, cycle=system.cycle, thread=core.thread.name,
                                                      site=site))
                        system.stop_requested = True  # raises StopRun
