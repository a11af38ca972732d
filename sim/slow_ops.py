"""The instructions the system executes itself (sim.compiler raises Slow for them): locks taken
the slow way (contended, trylock, bit locks), sleep and wake, spawn, delays and timers, messages,
halts, and the panics of instructions that fault or overflow the stack.

A mixin of sim.system.System: the methods use the system's machines, threads, timers and
scheduling (`_switch_out`, `_make_ready`, `_end`, `panic`), and System binds each `_op_NAME` to
the instructions of that name once, when it is built.
"""

from __future__ import annotations

from . import observer as ev
from .isa import MASK64, STACK_WORDS, Mem, Reg
from .machine import Core, Machine
from .outcome import cycle_line
from .thread import BLOCKED, EXITED, NOT_STARTED, READY, RUNNING, Thread

TIMER_CORE = 0  # a delay ended: data = core gid
TIMER_MESSAGE = 1  # a message arrives: data = (port id, message id, words)
TIMER_THREAD = 2  # an msleep ended: data = thread id


class SlowOps:
    """System's `_op_NAME` methods and what they share (see the module docstring)."""

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
                self._end("deadlock", blocked=[cycle_line(c) for c in cycle], cycle=cycle)

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
