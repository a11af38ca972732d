"""Write a synthetic run directory with the recording schema, at any size, for benchmarks.

    python bench/synthetic_run.py --events 100_000_000 --out bench/out/run100m [--seed 1]

The run looks like a recording of a two-machine NFS-style workload: 8 threads on 2 machines with 2
cores each, a few thousand named words (page/request flags, request fields, lock words, shared
buffers, per-thread private data), critical sections under spinlocks (acquire + rmw, write +
release), messages between the machines, wake-ups, context switches, and about 60% reads, 30%
writes and 10% atomic read-modify-writes. Values are consistent (each write's `old` is the word's
previous value, each read's `new` the current one), vector clocks follow the recorder's rules, and
everything is a function of the seed. Generation is vectorised with numpy except for one Python
step per synchronisation instruction (about 1% of them), which keeps locks and clocks honest.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracer import schema as S
from tracer.trace_stream import write_checked, write_options  # the recorder's own encoding

K = {name: i for i, name in enumerate(S.KIND_NAMES)}
BITS = {"PG_locked": 0, "PG_uptodate": 1, "PG_dirty": 2, "PG_writeback": 3, "PG_private": 4,
        "PG_referenced": 5, "PG_lru": 6, "PG_error": 7, "PG_BUSY": 8, "PG_CLEAN": 9,
        "PG_NEED_COMMIT": 10}
MACHINES = ["client", "server"]
CORES = {"client": 2, "server": 2}
THREADS = [("flusher", 0, "nfs_writepages"), ("rpciod", 0, "nfs_write_done"),
           ("vmxmon", 0, "vmx_ioctl"), ("kworker", 0, "kworker_fn"),
           ("nfsd0", 1, "nfsd_write"), ("nfsd1", 1, "nfsd_write"),
           ("nfsd2", 1, "nfsd_commit"), ("nfsd3", 1, "nfsd_commit")]
NOBJ = 16  # page{i}/req{i} on the client, file{i} on the server
PART_ROWS = 4 * 1024 * 1024
BATCH_ROWS = 64 * 1024
SYNC_FRACTION = 0.01  # instructions that are synchronisation operations


@dataclass
class Layout:
    addr: np.ndarray
    names: list[str]
    objects: list[str]
    fields: list[str]
    machine: list[str]
    locks: list[int]  # lock word addresses, index = lock id
    lock_machine: np.ndarray
    protected: list[np.ndarray]  # lock id -> addresses it protects
    private: list[np.ndarray]  # thread -> its private words
    shared: list[np.ndarray]  # machine -> unprotected shared words
    flags: list[np.ndarray]  # machine -> flag words (accessed with bit operations)


def make_layout(words_per_buffer: int = 1536) -> Layout:
    rows: list[tuple[str, str, str, str]] = []  # name, object, field, machine

    def add(name, obj, field, machine):
        rows.append((name, obj, field, machine))
        return len(rows) - 1

    locks, lock_machine, protected, private = [], [], [], []
    shared = [[], []]
    flags = [[], []]
    for i in range(NOBJ):
        flags[0].append(add(f"page{i}.flags", f"page{i}", "flags", "client"))
        for f in ("mapping", "index", "count"):
            shared[0].append(add(f"page{i}.{f}", f"page{i}", f, "client"))
        flags[0].append(add(f"req{i}.wb_flags", f"req{i}", "wb_flags", "client"))
        prot = [add(f"req{i}.{f}", f"req{i}", f, "client") for f in ("wb_bytes", "wb_offset", "wb_pgbase", "wb_index")]
        locks.append(add(f"req{i}.lock", f"req{i}", "lock", "client"))
        lock_machine.append(0)
        protected.append(prot)
    for i in range(NOBJ):
        flags[1].append(add(f"file{i}.state", f"file{i}", "state", "server"))
        prot = [add(f"file{i}.{f}", f"file{i}", f, "server") for f in ("size", "mtime", "version", "commit")]
        locks.append(add(f"file{i}.lock", f"file{i}", "lock", "server"))
        lock_machine.append(1)
        protected.append(prot)
    for m, machine in enumerate(MACHINES):
        for j in range(words_per_buffer):
            idx = add(f"{machine}_buf[{j}]", f"{machine}_buf", "", machine)
            # a slice of each buffer is protected by the locks, the rest is shared and unprotected
            if j < NOBJ * 16:
                protected[m * NOBJ + j // 16].append(idx)
            else:
                shared[m].append(idx)
    for t, (name, m, _) in enumerate(THREADS):
        private.append([add(f"{name}_stack[{j}]", f"{name}_stack", "", MACHINES[m]) for j in range(96)])
    addr = 0x100 + np.arange(len(rows), dtype=np.int64)
    a = lambda idxs: addr[np.asarray(idxs, dtype=np.int64)]
    return Layout(addr=addr, names=[r[0] for r in rows], objects=[r[1] for r in rows],
                  fields=[r[2] for r in rows], machine=[r[3] for r in rows],
                  locks=[int(x) for x in a(locks)], lock_machine=np.array(lock_machine),
                  protected=[a(p) for p in protected], private=[a(p) for p in private],
                  shared=[a(s) for s in shared], flags=[a(f) for f in flags])


@dataclass
class Sites:
    table: pa.Table
    base: np.ndarray  # thread -> first site id of its function's access sites
    per_thread: int
    sync: dict[str, int]  # kind name -> site id (shared kernel helpers)


def make_sites() -> Sites:
    rows = []
    functions = sorted({fn for _, _, fn in THREADS})
    per_function = 120
    base_of = {}
    for fn in functions:
        base_of[fn] = len(rows)
        m = next(MACHINES[m] for _, m, f in THREADS if f == fn)
        for k in range(per_function):
            line = 10 + k
            rows.append((m, k, f"{fn}.s", line, 5, fn, f"{fn}.l{k}" if k % 20 == 0 else "",
                         f"ld r{k % 8}, [r9 + {k}]" if k % 3 else f"st [r9 + {k}], r{k % 8}"))
    sync = {}
    for name, text in (("spin_lock", "spin_lock [r8]"), ("spin_unlock", "spin_unlock [r8]"),
                       ("send", "send PORT, r1"), ("recv", "recv PORT, r1"), ("wake", "wake r3"),
                       ("sleep", "sleep"), ("fence", "fence"), ("spawn", "spawn r3"), ("switch", "yield")):
        for m in MACHINES:
            sync[(name, m)] = len(rows)
            rows.append((m, 1000 + len(sync), "kernel.inc", 100 + len(sync), 5, name, name, text))
    cols = list(zip(*rows))
    table = pa.table({
        "site": pa.array(np.arange(len(rows), dtype=np.int32)),
        "machine": pa.array(cols[0], pa.string()), "pc": pa.array(cols[1], pa.int32()),
        "file": pa.array(cols[2], pa.string()), "line": pa.array(cols[3], pa.int32()),
        "col": pa.array(cols[4], pa.int32()), "function": pa.array(cols[5], pa.string()),
        "label": pa.array(cols[6], pa.string()), "text": pa.array(cols[7], pa.string()),
    }, schema=S.SITES)
    base = np.array([base_of[fn] for _, _, fn in THREADS], dtype=np.int32)
    return Sites(table, base, per_function, sync)


class Generator:
    """Generates the instruction stream part by part, carrying all state across parts."""

    def __init__(self, seed: int, layout: Layout, sites: Sites):
        self.rng = np.random.default_rng(seed)
        self.L = layout
        self.sites = sites
        self.nthreads = len(THREADS)
        self.thread_machine = np.array([m for _, m, _ in THREADS])
        self.cores = [(m, c) for m, name in enumerate(MACHINES) for c in range(CORES[name])]
        self.seq = 0
        self.cycle = 0
        self.mem = np.zeros(int(layout.addr.max()) + 1, dtype=np.uint64)  # current value per address
        # vector clocks: own entries start at 1, unknown entries are 0
        T = self.nthreads
        self.vc = np.zeros((T, T), dtype=np.int64)
        self.vc[np.arange(T), np.arange(T)] = 1
        self.lock_vc = np.zeros((len(layout.locks), T), dtype=np.int64)
        self.lock_holder = np.full(len(layout.locks), -1)
        self.held = np.full(T, -1)  # lock id each thread holds, -1
        self.msg_vc: dict[int, np.ndarray] = {}
        self.inbox: list[deque[int]] = [deque() for _ in range(T)]
        self.wake_vc: list[np.ndarray | None] = [None] * T
        self.next_msg = 0
        self.running = {mc: -1 for mc in self.cores}
        self.slice_left = 0
        self.vclock_rows: list[np.ndarray] = []
        self.started = False

    # -- vector clock bookkeeping -------------------------------------------------------------
    def _vc_row(self, t: int, seq: int) -> None:
        T = self.nthreads
        others = np.array([u for u in range(T) if u != t])
        rows = np.empty((len(others), 5), dtype=np.int64)
        rows[:, 0] = t
        rows[:, 1] = self.vc[t, t]
        rows[:, 2] = seq
        rows[:, 3] = others
        rows[:, 4] = self.vc[t, others]
        self.vclock_rows.append(rows)

    def part(self, nslots: int):
        """One part's worth of instructions -> (events table columns, clock changes)."""
        rng, L, T = self.rng, self.L, self.nthreads
        # --- schedule: slices during which every core runs one thread, cores interleave at random
        core_of = rng.integers(0, len(self.cores), nslots)
        thread_of = np.empty(nslots, dtype=np.int64)
        switch_at: list[tuple[int, int, int, int]] = []  # slot, core index, old, new
        pos = 0
        while pos < nslots:
            if self.slice_left == 0:
                self.slice_left = int(rng.integers(2_000, 40_000))
                for m, name in enumerate(MACHINES):
                    mine = [t for t in range(T) if self.thread_machine[t] == m]
                    pick = rng.permutation(mine)[:CORES[name]]
                    for c in range(CORES[name]):
                        ci = self.cores.index((m, c))
                        old = self.running[(m, c)]
                        if old != pick[c]:
                            switch_at.append((pos, ci, old, int(pick[c])))
                            self.running[(m, c)] = int(pick[c])
            n = min(self.slice_left, nslots - pos)
            lut = np.array([self.running[mc] for mc in self.cores])
            thread_of[pos:pos + n] = lut[core_of[pos:pos + n]]
            pos += n
            self.slice_left -= n
        # --- slot kinds: accesses or synchronisation instructions
        is_sync = rng.random(nslots) < SYNC_FRACTION
        if not self.started:
            is_sync[:T] = True  # the first slots start the threads
        sync_slots = np.flatnonzero(is_sync)
        # per sync slot: (kind, addr, sync, old, new, atomic, site, extra-event-before?)
        n_events_per_slot = np.ones(nslots, dtype=np.int64)
        sync_plan = []
        mname = lambda t: MACHINES[self.thread_machine[t]]
        # slot -> event index comes after expansion; plan first, then place
        r = rng.random((len(sync_slots), 3))
        for k, s in enumerate(sync_slots):
            t = int(thread_of[s])
            if not self.started and k < T:
                if k == 0:
                    sync_plan.append(("start", t, None))
                else:
                    sync_plan.append(("spawnall", t, None))
                continue
            held = self.held[t]
            if held >= 0:
                sync_plan.append(("release", t, int(held)))
                self.lock_holder[held] = -1
                self.held[t] = -1
                n_events_per_slot[s] = 2
                continue
            x = r[k, 0]
            if x < 0.70:
                m = self.thread_machine[t]
                free = np.flatnonzero((self.lock_holder < 0) & (L.lock_machine == m))
                if len(free):
                    lk = int(free[int(r[k, 1] * len(free))])
                    self.lock_holder[lk] = t
                    self.held[t] = lk
                    sync_plan.append(("acquire", t, lk))
                    n_events_per_slot[s] = 2
                    continue
                sync_plan.append(("fence", t, None))
            elif x < 0.82:
                others = [u for u in range(T) if self.thread_machine[u] != self.thread_machine[t]]
                sync_plan.append(("send", t, others[int(r[k, 1] * len(others))]))
            elif x < 0.94:
                sync_plan.append(("recv", t, None))  # a fence if nothing has arrived
            elif x < 0.97:
                mates = [u for u in range(T) if self.thread_machine[u] == self.thread_machine[t] and u != t]
                sync_plan.append(("wake", t, mates[int(r[k, 1] * len(mates))]))
            else:
                sync_plan.append(("sleep", t, None))  # a fence if nobody woke us
            # (recv/sleep availability is decided when the slot is executed below, in order)
        # switch events are extra slots before the slot where the slice starts
        extra_switch = np.zeros(nslots, dtype=np.int64)
        for slot, _, _, _ in switch_at:
            extra_switch[slot] += 1
        n_events_per_slot += extra_switch
        first_event = np.concatenate([[0], np.cumsum(n_events_per_slot)[:-1]])
        nev = int(n_events_per_slot.sum())
        seq0 = self.seq
        # the main (last) event of each slot
        main = first_event + n_events_per_slot - 1
        kind = np.full(nev, K["read"], dtype=np.int8)
        thread = np.repeat(thread_of, n_events_per_slot).astype(np.int32)
        core_idx = np.repeat(core_of, n_events_per_slot)
        addr = np.full(nev, -1, dtype=np.int64)
        sync = np.full(nev, -1, dtype=np.int64)
        atomic = np.zeros(nev, dtype=bool)
        site = np.full(nev, -1, dtype=np.int32)
        xmask = np.zeros(nev, dtype=np.uint64)  # what each write xors into the word
        is_access = np.zeros(nev, dtype=bool)
        # switch events
        sw_pos = first_event.copy()
        switches: list[tuple[int, int, int]] = []
        for slot, ci, old, new in switch_at:
            e = sw_pos[slot]
            sw_pos[slot] += 1
            kind[e] = K["switch"]
            thread[e] = new
            core_idx[e] = ci
            addr[e] = -1
            site[e] = self.sites.sync[("switch", MACHINES[self.cores[ci][0]])]
            switches.append((e, old, new))  # old/new hold the thread ids
        # --- clock changes in event order (Python, one step per sync slot)
        changes: list[tuple[int, int, int]] = []  # (thread, effective event index, new own clock)
        olds = np.zeros(nev, dtype=np.uint64)
        news = np.zeros(nev, dtype=np.uint64)
        for (what, t, arg), s in zip(sync_plan, sync_slots):
            e = int(main[s])
            seq = seq0 + e
            m = mname(t)
            if what == "start":
                kind[e] = K["fence"]
                site[e] = self.sites.sync[("fence", m)]
                for u in range(T):  # every thread's initial clock
                    self._vc_row(u, seq)
                continue
            if what == "spawnall":
                kind[e] = K["fence"]
                site[e] = self.sites.sync[("fence", m)]
                continue
            if what == "acquire":
                # as the simulator reports it: the acquire just before the rmw that took the lock
                lw = L.locks[arg]
                kind[e - 1] = K["acquire"]
                sync[e - 1] = lw
                site[e - 1] = site[e] = self.sites.sync[("spin_lock", m)]
                kind[e] = K["rmw"]
                addr[e] = lw
                atomic[e] = True
                xmask[e] = 1
                is_access[e] = True
                self.vc[t] = np.maximum(self.vc[t], self.lock_vc[arg])
                self.vc[t, t] += 1
                changes.append((t, e - 1, int(self.vc[t, t])))
                self._vc_row(t, seq - 1)
            elif what == "release":
                lw = L.locks[arg]
                kind[e - 1] = K["write"]
                addr[e - 1] = lw
                atomic[e - 1] = True
                xmask[e - 1] = 1
                is_access[e - 1] = True
                site[e - 1] = site[e] = self.sites.sync[("spin_unlock", m)]
                kind[e] = K["release"]
                sync[e] = lw
                self.lock_vc[arg] = self.vc[t]
                self.vc[t, t] += 1
                changes.append((t, e + 1, int(self.vc[t, t])))
                self._vc_row(t, seq)
            elif what == "send":
                kind[e] = K["send"]
                site[e] = self.sites.sync[("send", m)]
                mid = self.next_msg
                self.next_msg += 1
                sync[e] = mid
                addr[e] = arg  # the port: the destination thread's port
                self.msg_vc[mid] = self.vc[t].copy()
                self.inbox[arg].append(mid)
                self.vc[t, t] += 1
                changes.append((t, e + 1, int(self.vc[t, t])))
                self._vc_row(t, seq)
            elif what == "recv" and self.inbox[t]:
                mid = self.inbox[t].popleft()
                kind[e] = K["recv"]
                site[e] = self.sites.sync[("recv", m)]
                sync[e] = mid
                addr[e] = t
                self.vc[t] = np.maximum(self.vc[t], self.msg_vc.pop(mid))
                self.vc[t, t] += 1
                changes.append((t, e, int(self.vc[t, t])))
                self._vc_row(t, seq)
            elif what == "wake":
                kind[e] = K["wake"]
                site[e] = self.sites.sync[("wake", m)]
                sync[e] = arg
                w = self.vc[t].copy()
                self.wake_vc[arg] = w if self.wake_vc[arg] is None else np.maximum(self.wake_vc[arg], w)
                self.vc[t, t] += 1
                changes.append((t, e + 1, int(self.vc[t, t])))
                self._vc_row(t, seq)
            elif what == "sleep" and self.wake_vc[t] is not None:
                kind[e] = K["sleep"]
                site[e] = self.sites.sync[("sleep", m)]
                sync[e] = t
                self.vc[t] = np.maximum(self.vc[t], self.wake_vc[t])
                self.wake_vc[t] = None
                self.vc[t, t] += 1
                changes.append((t, e, int(self.vc[t, t])))
                self._vc_row(t, seq)
            else:
                kind[e] = K["fence"]
                site[e] = self.sites.sync[("fence", m)]
        if not self.started:
            self.started = True
        # --- memory accesses for every other slot
        acc_slots = np.flatnonzero(~is_sync)
        acc_e = main[acc_slots]
        ta = thread[acc_e].astype(np.int64)
        n = len(acc_e)
        u = rng.random((n, 3))
        # who holds what at each access: forward-fill of acquire/release per thread
        held_at = np.full(n, -1, dtype=np.int64)
        ev_held = np.full(nev, -2, dtype=np.int64)
        for (what, t, arg), s in zip(sync_plan, sync_slots):
            if what == "acquire":
                ev_held[main[s]] = arg
            elif what == "release":
                ev_held[main[s]] = -1
        for t in range(T):
            idx = np.flatnonzero(thread == t)
            h = ev_held[idx]
            known = h != -2
            pos = np.where(known, np.arange(len(idx)), -1)
            np.maximum.accumulate(pos, out=pos)
            start = self._held_at_part_start[t] if hasattr(self, "_held_at_part_start") else -1
            vals = np.where(pos >= 0, h[np.maximum(pos, 0)], start)
            ev_held[idx] = vals
        self._held_at_part_start = self.held.copy()
        held_at = ev_held[acc_e]
        chosen = np.empty(n, dtype=np.int64)
        # locked: protected words of the held lock (70%) or private
        locked = held_at >= 0
        priv_len = np.array([len(p) for p in L.private])
        priv_all = np.concatenate(L.private)
        priv_off = np.concatenate([[0], np.cumsum(priv_len)[:-1]])
        pick_priv = (u[:, 0] < 0.5) | (locked & (u[:, 0] < 0.3))
        # zipf-ish choice inside a set: u^3 favours the first words
        zi = u[:, 1] ** 3
        chosen[:] = priv_all[priv_off[ta] + (zi * priv_len[ta]).astype(np.int64)]
        prot_len = np.array([len(p) for p in L.protected])
        prot_all = np.concatenate(L.protected)
        prot_off = np.concatenate([[0], np.cumsum(prot_len)[:-1]])
        sel = locked & ~pick_priv
        hl = held_at[sel]
        chosen[sel] = prot_all[prot_off[hl] + (u[sel, 1] * prot_len[hl]).astype(np.int64)]
        mach = self.thread_machine[ta]
        unl = ~locked & ~pick_priv
        is_flag = unl & (u[:, 2] < 0.25)
        for m in range(len(MACHINES)):
            sh = L.shared[m]
            sm = unl & ~is_flag & (mach == m)
            chosen[sm] = sh[(u[sm, 1] * len(sh)).astype(np.int64)]
            fl = L.flags[m]
            fm = is_flag & (mach == m)
            chosen[fm] = fl[(u[fm, 1] ** 2 * len(fl)).astype(np.int64)]
        # kinds: flags words get atomic bit operations (rmw) or plain reads; others 60/30/10
        v = rng.random(n)
        k = np.where(v < 0.6, K["read"], np.where(v < 0.9, K["write"], K["rmw"])).astype(np.int8)
        k[is_flag] = np.where(v[is_flag] < 0.5, K["read"], np.where(v[is_flag] < 0.97, K["rmw"], K["write"]))
        kind[acc_e] = k
        addr[acc_e] = chosen
        atomic[acc_e] = k == K["rmw"]
        is_access[acc_e] = True
        bits = rng.integers(0, 11, n).astype(np.uint64)
        rnd = rng.integers(0, 1 << 16, n).astype(np.uint64)
        xm = np.where(is_flag, np.uint64(1) << bits, rnd)
        xm[k == K["read"]] = 0
        xmask[acc_e] = xm
        site[acc_e] = (self.sites.base[ta] + (chosen * 7 + k) % self.sites.per_thread).astype(np.int32)
        # --- values: segmented running xor per address, in event order
        ai = np.flatnonzero(is_access)
        a = addr[ai]
        order = np.argsort((a - a.min()).astype(np.int16), kind="stable") if len(a) else a
        a_s = a[order]
        x_s = xmask[ai][order]
        cum = np.bitwise_xor.accumulate(x_s) if len(x_s) else x_s
        starts = np.flatnonzero(np.concatenate([[True], a_s[1:] != a_s[:-1]])) if len(a_s) else a_s
        seg_id = np.cumsum(np.concatenate([[False], a_s[1:] != a_s[:-1]])) if len(a_s) else a_s
        before_seg = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0).astype(np.uint64)
        new_s = self.mem[a_s] ^ cum ^ before_seg[seg_id]
        old_s = new_s ^ x_s
        self.mem[a_s[np.r_[starts[1:] - 1, len(a_s) - 1]] if len(a_s) else a_s] = \
            new_s[np.r_[starts[1:] - 1, len(a_s) - 1]] if len(a_s) else new_s
        news[ai[order]] = new_s
        olds[ai[order]] = np.where(np.isin(kind[ai[order]], [K["write"], K["rmw"]]), old_s, 0)
        for e, old, new in switches:
            olds[e] = np.uint64(old % (1 << 64))
            news[e] = np.uint64(new)
        # --- the clock column: per thread, the own entry in force at each event
        clock = np.empty(nev, dtype=np.int64)
        start_clock = self._clock_at_part_start if hasattr(self, "_clock_at_part_start") else np.ones(T, np.int64)
        ch = np.array(changes, dtype=np.int64).reshape(-1, 3)
        for t in range(T):
            idx = np.flatnonzero(thread == t)
            c = ch[ch[:, 0] == t]
            if len(c) == 0:
                clock[idx] = start_clock[t]
                continue
            j = np.searchsorted(c[:, 1], idx, side="right") - 1
            clock[idx] = np.where(j >= 0, c[np.maximum(j, 0), 2], start_clock[t])
        self._clock_at_part_start = self.vc[np.arange(T), np.arange(T)].copy()
        # --- cycles: a global clock that advances 1-4 cycles per event
        cycles = self.cycle + np.cumsum(rng.integers(1, 5, nev))
        self.cycle = int(cycles[-1])
        self.seq += nev
        mc = np.array(self.cores)
        cols = {
            "seq": np.arange(seq0, seq0 + nev, dtype=np.int64),
            "cycle": cycles.astype(np.int64),
            "machine": mc[core_idx, 0].astype(np.int16),
            "core": mc[core_idx, 1].astype(np.int16),
            "thread": thread,
            "site": site,
            "kind": kind,
            "addr": addr,
            "old": olds,
            "new": news,
            "clock": clock,
            "sync": sync,
            "atomic": atomic,
            "mode": access_modes(kind, addr, site, atomic),
            "issued": np.full(len(kind), -1, dtype=np.int64),  # sc: no store is ever buffered
        }
        return cols


