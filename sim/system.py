"""The whole simulated system and its step loop.

One global virtual clock counts cycles: every instruction executed on any core takes one, and when
every core is idle or busy-waiting the clock jumps to the next timer (a `delay` ending, a message
arriving). The scheduler picks a core and a burst; the loop runs the burst's pre-compiled
instructions (sim.compiler) and only dispatches. Everything is a function of (image, options,
seed): no wall clock, no unseeded randomness, no hash-ordered iteration.

Here: building a system, the step loop and its scheduling decisions, putting threads on cores,
timers, and how a run ends. The rest of System is in the modules of its mixins: the instructions
it executes itself (sim.slow_ops), reading its state by name (sim.inspection), and snapshots
(sim.system_snapshot); how a run ended is sim.outcome's.
"""

from __future__ import annotations

import heapq
import random

from . import observer as ev
from .checks import InvariantWatch, compile_checks, final_failure
from .compiler import CONDITIONALLY_SLOW_OPS, SLOW_OPS, Slow, compile_core
from .inspection import Inspection
from .isa import MASK64, Mem
from .machine import Core, Machine
from .network import Network, Port
from .outcome import Outcome, PanicInfo
from .program import Image
from .scenario import RunOptions, Scenario, assemble_scenario, effective_cores, validate_options
from .schedule import Schedule, ScheduleLog, SchedulePlayer, core_names
from .slow_ops import TIMER_CORE, TIMER_THREAD, SlowOps
from .strategies import make_scheduler
from .store_buffer import store_buffer
from .system_snapshot import Snapshots
from .thread import BLOCKED, EXITED, READY, RUNNING, STATE_NAMES, Thread

TSO_DRAIN_PROBABILITY = 0.4  # chance, at each scheduling decision, that one buffered store drains


class System(SlowOps, Inspection, Snapshots):
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
