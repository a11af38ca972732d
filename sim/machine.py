"""Machines and their cores. A machine owns its memory and run queue; a core runs one thread."""

from __future__ import annotations


class Core:
    __slots__ = (
        "code",
        "gid",
        "index",
        "machine",
        "mid",
        "sb",
        "slice_end",
        "spinning",
        "stall_until",
        "thread",
    )

    def __init__(self, machine: Machine, index: int, gid: int):
        self.machine = machine
        self.mid = machine.index  # machine index, for observers
        self.index = index  # core number on its machine
        self.gid = gid  # global core number, the order the schedulers see cores in
        self.thread = None  # the Thread it runs, or None when idle
        self.code: list = []  # compiled instruction functions (sim.compiler)
        self.sb = None  # StoreBuffer under tso
        self.stall_until = 0  # busy in `delay` until this cycle
        self.slice_end = 0  # the timer interrupt's next tick
        self.spinning = False  # its last burst ended spin-waiting (PCT lets others go first)

    def __repr__(self) -> str:
        return f"Core({self.machine.name}:{self.index})"


class Machine:
    __slots__ = ("code", "cores", "index", "lock_owner", "mem", "name", "run_queue", "slow")

    def __init__(self, name: str, index: int, memory_words: int):
        self.name = name
        self.index = index
        self.mem = [0] * memory_words
        self.cores: list[Core] = []
        self.run_queue: list = []  # READY threads, FIFO
        # lock word -> (thread id, pc of the instruction that took it): spin locks and bit locks
        # held now, for the deadlock report
        self.lock_owner: dict[int, tuple[int, int]] = {}
        self.code: list = []  # the decoded Instr list (sim.program)
        self.slow: list = []  # per pc: the System method that executes it when it raises Slow
