"""How a run ended: its Outcome (completed, panic, deadlock, step limit, failed check), the panic's
details, and a lock deadlock's cycle in words."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class PanicInfo:
    message: str
    machine: str
    core: int
    thread: str
    site: int
    file: str
    line: int
    function: str

    def as_dict(self) -> dict:
        return asdict(self)


def outcome_from(d: dict | None) -> Outcome | None:
    """An Outcome from its snapshot form (dataclasses.asdict)."""
    if d is None:
        return None
    panic = d.get("panic")
    return Outcome(**dict(d, panic=None if panic is None else PanicInfo(**panic)))


def cycle_line(c: dict) -> str:
    """One line of a lock deadlock: who waits for which lock where, and who holds it since where."""
    if "sleeps_at" in c:
        return f"{c['thread']} sleeps at {c['sleeps_at']} and nothing is left to wake it"
    return (f"{c['thread']} waits for {c['waits_for']} at {c['waits_at']}, held by {c['held_by']} "
            f"(taken at {c['taken_at']})")


@dataclass
class Outcome:
    outcome: str  # completed, panic, deadlock, step_limit, check_failed
    instructions: int
    cycles: int
    panic: PanicInfo | None = None
    blocked: list[str] = field(default_factory=list)  # deadlock: who waits for what
    check: dict | None = None  # check_failed: name, kind, expr, values (invariants: seq, cycle, ...)
    # deadlock on locks: per thread of the cycle, the lock it waits for (and where), who holds it
    # and where that one took it
    cycle: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = {"outcome": self.outcome, "instructions": self.instructions, "cycles": self.cycles}
        if self.panic is not None:
            d["panic"] = self.panic.as_dict()
        if self.outcome == "deadlock":
            d["blocked"] = list(self.blocked)
            if self.cycle:
                d["cycle"] = [dict(c) for c in self.cycle]
        if self.check is not None:
            d["check"] = dict(self.check)
        return d
