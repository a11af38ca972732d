"""A brute-force reference for the query floor, written independently of it.

It reads a run directory's Arrow event streams into plain Python dicts and answers every named
query by scanning them. Happens-before is computed from the synchronisation events themselves
(program order, release -> later acquire of the same lock, send -> recv, spawn -> the child's
first event, wake -> the woken thread's next sleep, and the kernel's rules below) as explicit
predecessor sets: it never looks at the recorded clocks or vclocks, so it also checks the
recorder's vector-clock rules.

The kernel's rules, by reads-from: a non-plain read (or RMW) reads the latest write to its word
before it (in seq order). Walking back from that write through any RMWs (they continue a release
sequence) to the first plain, marked or release store, the "heads" are: every release store and
every value-returning (or release) RMW that changed the word, and, for every marked store or
non-value-returning RMW that changed it, the storer's latest wmb / mb before it. An acquire read,
a value-returning or acquire RMW is ordered after every head; a marked read or a
non-value-returning RMW makes them pending, and its thread's later rmb / mb are ordered after
them. A marked or acquire read with old = 1 read its own buffered store: no edge. Races follow
KCSAN: never between two non-plain (marked or atomic) accesses. A release store buffered under
tso (recorded at its drain, with the cycle it was issued at) takes its place in program order at
its issue: before the first later event of its core that is not a drain (_release_issues).
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WRITES = ("write", "rmw")
ACCESSES = ("read", "write", "rmw")


def marked(e: dict) -> bool:
    """Marked or atomic: KCSAN never reports two of these racing."""
    return e.get("mode", "atomic" if e["atomic"] else "plain") != "plain"


def changes(e: dict) -> bool:
    """A write for race purposes: a write or rmw that changed the word (old == new is a read, as
    ThreadSanitizer treats a failed compare-and-swap as a load)."""
    return e["kind"] in WRITES and e["old"] != e["new"]


class Ref:
    def __init__(self, path: Path, release_at_drain: bool = False):
        """`release_at_drain`: the old rule, under which a buffered release store (tso) takes effect
        when it drains, not when it is issued (for tests that show what it missed)."""
        path = Path(path)
        self.release_at_drain = release_at_drain
        self.meta = json.loads((path / "meta.json").read_text())
        self.events: list[dict] = []
        for part in sorted((path / "events").glob("part-*.arrows")):
            reader = pa.ipc.open_stream(pa.memory_map(str(part)))
            for batch in reader:
                for row in batch.to_pylist():
                    self.events.append(row)
        self.events.sort(key=lambda e: e["seq"])
        self.symbols = pq.read_table(path / "symbols.parquet").to_pylist()
        self.bits = {r["name"]: r["bit"] for r in pq.read_table(path / "bits.parquet").to_pylist()}
        self.sites = {r["site"]: r for r in pq.read_table(path / "sites.parquet").to_pylist()}
        self.threads = {r["thread"]: r["name"] for r in pq.read_table(path / "threads.parquet").to_pylist()}
        self.addr = {s["name"]: s["addr"] for s in self.symbols}
        self.initial = {s["addr"]: s["initial"] for s in self.symbols}
        self._hb = None

    # -- happens-before, from the sync events alone -------------------------------------------
    @property
    def hb(self) -> list[int]:
        """hb[i] = bitset of the events that happen before event i."""
        if self._hb is not None:
            return self._hb
        ev = self.events
        hb = [0] * len(ev)
        last_of_thread: dict[int, int] = {}
        releases: dict[int, list[int]] = {}
        sends: dict[int, int] = {}
        spawned: dict[int, int] = {}
        wakes: dict[int, list[int]] = {}
        last_write: dict[int, int] = {}  # word -> index of its latest write or rmw
        prev_write: dict[int, int] = {}  # event index of a write -> the write before it (same word)
        last_fence: dict[int, int] = {}  # thread -> its latest wmb / mb
        fence_before: dict[int, int] = {}  # event index of a store -> the storer's latest wmb / mb
        pending: dict[int, list[int]] = {}  # thread -> heads its marked reads saw
        issue_at = {} if self.release_at_drain else self._release_issues()
        early: set[int] = set()
        for i, e in enumerate(ev):
            for st in issue_at.get(i, ()):  # buffered release stores issued just before event i
                ts = ev[st]["thread"]
                before = last_of_thread.get(ts, spawned.get(ts))
                hb[st] = 0 if before is None else hb[before] | (1 << before)
                last_of_thread[ts] = st
                early.add(st)
            preds = []
            t = e["thread"]
            if t in last_of_thread:
                preds.append(last_of_thread[t])
            elif t in spawned:
                preds.append(spawned[t])
            kind, mode = e["kind"], e.get("mode", "plain")
            if i in early:  # the drain of a store issued earlier: its place in program order is its issue
                if e["addr"] in last_write:
                    prev_write[i] = last_write[e["addr"]]
                last_write[e["addr"]] = i
                continue
            if (kind == "read" and mode != "plain") or (kind == "rmw" and mode != "release"):
                forwarded = kind == "read" and e["old"] == 1
                w = last_write.get(e["addr"])
                if w is not None and not forwarded:
                    heads = self._heads(w, prev_write, fence_before)
                    if (kind == "read" and mode == "acquire") or (kind == "rmw" and mode in ("atomic", "acquire")):
                        preds.extend(heads)
                    else:
                        pending.setdefault(t, []).extend(heads)
            if kind == "fence" and e.get("mode", "mb") in ("mb", "rmb"):
                preds.extend(pending.get(t, []))
            if e["kind"] == "acquire":
                preds.extend(releases.get(e["sync"], []))
            if e["kind"] == "recv" and e["sync"] in sends:
                preds.append(sends[e["sync"]])
            if e["kind"] == "sleep":
                preds.extend(wakes.pop(t, []))
            s = 0
            for p in preds:
                s |= hb[p] | (1 << p)
            hb[i] = s
            last_of_thread[t] = i
            if kind in WRITES:
                if e["addr"] in last_write:
                    prev_write[i] = last_write[e["addr"]]
                last_write[e["addr"]] = i
                if t in last_fence:
                    fence_before[i] = last_fence[t]
            if kind == "fence" and e.get("mode", "mb") in ("mb", "wmb"):
                last_fence[t] = i
            if e["kind"] == "release":
                releases.setdefault(e["sync"], []).append(i)
            elif e["kind"] == "send":
                sends[e["sync"]] = i
            elif e["kind"] == "spawn":
                spawned[e["sync"]] = i
            elif e["kind"] == "wake":
                wakes.setdefault(e["sync"], []).append(i)
        self._hb = hb
        return hb

    def _release_issues(self) -> dict[int, list[int]]:
        """Buffered release stores (tso: recorded at their drain, with the cycle they were issued
        at) by where they belong in program order: event index -> the stores issued just before
        it. That is the first later event of the store's core that is not a drain (older stores,
        wmb markers), when it comes before the store's own drain; otherwise the drain itself."""
        ev = self.events
        drain = [(e["kind"] == "write" and e.get("issued", -1) >= 0) or (e["kind"] == "fence" and e.get("mode") == "wmb")
                 for e in ev]
        out: dict[int, list[int]] = {}
        for i, e in enumerate(ev):
            if e["kind"] != "write" or e.get("mode") != "release" or e.get("issued", -1) < 0:
                continue
            core, first = (e["machine"], e["core"]), None
            for j in range(i - 1, -1, -1):  # back to the core's last event before the store instruction
                f = ev[j]
                if (f["machine"], f["core"]) == core and not drain[j]:
                    if f["cycle"] <= e["issued"]:
                        break
                    first = j
            if first is not None:
                out.setdefault(first, []).append(i)
        # several stores issued before one event: in the order they were issued (their drains' order)
        return out

    def _heads(self, w: int, prev_write: dict[int, int], fence_before: dict[int, int]) -> list[int]:
        """The events a read of write `w` synchronises with (see the module docstring)."""
        heads = []
        ev = self.events
        while True:
            e = ev[w]
            mode, changed = e.get("mode", "plain"), e["old"] != e["new"]
            if e["kind"] == "write":
                if mode == "release":
                    heads.append(w)
                elif mode == "marked" and w in fence_before:
                    heads.append(fence_before[w])
                return heads
            if changed and mode in ("atomic", "release"):
                heads.append(w)
            if changed and mode in ("atomic_noret", "plain") and w in fence_before:
                heads.append(fence_before[w])
            if w not in prev_write:
                return heads
            w = prev_write[w]

    def happens_before(self, a: int, b: int) -> bool:
        return bool((self.hb[b] >> a) & 1)

    # -- memory ----------------------------------------------------------------------------------
    def last_writer(self, addr: int, before: int, mask: int = 0) -> dict | None:
        for e in reversed(self.events):
            if e["seq"] >= before or e["addr"] != addr or e["kind"] not in WRITES:
                continue
            if mask and not ((e["old"] ^ e["new"]) & mask):
                continue
            return e
        return None

    def history(self, addr: int, mask: int = 0) -> list[dict]:
        return [e for e in self.events if e["addr"] == addr and e["kind"] in WRITES
                and (not mask or (e["old"] ^ e["new"]) & mask)]

    def value(self, addr: int, at: int) -> int:
        w = self.last_writer(addr, at)
        return w["new"] if w else self.initial.get(addr, 0)

    # -- races -----------------------------------------------------------------------------------
    def race_pairs(self, all_pairs: bool = False) -> list[tuple[dict, dict]]:
        """With all_pairs, each thread's latest conflicting access at each of its sites."""
        ev = self.events
        pairs = []
        for j, b in enumerate(ev):
            if b["kind"] not in ACCESSES:
                continue
            done = set()
            for i in range(j - 1, -1, -1):
                a = ev[i]
                if a["kind"] not in ACCESSES or a["addr"] != b["addr"] or a["thread"] == b["thread"]:
                    continue
                who = (a["thread"], a["site"]) if all_pairs else a["thread"]
                if who in done:
                    continue
                if not (changes(a) or changes(b)) or (marked(a) and marked(b)):
                    continue
                done.add(who)  # the latest conflicting access of that thread (and site)
                if not self.happens_before(i, j):
                    pairs.append((a, b))
        return pairs

    def races(self, all_pairs: bool = False) -> list[dict]:
        groups: dict[tuple, dict] = {}
        for a, b in self.race_pairs(all_pairs):
            key = (min(a["site"], b["site"]), max(a["site"], b["site"]))
            g = groups.setdefault(key, {"count": 0, "addrs": set(), "ex": None})
            g["count"] += 1
            g["addrs"].add(b["addr"])
            if g["ex"] is None or (b["seq"], a["seq"]) > (g["ex"][1]["seq"], g["ex"][0]["seq"]):
                g["ex"] = (a, b)
        out = []
        for g in groups.values():
            a, b = g["ex"]
            out.append({"addr": b["addr"], "count": g["count"], "addresses": len(g["addrs"]),
                        "first_seq": a["seq"], "second_seq": b["seq"],
                        "first_thread": self.threads[a["thread"]], "second_thread": self.threads[b["thread"]],
                        "first_kind": a["kind"], "second_kind": b["kind"],
                        "first_mode": a["mode"], "second_mode": b["mode"]})
        out.sort(key=lambda r: (r["second_seq"], r["first_seq"]))
        return out

    # -- windows ---------------------------------------------------------------------------------
    def windows(self, expr: str) -> list[tuple[int | None, int | None]]:
        """(opening write seq or None, closing write seq or None) for each false interval."""
        fn, addrs = compile_expr(expr, self.addr, self.bits)
        mem = dict(self.initial)
        holds = fn(mem)
        out = []
        start = None if holds else -1
        for e in self.events:
            if e["kind"] in WRITES and e["addr"] in addrs:
                mem[e["addr"]] = e["new"]
                now = fn(mem)
                if holds and not now:
                    start = e["seq"]
                elif now and not holds:
                    out.append((None if start == -1 else start, e["seq"]))
                holds = now
        if not holds:
            out.append((None if start == -1 else start, None))
        return out

    # -- orderings and locksets ------------------------------------------------------------------
    def ordering_violations(self, before_sites: set[int], after_sites: set[int]) -> list[int]:
        befores = [i for i, e in enumerate(self.events) if e["site"] in before_sites]
        out = []
        for j, e in enumerate(self.events):
            if e["site"] in after_sites and not any(self.happens_before(i, j) for i in befores):
                out.append(e["seq"])
        return out

    def lockset_violations(self, fields: str, lock: str) -> list[int]:
        guarded = {}
        for s in self.symbols:
            if fnmatch.fnmatchcase(s["name"], fields):
                guarded[s["addr"]] = self.addr[lock.replace("{object}", s["object"])]
        held: dict[int, set[int]] = {}
        out = []
        for e in self.events:
            if e["kind"] == "acquire":
                held.setdefault(e["thread"], set()).add(e["sync"])
            elif e["kind"] == "release":
                held.setdefault(e["thread"], set()).discard(e["sync"])
            elif (e["kind"] in ACCESSES and e["addr"] in guarded and not e["atomic"]
                  and guarded[e["addr"]] not in held.get(e["thread"], set())):
                out.append(e["seq"])
        return out


def compile_expr(expr: str, addr: dict[str, int], bits: dict[str, int]):
    """The invariant as a Python function of memory (its own little translator: symbols and
    symbol:bit become look-ups, the operators are Python's; `and`/`or`/`not` on truth values)."""
    used: set[int] = set()

    def operand(m: re.Match) -> str:
        name, bit = m.group(1), m.group(2)
        a = addr[name]
        used.add(a)
        if bit is None:
            return f"M[{a}]"
        b = int(bit, 0) if bit[0].isdigit() else bits[bit]
        return f"((M[{a}] >> {b}) & 1)"

    def repl(m: re.Match) -> str:
        if m.group(1) in ("and", "or", "not", "true", "false"):
            return {"true": "1", "false": "0"}.get(m.group(1), m.group(1))
        return operand(m)

    code = re.sub(r"(?<![0-9A-Za-z_.])([A-Za-z_][\w.]*(?:\[\d+\])*)(?::(\w+))?", repl, expr)
    return (lambda M: bool(eval(code, {}, {"M": M}))), used
