"""The whole simulated system and its step loop.

One global virtual clock counts cycles: every instruction executed on any core takes one, and when
every core is idle or busy-waiting the clock jumps to the next timer (a `delay` ending, a message
arriving). The scheduler picks a core and a burst; the loop runs the burst's pre-compiled
instructions (sim.compiler) and only dispatches. Everything is a function of (image, options,
seed): no wall clock, no unseeded randomness, no hash-ordered iteration.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import asdict, dataclass, field

from . import observer as ev
from . import snapshot_codec
from .checks import InvariantWatch, compile_checks, final_failure
from .compiler import CONDITIONALLY_SLOW_OPS, SLOW_OPS, Slow, compile_core
from .isa import MASK64, STACK_WORDS, Mem, Reg
from .machine import Core, Machine
from .network import Network, Port
from .program import Image
from .scenario import RunOptions, Scenario, assemble_scenario, effective_cores, validate_options
from .schedule import Schedule, ScheduleLog, SchedulePlayer, core_names
from .scheduler import PCTScheduler
from .strategies import make_scheduler
from .store_buffer import store_buffer
from .thread import BLOCKED, register_of, EXITED, NOT_STARTED, READY, RUNNING, STATE_NAMES, Thread

def _is_register_name(name: str) -> bool:
    from .isa import NUM_REGS, REG_ALIASES
    return name in REG_ALIASES or (name[:1] == "r" and name[1:].isdigit() and int(name[1:]) < NUM_REGS)


TIMER_CORE = 0  # a delay ended: data = core gid
TIMER_MESSAGE = 1  # a message arrives: data = (port id, message id, words)
TIMER_THREAD = 2  # an msleep ended: data = thread id
TSO_DRAIN_PROBABILITY = 0.4  # chance, at each scheduling decision, that one buffered store drains


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


def _outcome_from(d: dict | None) -> Outcome | None:
    """An Outcome from its snapshot form (dataclasses.asdict)."""
    if d is None:
        return None
    panic = d.get("panic")
    return Outcome(**dict(d, panic=None if panic is None else PanicInfo(**panic)))


def _cycle_line(c: dict) -> str:
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


class System:
    """Machines, cores, threads, network and scheduler, built from a scenario and run options."""

    def __init__(self, scenario: Scenario, options: RunOptions | None = None, *,
                 image: Image | None = None, observer=None, schedule: Schedule | None = None,
                 save_schedule: bool = False, strict_schedule: bool = True, schedule_file: str = "<schedule>"):
        """`schedule`: follow it instead of the options' scheduler (sim.schedule); `save_schedule`:
        write every decision down (`schedule_log`, `saved_schedule()`)."""
        options = validate_options(scenario, options or RunOptions())
        self.scenario = scenario
        self.options = options
        self.image = image if image is not None else assemble_scenario(scenario, options)
        if observer is None and options.check_invariants and scenario.invariants:
            observer = InvariantWatch()  # only then: a plain run pays nothing for invariants
        self.observer = observer
        self.ev = observer.event if observer is not None else None
        self.tso = options.memory_model == "tso"
        self.timeslice = scenario.timeslice
        self.full_preemption = scenario.preemption == "full"
        self.step_limit = options.step_limit
        self.cycle = 0
        self.instructions = 0
        self._stop = False
        self.stopped_mid_instruction = False
        self.pause_at = 1 << 62
        self.burst = [0]  # the first cycle of the burst under way (observed runs; see sim.compiler)
        self.outcome: Outcome | None = None

        cores_of = effective_cores(scenario, options)
        self.machines: list[Machine] = []
        self.cores: list[Core] = []
        machine_index = {}
        for mi, spec in enumerate(scenario.machines):
            m = Machine(spec.name, mi, self.image.memory_words)
            machine_index[spec.name] = mi
            mc = self.image.machines[spec.name]
            for addr, value in mc.initial.items():
                m.mem[addr] = value
            m.code = mc.code
            m.slow = [getattr(self, "_op_" + ins.op) if ins.op in SLOW_OPS or ins.op in CONDITIONALLY_SLOW_OPS else None
                      for ins in mc.code]
            for ci in range(cores_of[spec.name]):
                core = Core(m, ci, len(self.cores))
                m.cores.append(core)
                self.cores.append(core)
            self.machines.append(m)
        for core in self.cores:
            m = core.machine
            core.sb = store_buffer(m.mem, core, observer, self) if self.tso else None
            core.code = compile_core(m.code, core, m.mem, core.sb, observer, self)

        self.threads: list[Thread] = []
        for spec in scenario.threads:
            m = self.machines[machine_index[spec.machine]]
            ncores = len(m.cores)
            allowed = tuple(c for c in (spec.cores or range(ncores)) if c < ncores) or tuple(range(ncores))
            mc = self.image.machines[spec.machine]
            t = Thread(spec.tid, spec.name, m.index, allowed, spec.kind == "kernel", spec.daemon,
                       mc.entries.get(spec.entry, mc.labels[spec.entry]))
            stack = self.image.stacks.get(spec.name)
            if stack is not None:  # C frames grow down from the top of the thread's stack
                t.stack_lo, t.regs[15] = stack
            for r, value in spec.regs:
                t.regs[r] = self.image.values[(spec.machine, value)] if isinstance(value, str) else value
            self.threads.append(t)

        ports = [Port(pid, name, machine_index[mname]) for pid, (name, mname) in enumerate(scenario.ports.items())]
        latency = {(machine_index[a], machine_index[b]): lat for (a, b), lat in scenario.links.items()}
        self.network = Network(ports, latency)
        self.timers: list[tuple[int, int, int, object]] = []  # (cycle, order, kind, data)
        self.timer_order = 0

        seed = options.seed
        self.scheduler = make_scheduler(scenario, options, len(self.threads), self.image)
        self.final_checks = compile_checks(self, scenario.checks, "check", "checks") if scenario.checks else []
        self.memory_rng = random.Random(seed * 2654435761 + 97)  # tso drains: their own stream
        self.drain_probability = TSO_DRAIN_PROBABILITY  # litmus runs of tiny programs set their own
        self.active: list[Core] = []
        # the schedule hook: only a run that follows or saves a schedule decides through it
        self.schedule_log: ScheduleLog | None = None
        self.burst_thread: Thread | None = None  # hooked runs: the thread of the burst under way
        if schedule is not None:
            schedule.check_fits(core_names(self.cores), options.memory_model, schedule_file)
            self.scheduler = SchedulePlayer(schedule, self.cores, strict_schedule, schedule_file)
        if save_schedule:
            self.schedule_log = ScheduleLog(core_names(self.cores), options.memory_model)
            self._log_add = self.schedule_log.add
        if schedule is not None:
            self._decide = self._decide_hooked
        elif save_schedule:
            self._decide = self._decide_saving

        self.booted = False  # threads are placed on cores by the first run(), so that a
        # snapshot taken before it holds no event (replay from seq 0 starts there)
        if observer is not None:
            observer.attach(self)  # the system is complete; no event has happened yet

    # ------------------------------------------------------------------ running

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        """An observer sets it in `event` to stop the run right after that event (see StopRun)."""
        self._stop = value
        if value and self.observer is not None:
            raise ev.StopRun

    def run(self, pause_at: int | None = None) -> Outcome | None:
        """Run until the outcome is known and return it.

        With `pause_at`, stop instead at the first scheduling decision once that many instructions
        have run, and return None: a snapshot taken there resumes exactly (no burst is cut).
        An observer that sets `stop_requested` also stops the run (mid-burst) and gets None.
        """
        if self.stopped_mid_instruction:
            raise RuntimeError("this run was stopped inside an instruction by its observer; it cannot go on")
        self.pause_at = pause_at if pause_at is not None else 1 << 62
        if not self.booted:
            self.booted = True
            try:
                for t in self.threads:
                    if self.scenario.threads[t.tid].start:
                        self._make_ready(t)
            except ev.StopRun:  # stopped at one of the first context switches
                return None
            finally:
                self._refresh_active()
        if self.outcome is None:
            if self.observer is None:
                self._loop_plain()
            else:
                self._loop_observed()
        if self.outcome is not None:
            self.outcome.instructions = self.instructions
            self.outcome.cycles = self.cycle
        return self.outcome

    def _decide(self):
        """Fire timers, drain a store maybe, pick the next core and burst. None: the run ended."""
        timers = self.timers
        active = self.active
        if not (timers and timers[0][0] <= self.cycle) and active:
            # the common case, kept short: nothing due, somebody can run
            if self.tso:
                self._maybe_drain()
            core, n = self.scheduler.pick(active, self.instructions)
            if self.cycle < core.slice_end and n < self.step_limit - self.instructions:
                return core, n
            return self._run_picked(core, n)
        return self._decide_fully()

    def _decide_fully(self):
        if not self.settle():
            return None
        if self.tso:
            self._maybe_drain()
        return self._run_picked(*self.scheduler.pick(self.active, self.instructions))

    def settle(self) -> bool:
        """Fire the timers that are due, jumping the clock while every core waits. False: nobody can
        run any more and the run has ended (completed or deadlock)."""
        timers = self.timers
        while True:
            while timers and timers[0][0] <= self.cycle:
                self._fire_timer(heapq.heappop(timers))
            if self.active:
                return True
            if not timers:
                self._finish_idle()
                return False
            self.cycle = timers[0][0]  # everyone waits: jump to the next timer

    def _decide_hooked(self):
        """`_decide` for a run that follows or saves its schedule: the same decisions, each one
        written down, drains included; a followed schedule also chooses the drains."""
        log = self.schedule_log
        if not self.settle():
            if log is not None:
                log.ended(self.instructions)
            return None
        sched = self.scheduler
        if self.tso:
            if sched.controls_drains:
                drained = sched.drain(self)
            else:
                core = self._maybe_drain()
                drained = () if core is None else (core,)
            if log is not None:
                for core in drained:
                    log.drain(core.gid, self.instructions)
        core, n = sched.pick(self.active, self.instructions)
        if log is not None:
            log.pick(core.gid, self.instructions)
        picked = self._run_picked(core, n)
        self.burst_thread = core.thread
        return picked

    def _decide_saving(self):
        """`_decide_hooked` for a run that only saves its schedule (a recording): the same
        decisions, written down with two list appends each (sim.schedule.ScheduleLog), and as short as `_decide` in the common case
        (a recording makes one decision per burst, often a few instructions long)."""
        timers = self.timers
        if (timers and timers[0][0] <= self.cycle) or not self.active:
            if not self.settle():
                self.schedule_log.ended(self.instructions)
                return None
        add = self._log_add
        if self.tso:
            drained = self._maybe_drain()
            if drained is not None:
                add(-1 - drained.gid)
                add(self.instructions)
        core, n = self.scheduler.pick(self.active, self.instructions)
        add(core.gid)
        add(self.instructions)
        if self.cycle < core.slice_end and n < self.step_limit - self.instructions:
            return core, n
        return self._run_picked(core, n)

    def saved_schedule(self) -> Schedule:
        """The schedule of this run so far (System(save_schedule=True)); complete once it ended."""
        if self.schedule_log is None:
            raise RuntimeError("this System was not asked to save its schedule")
        return self.schedule_log.result(self.instructions, None if self.outcome is None else self.outcome.outcome)

    def _run_picked(self, core, n):
        """The scheduler's choice stands: tick its timer if due, and respect the step budget."""
        if self.cycle >= core.slice_end:
            self._timer_tick(core)  # may put another thread on this core; it runs the burst
        budget = self.step_limit - self.instructions
        if budget <= 0:
            self._end("step_limit")
            return None
        return core, min(budget, n)

    def _loop_plain(self) -> None:
        decide = self._decide
        while self.outcome is None and self.instructions < self.pause_at:
            picked = decide()
            if picked is None:
                return
            core, n = picked
            t = core.thread
            regs = t.regs
            pc = t.pc
            code = core.code
            k = 0
            try:
                for k in range(n):
                    pc = code[pc](regs)
                t.pc = pc
                self.instructions += n
                self.cycle += n
                core.spinning = False
            except Slow:
                self.instructions += k
                self.cycle += k
                t.pc = pc
                core.spinning = False
                core.machine.slow[pc](core, t, pc)
                self.instructions += 1
                self.cycle += 1
            except (IndexError, ZeroDivisionError) as fault:
                self.instructions += k
                self.cycle += k
                t.pc = pc
                self._fault(core, t, pc, fault)

    def _loop_observed(self) -> None:
        """The same loop; each instruction gets its place in the burst (the burst's first cycle is
        in `self.burst`, see sim.compiler), and the observer may stop the run (StopRun) right
        after any event."""
        decide = self._decide
        burst = self.burst
        t = None  # the thread of an instruction under way
        pc = 0
        slow = False
        try:
            while self.outcome is None and self.instructions < self.pause_at:
                picked = decide()
                if picked is None:
                    return
                core, n = picked
                t = core.thread
                regs = t.regs
                pc = t.pc
                code = core.code
                start = burst[0] = self.cycle
                k = 0
                try:
                    for k in range(n):
                        pc = code[pc](regs, k)
                    t.pc = pc
                    self.instructions += n
                    self.cycle = start + n
                    core.spinning = False
                except Slow:
                    self.instructions += k
                    self.cycle = start + k
                    t.pc = pc
                    core.spinning = False
                    slow = True
                    core.machine.slow[pc](core, t, pc)
                    slow = False
                    self.instructions += 1
                    self.cycle += 1
                except ev.StopRun:
                    self.instructions += k + 1
                    self.cycle = start + k + 1
                    t.pc = pc
                    raise
                except (IndexError, ZeroDivisionError) as fault:
                    self.instructions += k
                    self.cycle = start + k
                    t.pc = pc
                    self._fault(core, t, pc, fault)
                t = None
        except ev.StopRun:
            if t is not None:  # inside an instruction: it counts, its pc stays on it
                if slow:
                    t.pc = pc
                    self.instructions += 1
                    self.cycle += 1
                self.stopped_mid_instruction = True

    # ------------------------------------------------------------------ scheduling

    def _refresh_active(self) -> None:
        cycle = self.cycle
        self.active = [c for c in self.cores if c.thread is not None and c.stall_until <= cycle]

    def _preemptible(self, t: Thread) -> bool:
        return t.preempt == 0 and (self.full_preemption or not t.in_kernel)

    def _waiting_for(self, core: Core) -> Thread | None:
        for t in core.machine.run_queue:
            if core.index in t.allowed:
                return t
        return None

    def _timer_tick(self, core: Core) -> None:
        """The timer interrupt: time-slice the core if someone waits and the thread is preemptible."""
        core.slice_end = self.cycle + self.timeslice
        t = core.thread
        if self._preemptible(t) and self._waiting_for(core) is not None:
            self._switch_out(core, READY)

    def _make_ready(self, t: Thread) -> None:
        """A thread can run: give it an idle core it may use, else queue it."""
        m = self.machines[t.machine]
        t.state = READY
        t.blocked_on = ""
        for core in m.cores:
            if core.thread is None and core.index in t.allowed:
                self._put_on_core(core, t, -1)
                self._refresh_active()
                return
        m.run_queue.append(t)

    def _put_on_core(self, core: Core, t: Thread, previous: int) -> None:
        t.state = RUNNING
        t.core = core.index
        core.thread = t
        core.slice_end = self.cycle + self.timeslice
        core.spinning = False
        if self.ev is not None:
            self.ev(ev.SWITCH, core, -1, previous & MASK64, t.tid, -1, -1, False)

    def _switch_out(self, core: Core, new_state: int, blocked_on: str = "") -> None:
        """Take the core's thread off (ready again, blocked or exited) and run the next one."""
        t = core.thread
        if core.sb is not None and core.sb.entries:
            core.sb.drain_all()  # a context switch serialises: the buffer empties first
        t.state = new_state
        t.blocked_on = blocked_on
        t.core = -1
        core.thread = None
        m = core.machine
        nxt = self._waiting_for(core)
        if nxt is not None:
            m.run_queue.remove(nxt)
            self._put_on_core(core, nxt, t.tid)
        if new_state == READY:
            if nxt is None:  # nobody else wants this core: keep running
                t.state = RUNNING
                t.core = core.index
                core.thread = t
            else:
                m.run_queue.append(t)
        self._refresh_active()

    def _push_timer(self, at: int, kind: int, data) -> None:
        self.timer_order += 1
        heapq.heappush(self.timers, (at, self.timer_order, kind, data))

    def _fire_timer(self, timer) -> None:
        _, _, kind, data = timer
        if kind == TIMER_CORE:
            core = self.cores[data]
            if core.stall_until <= self.cycle:
                self._refresh_active()
        elif kind == TIMER_THREAD:
            t = self.threads[data]
            if t.state == BLOCKED and t.blocked_on == "msleep":
                self._make_ready(t)
        else:
            pid, msg, words = data
            port = self.network.ports[pid]
            port.queue.append((msg, words))
            if port.waiters:
                self._make_ready(port.waiters.pop(0))

    def _maybe_drain(self) -> Core | None:
        """x86-TSO's nondeterministic drain: sometimes one buffered store becomes visible (just
        before a burst is picked). Returns the core drained, if any."""
        pending = [c for c in self.cores if c.sb.entries]
        if pending:
            rng = self.memory_rng.random
            if rng() < self.drain_probability:
                core = pending[int(rng() * len(pending))]
                core.sb.drain_one()
                return core
        return None

    # ------------------------------------------------------------------ endings

    def _end(self, outcome: str, panic: PanicInfo | None = None, blocked: list[str] | None = None,
             check: dict | None = None, cycle: list[dict] | None = None) -> None:
        self.outcome = Outcome(outcome, self.instructions, self.cycle, panic, blocked or [], check, cycle or [])

    def fail_check(self, failure: dict) -> None:
        """A check or invariant does not hold (sim.checks): that is the run's outcome."""
        self._end("check_failed", check=failure)

    def _all_done(self) -> bool:
        return all(t.state == EXITED or t.daemon for t in self.threads)

    def _finish_idle(self) -> None:
        if self._all_done():
            self._complete()
            return
        blocked = []
        for t in self.threads:
            if t.state != EXITED and not t.daemon:
                where = self.describe_pc(t)
                what = t.blocked_on or STATE_NAMES[t.state]
                blocked.append(f"{t.name}: {what} at {where}")
        self._end("deadlock", blocked=blocked)

    def _complete(self) -> None:
        for core in self.cores:
            if core.sb is not None and core.sb.entries:
                core.sb.drain_all()
        failure = final_failure(self.final_checks) if self.final_checks else None
        if failure is not None:
            self.fail_check(failure)
            return
        self._end("completed")

    def panic(self, core: Core, t: Thread, pc: int, message: str) -> None:
        m = core.machine
        site_id = m.code[pc].site if pc < len(m.code) else (m.code[-1].site if m.code else -1)
        site = self.image.sites[site_id] if site_id >= 0 else None
        info = PanicInfo(message, m.name, core.index, t.name, site_id,
                         site.file if site else "?", site.line if site else 0, site.function if site else "?")
        if self.ev is not None:
            self.ev(ev.PANIC, core, -1, 0, 0, site_id, -1, False)
        self._end("panic", panic=info)

    def _fault(self, core: Core, t: Thread, pc: int, fault: Exception) -> None:
        code = core.machine.code
        if pc >= len(code) or pc < 0:
            fn = self.image.sites[code[-1].site].function if code else "?"
            self.panic(core, t, len(code) - 1 if code else 0, f"fell off the end of {fn} (missing ret or halt?)")
            return
        ins = code[pc]
        if isinstance(fault, ZeroDivisionError):
            msg = "division by zero"
        elif ins.op in ("ret", "pop"):
            msg = f"{ins.op} with an empty stack"
        else:
            mem = next((a for a in ins.args if isinstance(a, Mem)), None)
            addr = self._ea(mem, t.regs) if mem is not None else -1
            msg = f"bad address {addr:#x}" if addr >= 0 else f"fault in {ins.op}"
        self.panic(core, t, pc, msg)

    # ------------------------------------------------------------------ slow instructions

    @staticmethod
    def _ea(m: Mem, regs: list[int]) -> int:
        return m.disp if m.base is None else (regs[m.base] + m.disp) & MASK64

    @staticmethod
    def _value(v, regs: list[int]) -> int:
        return regs[v.n] if isinstance(v, Reg) else v.value

    def _drain(self, core: Core) -> None:
        if core.sb is not None and core.sb.entries:
            core.sb.drain_all()

    def _locked_word(self, core, t, pc, m: Mem) -> int | None:
        """The address a locked instruction works on, once the core's store buffer has drained
        (a locked instruction drains it first); None after a bad address panicked."""
        a = self._ea(m, t.regs)
        if a >= len(core.machine.mem):
            self.panic(core, t, pc, f"bad address {a:#x}")
            return None
        self._drain(core)
        return a

    def _emit(self, kind, core, addr, old, new, site, sync=-1, atomic=True, mode=ev.PLAIN) -> None:
        if self.ev is not None:
            self.ev(kind, core, addr, old, new, site, sync, atomic, mode)

    def _scheduling_while_atomic(self, core, t, pc) -> bool:
        if t.preempt:
            self.panic(core, t, pc, f"BUG: scheduling while atomic (preempt_count {t.preempt})")
            return True
        return False

    def _op_spin_lock(self, core, t, pc):
        ins = core.machine.code[pc]
        a = self._locked_word(core, t, pc, ins.args[0])
        if a is None:
            return
        if not t.spinning_lock:
            t.preempt += 1
            t.spinning_lock = True
        mem = core.machine.mem
        old = mem[a]
        if old == 0:
            mem[a] = 1
            t.spinning_lock = False
            t.pc = pc + 1
            core.machine.lock_owner[a] = (t.tid, pc)
            self._emit(ev.ACQUIRE, core, a, 0, 1, ins.site, a, mode=ev.ACQ)
            self._emit(ev.RMW, core, a, 0, 1, ins.site, mode=ev.ACQ)
        else:
            core.spinning = True  # retry: the pc stays on spin_lock
            self._emit(ev.RMW, core, a, old, old, ins.site, mode=ev.ACQ)
            cycle = self._lock_cycle(core.machine, t, a)
            if cycle is not None:
                self._end("deadlock", blocked=[_cycle_line(c) for c in cycle], cycle=cycle)

    def _lock_cycle(self, m: Machine, t: Thread, lock: int) -> list[dict] | None:
        """The wait-for chain from t spinning on `lock`: who holds it, what that thread waits for,
        and so on. A deadlock when it comes back to t (everyone in it spins with preemption off),
        or ends at a holder blocked in `sleep` that nothing left can wake. None otherwise."""
        chain: list[dict] = []
        waiter, seen = t, {t.tid}
        while True:
            owner = m.lock_owner.get(lock)
            if owner is None:
                return None
            holder = self.threads[owner[0]]
            chain.append({"thread": waiter.name, "waits_for": self._lock_name(m, lock),
                          "waits_at": self.describe_pc(waiter), "held_by": holder.name,
                          "taken_at": self._describe(m, owner[1])})
            if holder is t:
                return chain
            if holder.tid in seen:
                return None  # a cycle further on: its own members report it
            seen.add(holder.tid)
            if holder.spinning_lock and holder.state == RUNNING:
                ins = m.code[holder.pc]
                waiter, lock = holder, self._ea(ins.args[0], holder.regs)
                continue
            if holder.state == BLOCKED and holder.blocked_on == "sleep" and not holder.wake_pending \
                    and self._nobody_can_wake():
                chain.append({"thread": holder.name, "sleeps_at": self.describe_pc(holder)})
                return chain
            return None

    def _nobody_can_wake(self) -> bool:
        """Every thread is done, asleep, or spinning on a lock held by someone: no timer, message
        or running thread is left that could wake a sleeper."""
        if self.timers:
            return False
        for u in self.threads:
            if u.state in (EXITED, NOT_STARTED) or (u.state == BLOCKED and u.blocked_on == "sleep"):
                continue
            if u.state == RUNNING and u.spinning_lock:
                m = self.machines[u.machine]
                if self._ea(m.code[u.pc].args[0], u.regs) in m.lock_owner:
                    continue
            return False
        return True

    def _lock_name(self, m: Machine, addr: int) -> str:
        sym = self.image.symbol_at(addr)
        return sym.name if sym is not None and sym.addr == addr else f"{addr:#x}"

    def _describe(self, m: Machine, pc: int) -> str:
        if 0 <= pc < len(m.code):
            s = self.image.sites[m.code[pc].site]
            return f"{s.file}:{s.line} ({s.function})"
        return f"pc {pc}"

    def _op_spin_trylock(self, core, t, pc):
        ins = core.machine.code[pc]
        a = self._locked_word(core, t, pc, ins.args[1])
        if a is None:
            return
        mem = core.machine.mem
        old = mem[a]
        t.pc = pc + 1
        if old == 0:
            mem[a] = 1
            t.preempt += 1
            t.regs[ins.args[0].n] = 1
            core.machine.lock_owner[a] = (t.tid, pc)
            self._emit(ev.ACQUIRE, core, a, 0, 1, ins.site, a, mode=ev.TRYLOCK)
            self._emit(ev.RMW, core, a, 0, 1, ins.site, mode=ev.ACQ)
        else:
            t.regs[ins.args[0].n] = 0
            self._emit(ev.RMW, core, a, old, old, ins.site, mode=ev.ACQ)

    def _op_spin_unlock(self, core, t, pc):
        ins = core.machine.code[pc]
        a = self._locked_word(core, t, pc, ins.args[0])
        if a is None:
            return
        mem = core.machine.mem
        old = mem[a]
        if old == 0:
            self.panic(core, t, pc, f"BUG: spin_unlock of an unlocked lock at {a:#x}")
            return
        if t.preempt == 0:
            self.panic(core, t, pc, "BUG: spin_unlock with preempt_count 0")
            return
        mem[a] = 0
        t.preempt -= 1
        t.pc = pc + 1
        core.machine.lock_owner.pop(a, None)
        self._emit(ev.WRITE, core, a, old, 0, ins.site, mode=ev.REL)
        self._emit(ev.RELEASE, core, a, old, 0, ins.site, a, mode=ev.REL)

    def _op_test_and_set_bit_lock(self, core, t, pc):
        ins = core.machine.code[pc]
        d, v, m = ins.args
        a = self._locked_word(core, t, pc, m)
        if a is None:
            return
        mem = core.machine.mem
        bit = self._value(v, t.regs) & 63
        old = mem[a]
        new = old | (1 << bit)
        mem[a] = new
        taken = not (old >> bit) & 1
        t.regs[d.n] = (old >> bit) & 1
        t.pc = pc + 1
        if taken:
            core.machine.lock_owner[a] = (t.tid, pc)
            self._emit(ev.ACQUIRE, core, a, old, new, ins.site, a, mode=ev.ACQ)
        self._emit(ev.RMW, core, a, old, new, ins.site, mode=ev.ACQ)

    def _op_clear_bit_unlock(self, core, t, pc):
        ins = core.machine.code[pc]
        v, m = ins.args
        a = self._locked_word(core, t, pc, m)
        if a is None:
            return
        mem = core.machine.mem
        bit = self._value(v, t.regs) & 63
        old = mem[a]
        new = old & ~(1 << bit) & MASK64
        mem[a] = new
        t.pc = pc + 1
        core.machine.lock_owner.pop(a, None)
        self._emit(ev.RMW, core, a, old, new, ins.site, mode=ev.REL)
        self._emit(ev.RELEASE, core, a, old, new, ins.site, a, mode=ev.REL)

    def _op_pause(self, core, t, pc):
        t.pc = pc + 1
        core.spinning = True

    def _op_yield(self, core, t, pc):
        t.pc = pc + 1
        if t.preempt == 0:
            self._switch_out(core, READY)

    def _op_sleep(self, core, t, pc):
        site = core.machine.code[pc].site
        if t.wake_pending:
            t.wake_pending = False
            t.pc = pc + 1
            self._emit(ev.SLEEP, core, -1, 0, 0, site, t.tid, False)
            return
        if self._scheduling_while_atomic(core, t, pc):
            return
        t.pc = pc  # re-executed when woken, then it consumes the wake-up
        self._switch_out(core, BLOCKED, "sleep")

    def _thread_arg(self, core, t, pc, what: str):
        tid = self._value(core.machine.code[pc].args[0], t.regs)
        if tid >= len(self.threads):
            self.panic(core, t, pc, f"{what}: no thread {tid}")
            return None
        return self.threads[tid]

    def _op_wake(self, core, t, pc):
        target = self._thread_arg(core, t, pc, "wake")
        if target is None:
            return
        t.pc = pc + 1
        self._drain(core)  # wake_up_process() implies a full barrier (it takes the run-queue lock)
        self._emit(ev.WAKE, core, -1, 0, target.tid, core.machine.code[pc].site, target.tid, False)
        target.wake_pending = True
        if target.state == BLOCKED and target.blocked_on == "sleep":
            self._make_ready(target)

    def _op_spawn(self, core, t, pc):
        target = self._thread_arg(core, t, pc, "spawn")
        if target is None:
            return
        if target.state != NOT_STARTED:
            self.panic(core, t, pc, f"spawn: thread {target.name} was already started")
            return
        t.pc = pc + 1
        self._emit(ev.SPAWN, core, -1, 0, target.tid, core.machine.code[pc].site, target.tid, False)
        self._make_ready(target)

    def _op_delay(self, core, t, pc):
        n = self._value(core.machine.code[pc].args[0], t.regs)
        t.pc = pc + 1
        if n > 0:
            core.stall_until = self.cycle + 1 + n
            self._push_timer(core.stall_until, TIMER_CORE, core.gid)
            self._refresh_active()

    def _op_msleep(self, core, t, pc):
        n = self._value(core.machine.code[pc].args[0], t.regs)
        t.pc = pc + 1
        if n == 0:
            return
        if self._scheduling_while_atomic(core, t, pc):
            return
        self._push_timer(self.cycle + 1 + n, TIMER_THREAD, t.tid)
        self._switch_out(core, BLOCKED, "msleep")

    def _op_halt(self, core, t, pc):
        t.pc = pc
        self._drain(core)  # the thread's buffered stores become visible before it is gone
        self._emit(ev.EXIT, core, -1, 0, 0, core.machine.code[pc].site, -1, False)
        self._switch_out(core, EXITED)
        if self._all_done():
            self._complete()

    def _op_send(self, core, t, pc):
        ins = core.machine.code[pc]
        port = self.network.ports[ins.args[0].id]
        words = tuple(self._value(v, t.regs) for v in ins.args[1:])
        latency = self.network.route(core.mid, port)
        if latency is None:
            self.panic(core, t, pc, f"send: no network link from {core.machine.name} to "
                                    f"{self.machines[port.machine].name} (port {port.name})")
            return
        msg = self.network.next_message
        self.network.next_message += 1
        t.pc = pc + 1
        self._emit(ev.SEND, core, port.id, 0, words[0] if words else 0, ins.site, msg, False)
        self._push_timer(self.cycle + 1 + latency, TIMER_MESSAGE, (port.id, msg, words))

    def _op_recv(self, core, t, pc):
        ins = core.machine.code[pc]
        port = self.network.ports[ins.args[0].id]
        if port.machine != core.mid:
            self.panic(core, t, pc, f"recv: port {port.name} belongs to machine {self.machines[port.machine].name}")
            return
        if port.queue:
            msg, words = port.queue.pop(0)
            regs = t.regs
            for i, r in enumerate(ins.args[1:]):
                regs[r.n] = words[i] if i < len(words) else 0
            t.pc = pc + 1
            self._emit(ev.RECV, core, port.id, 0, words[0] if words else 0, ins.site, msg, False)
            return
        if self._scheduling_while_atomic(core, t, pc):
            return
        t.pc = pc
        port.waiters.append(t)
        self._switch_out(core, BLOCKED, f"recv {port.name}")

    def _op_bug(self, core, t, pc):
        self.panic(core, t, pc, core.machine.code[pc].args[-1].text)

    _op_bug_on = _op_bug

    def _op_enter(self, core, t, pc):
        self.panic(core, t, pc, f"stack overflow: {self.call_chain(t, pc)}")

    def _op_call(self, core, t, pc):  # only when the stack is full (see compiler)
        self.panic(core, t, pc, f"stack overflow ({STACK_WORDS * 8 // 1024} KiB): {self.call_chain(t, pc)}")

    _op_push = _op_call

    def call_chain(self, t: Thread, pc: int, ends: int = 3) -> str:
        """`outer -> ... -> inner` by function, from the return addresses (long chains: both ends
        and how many frames lie between)."""
        code = self.machines[t.machine].code
        sites = self.image.sites

        def fn(at: int) -> str:
            return sites[code[at].site].function if 0 <= at < len(code) else "?"
        names = [fn(ret - 1) for ret in t.calls] + [fn(pc)]
        if len(names) > 2 * ends + 1:
            names = names[:ends] + [f"... {len(names) - 2 * ends} frames ..."] + names[-ends:]
        return " -> ".join(names)

    def _op_preempt_enable(self, core, t, pc):
        self.panic(core, t, pc, "BUG: preempt_enable with preempt_count 0")

    # ------------------------------------------------------------------ inspection

    def describe_pc(self, t: Thread) -> str:
        code = self.machines[t.machine].code
        if 0 <= t.pc < len(code):
            s = self.image.sites[code[t.pc].site]
            return f"{s.file}:{s.line} ({s.function})"
        return f"pc {t.pc}"

    def read_symbol(self, name: str) -> int:
        """A symbol's value (`counter`, `page0.flags`), or `THREAD:rN`, a thread's register (a thread
        keeps its registers after it exits, so final values can be read after the run)."""
        if ":" in name:
            return self._read_register(name)
        sym = self.image.require_symbol(name)
        owner = next(m for m in self.machines if m.name == sym.machine)
        return owner.mem[sym.addr]

    def _read_register(self, name: str) -> int:
        tname, _, rest = name.partition(":")
        if self.image.locals and not _is_register_name(rest):
            return self._read_local(tname, rest, name)
        tid, n = register_of([t.name for t in self.threads], name)
        return self.threads[tid].regs[n]

    def check_symbol(self, name: str) -> None:
        """Raise a ScenarioError unless `name` can be read at some point of the run: a symbol, a
        thread's register, or a C local of some function on the thread's machine."""
        tname, colon, rest = name.partition(":")
        if not (colon and self.image.locals and not _is_register_name(rest)):
            self.read_symbol(name)
            return
        import difflib

        from .errors import ScenarioError
        names = [t.name for t in self.threads]
        if tname not in names:
            register_of(names, name)
        machine = self.machines[self.threads[names.index(tname)].machine].name
        function, _, local = rest.rpartition(".")
        known = {(e[0], e[1]) for e in self.image.locals.get(machine, ())}
        if not any(n == local and (not function or f == function) for f, n in known):
            choices = sorted({f"{f}.{n}" for f, n in known} | {n for _, n in known})
            close = difflib.get_close_matches(rest, choices, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ScenarioError(f"{name}: no C local {rest!r} on machine {machine}{hint}")

    def _read_local(self, tname: str, rest: str, name: str) -> int:
        """`THREAD:local` or `THREAD:function.local`: a C local of the thread's current frame."""
        from .errors import ScenarioError
        names = [t.name for t in self.threads]
        if tname not in names:
            register_of(names, name)  # raises with the closest thread names
        t = self.threads[names.index(tname)]
        m = self.machines[t.machine]
        function, _, local = rest.rpartition(".")
        code = m.code
        here = self.image.sites[code[t.pc].site] if 0 <= t.pc < len(code) else None
        found = [e for e in self.image.locals.get(m.name, ())
                 if e[1] == local and e[5] <= t.pc < e[6] and (not function or e[0] == function)]
        if not found:
            where = f"in {here.function} ({here.file}:{here.line})" if here is not None else f"at pc {t.pc}"
            visible = sorted({e[1] for e in self.image.locals.get(m.name, ()) if e[5] <= t.pc < e[6]})
            raise ScenarioError(f"{name}: no C local {local!r} where {tname} is, {where}"
                                + (f" (locals there: {', '.join(visible)})" if visible else ""))
        _fn, _name, _type, reg, slot, _lo, _hi = max(found, key=lambda e: e[5])
        if reg is not None:
            return t.regs[reg]
        return m.mem[(t.regs[15] + slot) % len(m.mem)]

    # ------------------------------------------------------------------ snapshot and restore

    def snapshot(self) -> bytes:
        """The whole system as bytes: restoring them into a System of the same scenario and options
        and running on gives exactly the continuation of this run."""
        return snapshot_codec.encode(self.snapshot_state())

    def snapshot_state(self) -> dict:
        """The snapshot as live Python data (copies, never shared with the running system), for
        `restore_state` of this same System: the explorer's backtracking, without encoding."""
        return {
            "cycle": self.cycle, "instructions": self.instructions,
            "mems": [m.mem[:] for m in self.machines],
            "run_queues": [[t.tid for t in m.run_queue] for m in self.machines],
            "threads": [t.state_tuple() for t in self.threads],
            "cores": [(-1 if c.thread is None else c.thread.tid, c.stall_until, c.slice_end, c.spinning,
                       list(c.sb.entries) if c.sb is not None else None) for c in self.cores],
            "timers": list(self.timers), "timer_order": self.timer_order,
            "network": self.network.state(),
            "scheduler": self.scheduler.state(), "memory_rng": self.memory_rng.getstate(),
            "outcome": None if self.outcome is None else asdict(self.outcome), "booted": self.booted,
            "lock_owners": [sorted((a, tid, pc) for a, (tid, pc) in m.lock_owner.items()) for m in self.machines],
        }

    def restore_state(self, state: dict) -> None:
        """Continue from `snapshot_state()` of this System (trusted: no shape checks; it can be
        restored any number of times)."""
        self._restore(state)

    def restore(self, blob: bytes) -> None:
        """Continue from a snapshot (SnapshotFormatError when it is damaged or not of this system:
        nothing is changed then)."""
        state = snapshot_codec.decode(blob)
        try:
            self._check_snapshot(state)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            if isinstance(err, snapshot_codec.SnapshotFormatError):
                raise
            raise snapshot_codec.SnapshotFormatError(f"not a snapshot of this system ({err})") from None
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise snapshot_codec.SnapshotFormatError(f"not a snapshot of this system "
                                                     f"({type(err).__name__}: {err})") from None

    def _check_snapshot(self, state) -> None:
        """The shape of a decoded snapshot: what restoring it would index or size by."""
        bad = snapshot_codec.SnapshotFormatError
        if not isinstance(state, dict):
            raise bad("not a snapshot of this system (no state dictionary)")
        for key, n in (("mems", len(self.machines)), ("run_queues", len(self.machines)),
                       ("threads", len(self.threads)), ("cores", len(self.cores))):
            if not isinstance(state[key], list) or len(state[key]) != n:
                raise bad(f"not a snapshot of this system ({key}: expected {n})")
        for m, mem in zip(self.machines, state["mems"]):
            if not isinstance(mem, list) or len(mem) != len(m.mem) or not all(type(v) is int for v in mem):
                raise bad(f"not a snapshot of this system (memory of machine {m.name})")
        n_threads = len(self.threads)
        tids = [tid for rq in state["run_queues"] for tid in rq] + [c[0] for c in state["cores"]]
        if not all(type(t) is int and -1 <= t < n_threads for t in tids):
            raise bad("not a snapshot of this system (a thread id out of range)")
        for t, ts in zip(self.threads, state["threads"]):
            if not isinstance(ts, tuple) or not isinstance(ts[0], list) or len(ts[0]) != len(t.regs):
                raise bad("not a snapshot of this system (a thread's registers)")

    def _restore(self, state: dict) -> None:
        self.cycle = state["cycle"]
        self.instructions = state["instructions"]
        for m, mem, rq in zip(self.machines, state["mems"], state["run_queues"]):
            m.mem[:] = mem  # in place: compiled code holds a reference to this list
            m.run_queue[:] = [self.threads[tid] for tid in rq]
        for t, ts in zip(self.threads, state["threads"]):
            t.restore(ts)
        for c, (tid, c.stall_until, c.slice_end, c.spinning, sb) in zip(self.cores, state["cores"]):
            c.thread = None if tid < 0 else self.threads[tid]
            if c.sb is not None:
                c.sb.restore(sb, state["cycle"])
        self.timers = list(state["timers"])
        self.timer_order = state["timer_order"]
        self.network.restore(state["network"], self.threads)
        sched = state["scheduler"]
        if isinstance(self.scheduler, (PCTScheduler, SchedulePlayer)):
            self.scheduler.restore(sched, self.threads)
        else:
            self.scheduler.restore(sched)
        self.memory_rng.setstate(state["memory_rng"])
        self.outcome = _outcome_from(state["outcome"])
        self.booted = state["booted"]
        for m, owners in zip(self.machines, state.get("lock_owners") or [[] for _ in self.machines]):
            m.lock_owner.clear()
            m.lock_owner.update({a: (tid, pc) for a, tid, pc in owners})
        self._stop = False
        self.stopped_mid_instruction = False
        self._refresh_active()