MODE = {name: i for i, name in enumerate(S.MODE_NAMES)}


def access_modes(kind: np.ndarray, addr: np.ndarray, site: np.ndarray, atomic: np.ndarray) -> np.ndarray:
    """How each access was made: atomics are value-returning RMWs, lock operations acquire and
    release, fences full; one plain access site in ten is a marked one (READ_ONCE / WRITE_ONCE),
    chosen by site so that the trace's random streams stay what they were."""
    mode = np.zeros(len(kind), dtype=np.int8)
    plain_access = (kind <= K["rmw"]) & (addr >= 0) & ~atomic
    mode[plain_access & (site % 10 == 3)] = MODE["marked"]
    mode[atomic & (kind == K["rmw"])] = MODE["atomic"]
    mode[atomic & (kind == K["write"])] = MODE["release"]  # a lock word's release
    mode[kind == K["acquire"]] = MODE["acquire"]
    lock_rmw = np.flatnonzero(kind[:-1] == K["acquire"]) + 1  # the rmw that took the lock
    mode[lock_rmw[kind[lock_rmw] == K["rmw"]]] = MODE["acquire"]
    mode[kind == K["release"]] = MODE["release"]
    mode[kind == K["fence"]] = MODE["mb"]
    return mode


def events_table(cols: dict) -> pa.Table:
    arrays = []
    for f in S.EVENTS:
        if f.name == "kind":
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(cols["kind"], pa.int8()), S.KIND_DICTIONARY))
        elif f.name == "mode":
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(cols["mode"], pa.int8()), S.MODE_DICTIONARY))
        elif f.name == "issued":  # no store was buffered (the synthetic machine is sc)
            arrays.append(pa.array(np.full(len(cols["seq"]), -1, dtype=np.int64), f.type))
        else:
            arrays.append(pa.array(cols[f.name], f.type))
    return pa.Table.from_arrays(arrays, schema=S.EVENTS)


