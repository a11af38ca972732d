"""Write small run directories by hand, for the query tests.

    b = RunBuilder(threads=["t0", "t1"], words={"counter": 0, "lock": 0})
    b.read("t0", "counter", site=("worker", 7))
    b.write("t0", "counter", 1, site=("worker", 9))
    b.acquire("t1", "lock"); b.write("t1", "counter", 2); b.release("t1", "lock")
    path = b.save(tmp_path / "run")

The builder keeps memory (so `old` is always right) and vector clocks by the recorder's own rules
(tracer.happens_before.HappensBefore, given every event: locks, messages, spawn, wake and the
kernel's rules for marked, acquire, release and atomic accesses and fences); a thread's clock
starts at its first event. Every change writes the thread's full clock to vclocks. The brute-force
reference (reference.py) computes happens-before on its own, so comparing the two checks the
recorder's rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tracer import schema as S
from tracer.happens_before import HappensBefore
from tracer.trace_stream import write_checked

KIND = {name: i for i, name in enumerate(S.KIND_NAMES)}
MODE = {name: i for i, name in enumerate(S.MODE_NAMES)}
DEFAULT_MODE = {"acquire": "acquire", "release": "release", "fence": "mb"}
MASK = (1 << 64) - 1


class RunBuilder:
    def __init__(self, threads=("t0", "t1"), words=None, bits=None, machines=None, cores=None,
                 thread_machine=None, symbols=None):
        self.machines = list(machines or ["host"])
        self.cores = dict(cores or {m: 2 for m in self.machines})
        self.thread_names = list(threads)
        self.tid = {name: i for i, name in enumerate(self.thread_names)}
        self.thread_machine = dict(thread_machine or {})
        # words: name -> initial value (addresses from 0x100 upward), or name -> (addr, initial)
        self.symbols: list[dict] = []
        self.addr_of: dict[str, int] = {}
        next_addr = 0x100
        for name, spec in (words or {}).items():
            addr, initial = (spec if isinstance(spec, tuple) else (next_addr, spec))
            next_addr = max(next_addr, addr + 1)
            obj, _, field = name.partition(".")
            self.symbols.append({"addr": addr, "name": name, "object": obj, "field": field,
                                 "size": 1, "machine": self.machines[0], "initial": initial})
            self.addr_of[name] = addr
        for s in symbols or []:  # raw extra symbol rows (e.g. multi-word ones)
            self.symbols.append(dict(s))
            self.addr_of.setdefault(s["name"], s["addr"])
        self.bits = dict(bits or {})
        self.memory = {s["addr"]: s["initial"] for s in self.symbols}
        self.sites: list[dict] = []
        self.site_ids: dict[tuple, int] = {}
        self.events: list[dict] = []
        self.vrows: list[dict] = []
        self.hb = HappensBefore(len(self.thread_names))  # the recorder's rules
        self.core_of = {name: i % 2 for i, name in enumerate(self.thread_names)}
        self.cycle = 0
        self.next_msg = 0

    # -- helpers ---------------------------------------------------------------------------------
    def site(self, spec) -> int:
        if spec is None:
            return -1
        if isinstance(spec, int):
            return spec
        function, line, *rest = spec
        label = rest[0] if rest else ""
        key = (function, line, label)
        if key not in self.site_ids:
            self.site_ids[key] = len(self.sites)
            self.sites.append({"site": len(self.sites), "machine": self.machines[0], "pc": len(self.sites),
                               "file": f"{function}.s", "line": line, "col": 5, "function": function,
                               "label": label, "text": f"insn {function}:{line}"})
        return self.site_ids[key]

    def addr(self, target) -> int:
        return target if isinstance(target, int) else self.addr_of[target]

    def _emit(self, thread: str, kind: str, addr=-1, old=0, new=0, site=None, sync=-1,
              atomic=False, core=None, cycles=1, mode=None) -> dict:
        t = self.tid[thread]
        seq = len(self.events)
        mode = mode or DEFAULT_MODE.get(kind, "atomic" if atomic else "plain")
        if not self.hb.started[t]:
            self.hb.start(t, seq)
        clock = self.hb.event(KIND[kind], t, sync, seq, MODE[mode], addr, old & MASK, new & MASK)
        for u, epoch, at, vc in self.hb.changes:
            self.vrows.extend({"thread": u, "clock": epoch, "seq": at, "of_thread": o, "value": v}
                              for o, v in enumerate(vc))
        self.hb.changes.clear()
        self.cycle += cycles
        m = self.thread_machine.get(thread, self.machines[0])
        ev = {"seq": seq, "cycle": self.cycle, "machine": self.machines.index(m),
              "core": self.core_of[thread] if core is None else core, "thread": t,
              "site": self.site(site), "kind": kind, "addr": addr, "old": old & MASK,
              "new": new & MASK, "clock": clock, "sync": sync, "atomic": atomic, "mode": mode,
              "issued": -1}
        self.events.append(ev)
        return ev

    # -- events ----------------------------------------------------------------------------------
    def read(self, thread, target, site=None, atomic=False, core=None, mode=None, forwarded=False) -> int:
        """atomic=True: an atomic_read(), which is a READ_ONCE (mode marked) unless `mode` says."""
        a = self.addr(target)
        if atomic and mode is None:
            mode = "marked"
        return self._emit(thread, "read", a, int(forwarded), self.memory.get(a, 0), site, atomic=atomic,
                          core=core, mode=mode)["seq"]

    def write(self, thread, target, value, site=None, atomic=False, core=None, mode=None) -> int:
        a = self.addr(target)
        old = self.memory.get(a, 0)
        self.memory[a] = value & MASK
        return self._emit(thread, "write", a, old, value, site, atomic=atomic, core=core, mode=mode)["seq"]

    def rmw(self, thread, target, value, site=None, core=None, mode=None) -> int:
        a = self.addr(target)
        old = self.memory.get(a, 0)
        self.memory[a] = value & MASK
        return self._emit(thread, "rmw", a, old, value, site, atomic=True, core=core, mode=mode)["seq"]

    def set_bit(self, thread, target, bit, site=None, atomic=True, core=None) -> int:
        a = self.addr(target)
        value = self.memory.get(a, 0) | (1 << bit)
        if atomic:
            return self.rmw(thread, target, value, site, core, mode="atomic_noret")
        return self.write(thread, target, value, site, core=core)

    def clear_bit(self, thread, target, bit, site=None, atomic=True, core=None) -> int:
        a = self.addr(target)
        value = self.memory.get(a, 0) & ~(1 << bit)
        if atomic:
            return self.rmw(thread, target, value, site, core, mode="atomic_noret")
        return self.write(thread, target, value, site, core=core)

    def acquire(self, thread, lock, site=None, core=None) -> int:
        """A lock taken, as the simulator reports it: the acquire just BEFORE the rmw that took the
        lock word (so the rmw is ordered after the previous holder's release). Returns the
        acquire's seq; the rmw is the next event."""
        a = self.addr(lock)
        seq = self._emit(thread, "acquire", site=site, sync=a, core=core)["seq"]
        self.rmw(thread, lock, 1, site, core, mode="acquire")
        return seq

    def spin_fail(self, thread, lock, site=None, core=None) -> int:
        """A failed spin_lock / spin_trylock attempt: an rmw that found the lock word taken and
        stored it back unchanged (old == new)."""
        a = self.addr(lock)
        return self.rmw(thread, lock, self.memory.get(a, 0), site, core, mode="acquire")

    def release(self, thread, lock, site=None, core=None) -> int:
        a = self.addr(lock)
        self.write(thread, lock, 0, site, atomic=True, core=core, mode="release")
        return self._emit(thread, "release", site=site, sync=a, core=core)["seq"]

    def send(self, thread, port=0, payload=0, site=None, core=None) -> int:
        """Returns the message id (give it to recv)."""
        msg = self.next_msg
        self.next_msg += 1
        self._emit(thread, "send", port, 0, payload, site, sync=msg, core=core)
        return msg

    def recv(self, thread, msg, port=0, payload=0, site=None, core=None) -> int:
        return self._emit(thread, "recv", port, 0, payload, site, sync=msg, core=core)["seq"]

    def spawn(self, parent, child, site=None, core=None) -> int:
        return self._emit(parent, "spawn", site=site, sync=self.tid[child], core=core)["seq"]

    def wake(self, thread, target, site=None, core=None) -> int:
        return self._emit(thread, "wake", site=site, sync=self.tid[target], core=core)["seq"]

    def sleep(self, thread, site=None, core=None) -> int:
        """A sleep that returns after consuming a wake-up (call it after the wake)."""
        return self._emit(thread, "sleep", site=site, sync=self.tid[thread], core=core)["seq"]

    def fence(self, thread, site=None, core=None, mode="mb") -> int:
        return self._emit(thread, "fence", site=site, core=core, mode=mode, atomic=True)["seq"]

    def switch(self, thread, old_thread=-1, site=None, core=None) -> int:
        old = self.tid[old_thread] if isinstance(old_thread, str) else old_thread
        return self._emit(thread, "switch", -1, old, self.tid[thread], site, core=core)["seq"]

    def panic(self, thread, site=None, core=None) -> int:
        return self._emit(thread, "panic", site=site, core=core)["seq"]

    def exit(self, thread, site=None, core=None) -> int:
        return self._emit(thread, "exit", site=site, core=core)["seq"]

    # -- output ----------------------------------------------------------------------------------
    def events_table(self) -> pa.Table:
        cols = {f.name: [e[f.name] for e in self.events] for f in S.EVENTS}
        arrays = []
        for f in S.EVENTS:
            if f.name == "kind":
                arrays.append(pa.DictionaryArray.from_arrays(
                    pa.array([KIND[k] for k in cols["kind"]], pa.int8()), S.KIND_DICTIONARY))
            elif f.name == "mode":
                arrays.append(pa.DictionaryArray.from_arrays(
                    pa.array([MODE[k] for k in cols["mode"]], pa.int8()), S.MODE_DICTIONARY))
            else:
                arrays.append(pa.array(cols[f.name], f.type))
        return pa.Table.from_arrays(arrays, schema=S.EVENTS)

    def save(self, path, meta: dict | None = None, part_rows: int = 1 << 30, batch_rows: int = 1000,
             vclocks: bool = True) -> Path:
        path = Path(path)
        (path / S.EVENTS_DIR).mkdir(parents=True, exist_ok=True)
        table = self.events_table()
        for p, start in enumerate(range(0, max(table.num_rows, 1), part_rows)):
            write_stream(path / S.EVENTS_DIR / S.PART_PATTERN.format(p),
                         table.slice(start, part_rows), S.EVENTS, batch_rows)
        if vclocks:
            (path / S.VCLOCKS_DIR).mkdir(exist_ok=True)
            vt = pa.Table.from_pylist(self.vrows, schema=S.VCLOCKS) if self.vrows else S.VCLOCKS.empty_table()
            write_stream(path / S.VCLOCKS_DIR / S.PART_PATTERN.format(0), vt, S.VCLOCKS, batch_rows)
        pq.write_table(pa.Table.from_pylist(self.symbols, schema=S.SYMBOLS) if self.symbols
                       else S.SYMBOLS.empty_table(), path / "symbols.parquet")
        pq.write_table(pa.Table.from_pylist([{"name": k, "bit": v} for k, v in self.bits.items()],
                                            schema=S.BITS) if self.bits else S.BITS.empty_table(),
                       path / "bits.parquet")
        pq.write_table(pa.Table.from_pylist(self.sites, schema=S.SITES) if self.sites
                       else S.SITES.empty_table(), path / "sites.parquet")
        threads = [{"thread": i, "name": n, "machine": self.thread_machine.get(n, self.machines[0]),
                    "kind": "kernel", "entry": f"{n}_fn"} for i, n in enumerate(self.thread_names)]
        pq.write_table(pa.Table.from_pylist(threads, schema=S.THREADS), path / "threads.parquet")
        panics = [e for e in self.events if e["kind"] == "panic"]
        m = {
            "schema_version": S.SCHEMA_VERSION, "tool_version": "test", "scenario": "tests/hand",
            "scenario_name": "hand", "scenario_hash": "0", "variant": None, "seed": 0,
            "sched": "test", "depth": None, "memory_model": "sc", "machines": self.machines,
            "cores": self.cores, "outcome": "panic" if panics else "completed",
            "panic": ({"message": "BUG", "machine": self.machines[panics[0]["machine"]],
                       "core": panics[0]["core"], "thread": self.thread_names[panics[0]["thread"]],
                       "site": panics[0]["site"], "seq": panics[0]["seq"]} if panics else None),
            "instructions": len(self.events), "cycles": self.cycle, "events": len(self.events),
            "truncated": False, "invariants": [], "orderings": [], "locksets": [],
        }
        m.update(meta or {})
        (path / S.META_FILE).write_text(json.dumps(m, indent=1))
        return path


def write_stream(path: Path, table: pa.Table, schema: pa.Schema, batch_rows: int = 1000) -> None:
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, schema) as w:
        for b in table.to_batches(max_chunksize=batch_rows):
            write_checked(w, b)
