"""A simulated thread: registers, pc, stacks and scheduling state. All plain data, so it snapshots."""

from __future__ import annotations

from .isa import NUM_REGS, REG_ALIASES

# thread states
NOT_STARTED = 0  # waits for `spawn`
READY = 1  # in its machine's run queue
RUNNING = 2  # on a core
BLOCKED = 3  # in `sleep` or `recv`
EXITED = 4

STATE_NAMES = ("not started", "ready", "running", "blocked", "exited")


class Thread:
    __slots__ = (
        "allowed",
        "blocked_on",
        "calls",
        "core",
        "daemon",
        "in_kernel",
        "kernel",
        "machine",
        "name",
        "pc",
        "preempt",
        "regs",
        "spinning_lock",
        "stack",
        "stack_lo",
        "state",
        "tid",
        "wake_pending",
    )

    def __init__(self, tid: int, name: str, machine: int, allowed: tuple[int, ...], kernel: bool,
                 daemon: bool, entry_pc: int):
        self.tid = tid
        self.name = name
        self.machine = machine  # machine index
        self.allowed = allowed  # core numbers on its machine it may run on
        self.kernel = kernel  # a kernel thread (never in user mode)
        self.daemon = daemon
        self.regs = [0] * NUM_REGS
        self.pc = entry_pc
        self.calls: list[int] = []  # return addresses (the call stack)
        self.stack: list[int] = []  # push/pop data
        self.state = NOT_STARTED
        self.preempt = 0  # preempt_count
        self.in_kernel = kernel  # user threads enter the kernel with kernel_enter
        self.wake_pending = False  # a wake-up that arrived before the sleep
        self.spinning_lock = False  # preempt_disable already done by a spin_lock still spinning
        self.blocked_on = ""  # what a blocked thread waits for, for deadlock reports
        self.core = -1  # core number while RUNNING
        self.stack_lo = 0  # the lowest word of its in-memory stack (C frames; sp = r15)

    def state_tuple(self) -> tuple:
        return (self.regs[:], self.pc, self.calls[:], self.stack[:], self.state, self.preempt,
                self.in_kernel, self.wake_pending, self.spinning_lock, self.blocked_on, self.core)

    def restore(self, state: tuple) -> None:
        (regs, self.pc, calls, stack, self.state, self.preempt, self.in_kernel, self.wake_pending,
         self.spinning_lock, self.blocked_on, self.core) = state
        self.regs[:] = regs
        self.calls[:] = calls
        self.stack[:] = stack


def register_of(thread_names: list[str], name: str) -> tuple[int, int]:
    """`THREAD:rN` (or `THREAD:at`, `THREAD:sp`) -> (thread id, register number); a ScenarioError
    names what is wrong. Threads keep their registers after they exit: final values stay readable."""
    import difflib

    from .errors import ScenarioError

    tname, _, rname = name.partition(":")
    if tname not in thread_names:
        close = difflib.get_close_matches(tname, thread_names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ScenarioError(f"{name}: no thread {tname!r}{hint} (threads: {', '.join(thread_names)})")
    n = REG_ALIASES.get(rname)
    if n is None and rname[:1] == "r" and rname[1:].isdigit() and int(rname[1:]) < NUM_REGS:
        n = int(rname[1:])
    if n is None:
        raise ScenarioError(f"{name}: {rname!r} is not a register (r0..r{NUM_REGS - 1}, at, sp)")
    return thread_names.index(tname), n


def check_shown(thread_names: list[str], image, name: str) -> None:
    """A `--show` name is a symbol of the image or `THREAD:rN`; a ScenarioError otherwise (so that
    an unknown name fails before a run, not after it)."""
    if ":" in name:
        register_of(thread_names, name)
    else:
        image.require_symbol(name)