def write_run(out: Path, events: int, seed: int, panic: bool = False, quiet: bool = False) -> dict:
    t0 = time.time()
    if out.exists():
        shutil.rmtree(out)
    (out / S.EVENTS_DIR).mkdir(parents=True)
    (out / S.VCLOCKS_DIR).mkdir()
    layout = make_layout()
    sites = make_sites()
    gen = Generator(seed, layout, sites)
    part = 0
    written = 0
    vc_part = 0
    vc_written = 0
    while written < events:
        want = min(PART_ROWS, events - written)
        nslots = want
        cols = gen.part(nslots)
        n = len(cols["seq"])
        if written + n > events:  # trim to the exact size
            keep = events - written
            cols = {k: v[:keep] for k, v in cols.items()}
            n = keep
        if panic and written + n >= events:
            cols["kind"][-1] = K["panic"]
            cols["addr"][-1] = -1
            cols["atomic"][-1] = False
            cols["mode"][-1] = 0
            cols["old"][-1] = 0
            cols["new"][-1] = 0
        table = events_table(cols)
        with pa.OSFile(str(out / S.EVENTS_DIR / S.PART_PATTERN.format(part)), "wb") as f, \
                pa.ipc.new_stream(f, S.EVENTS, options=write_options()) as w:
            for b in table.to_batches(max_chunksize=BATCH_ROWS):
                write_checked(w, b)
        part += 1
        written += n
        if gen.vclock_rows:
            rows = np.concatenate(gen.vclock_rows)
            rows = rows[rows[:, 2] < written]
            gen.vclock_rows = []
            vt = pa.table({
                "thread": pa.array(rows[:, 0].astype(np.int32)), "clock": pa.array(rows[:, 1]),
                "seq": pa.array(rows[:, 2]), "of_thread": pa.array(rows[:, 3].astype(np.int32)),
                "value": pa.array(rows[:, 4])}, schema=S.VCLOCKS)
            with pa.OSFile(str(out / S.VCLOCKS_DIR / S.PART_PATTERN.format(vc_part)), "wb") as f, \
                    pa.ipc.new_stream(f, S.VCLOCKS, options=write_options()) as w:
                for b in vt.to_batches(max_chunksize=BATCH_ROWS):
                    write_checked(w, b)
            vc_part += 1
            vc_written += len(rows)
        if not quiet:
            print(f"\r{written:,} / {events:,} events", end="", file=sys.stderr, flush=True)
    if not quiet:
        print(file=sys.stderr)
    # side tables
    n = len(layout.names)
    initial = np.zeros(n, dtype=np.uint64)
    pq.write_table(pa.table({
        "addr": pa.array(layout.addr), "name": pa.array(layout.names),
        "object": pa.array(layout.objects), "field": pa.array(layout.fields),
        "size": pa.array(np.ones(n, dtype=np.int32)), "machine": pa.array(layout.machine),
        "initial": pa.array(initial)}, schema=S.SYMBOLS), out / "symbols.parquet")
    pq.write_table(pa.table({"name": list(BITS), "bit": pa.array(list(BITS.values()), pa.int32())},
                            schema=S.BITS), out / "bits.parquet")
    pq.write_table(sites.table, out / "sites.parquet")
    pq.write_table(pa.table({
        "thread": pa.array(np.arange(len(THREADS), dtype=np.int32)),
        "name": [t[0] for t in THREADS], "machine": [MACHINES[t[1]] for t in THREADS],
        "kind": ["kernel"] * len(THREADS), "entry": [t[2] for t in THREADS]}, schema=S.THREADS),
        out / "threads.parquet")
    meta = {
        "schema_version": S.SCHEMA_VERSION,
        "tool_version": "synthetic-1",
        "scenario": "bench/synthetic", "scenario_name": "synthetic", "scenario_hash": f"seed{seed}",
        "variant": None, "seed": seed, "sched": "random", "depth": None, "memory_model": "sc",
        "machines": MACHINES, "cores": CORES,
        "outcome": "panic" if panic else "completed",
        "panic": ({"message": "synthetic BUG_ON", "machine": "client", "core": 0, "thread": "flusher",
                   "site": -1, "seq": events - 1} if panic else None),
        "instructions": events, "cycles": gen.cycle, "events": events, "truncated": False,
        "invariants": [
            {"name": "page_vs_request", "expr": "not (page{i}.flags:PG_dirty and req{i}.wb_flags:PG_CLEAN)",
             "for": "i in 0..15"},
            {"name": "writeback_implies_busy",
             "expr": "not page0.flags:PG_writeback or req0.wb_flags:PG_BUSY"},
        ],
        "orderings": [{"name": "lock before commit", "before": "spin_lock", "after": "nfsd_commit"}],
        "locksets": [{"name": "req fields under req lock", "fields": "req*.wb_bytes", "lock": "{object}.lock"}],
    }
    (out / S.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return {"events": written, "parts": part, "vclock_rows": vc_written, "seconds": time.time() - t0}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("bench/out/synthetic"))
    p.add_argument("--panic", action="store_true", help="end the run with a panic event")
    args = p.parse_args(argv)
    info = write_run(args.out, args.events, args.seed, panic=args.panic)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {args.out}: {info['events']:,} events in {info['parts']} parts, "
          f"{info['vclock_rows']:,} vector-clock rows, {size / 1e9:.2f} GB, {info['seconds']:.1f} s")


if __name__ == "__main__":
    main()
