"""The difference between two recordings of one scenario: two variants, or two seeds.

Three levels, from cause to effect:
1. code: per function, the instructions present in only one run's program (the one-line change);
2. behaviour: per thread, the two event streams aligned in program order by a sequence alignment
   on (function, source text, kind, symbol), so that inserted or removed code shows up as a gap
   and not as a cascade of mismatches; each thread's first divergence, and the writes present in
   only one run grouped by (thread, function, symbol, bits changed);
3. consequences: the outcomes, and the invariant windows and race pairs present in only one run.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracer.errors import TraceError
from tracer.run_dir import RunDir

from .errors import QueryError
from .names import bit_names, decode_bits, is_flags_name
from .stack_names import StackNamer

IGNORED_KINDS = ("switch",)  # scheduling noise: where a thread ran is not what it did
MAX_EVENTS_PER_THREAD = 200_000  # beyond this the alignment gets slow; the prefix is aligned


@dataclass
class _Run:
    path: Path
    meta: dict
    events: pa.Table
    sites: list[dict]
    symbol_of: dict[int, str]
    bit_names: dict[int, str]
    thread_names: dict[int, str]
    stack: StackNamer | None = None  # C stack words, named per access (queries/stack_names.py)
    stack_names: dict[int, str] | None = None  # seq -> name of an access through a pointer

    @classmethod
    def load(cls, path: str | Path) -> _Run:
        try:
            run = RunDir.open(path)
            events = run.events()
            sites = run.table("sites.parquet").to_pylist()
            symbols = run.table("symbols.parquet").to_pylist()
            bits = run.table("bits.parquet").to_pylist()
            threads = run.table("threads.parquet").to_pylist()
        except TraceError as e:
            raise QueryError(str(e)) from None
        out = cls(run.path, run.meta, events, sites, {s["addr"]: s["name"] for s in symbols},
                  bit_names((b["name"], b["bit"]) for b in bits), {t["thread"]: t["name"] for t in threads})
        frames = {name: run.table(f"{name}.parquet") if (run.path / f"{name}.parquet").exists() else None
                  for name in ("frame_words", "frame_sites", "frames")}
        namer = StackNamer(symbols, threads, sites, frames["frame_words"], frames["frame_sites"], frames["frames"])
        if namer.stacks:
            out.stack = namer
            addr = events["addr"].to_numpy()
            kinds = events["kind"].cast(pa.string()).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(namer.stack_mask(addr) & np.isin(kinds, ["read", "write", "rmw"]))
            cols = [events[c].to_numpy()[rows].astype(np.int64) for c in ("seq", "cycle", "issued", "addr", "site")]
            seqs, names = namer.pointer_names(*cols)
            out.stack_names = dict(zip(seqs.tolist(), names))
        return out

    def symbol(self, addr: int, kind: str) -> str:
        if kind in ("send", "recv"):
            return f"port {addr}"
        if addr < 0:
            return ""
        return self.symbol_of.get(addr, f"{addr:#x}")

    def thread_events(self, tid: int) -> list[dict]:
        ev = self.events
        mask = pc.and_(pc.equal(ev["thread"], tid),
                       pc.invert(pc.is_in(ev["kind"].cast(pa.string()), pa.array(IGNORED_KINDS))))
        rows = ev.filter(mask).slice(0, MAX_EVENTS_PER_THREAD).to_pylist()
        for r in rows:
            site = self.sites[r["site"]] if 0 <= r["site"] < len(self.sites) else None
            r["function"] = site["function"] if site else ""
            r["text"] = site["text"] if site else ""
            r["file"] = site["file"] if site else ""
            r["line"] = site["line"] if site else 0
            r["symbol"] = self.symbol(r["addr"], r["kind"])
            if self.stack is not None and r["kind"] in ("read", "write", "rmw") and self.stack.is_stack(r["addr"]):
                r["symbol"] = (self.stack.direct_name(r["site"], r["thread"])
                               or self.stack_names.get(r["seq"]) or r["symbol"])
            r["thread"] = self.thread_names.get(r["thread"], str(r["thread"]))
        return rows

    def bits_changed(self, symbol: str, old: int, new: int) -> str:
        """`+PG_dirty -PG_locked` for a flags word (its field is named *flags, the kernel's
        convention), `value` for any other word (a counter, a lock, data)."""
        changed = old ^ new
        if not changed:
            return ""
        if not is_flags_name(symbol):
            return "value"
        names = ([f"+{b}" for b in decode_bits(changed & new, self.bit_names)]
                 + [f"-{b}" for b in decode_bits(changed & old, self.bit_names)])
        return " ".join(names) if len(names) <= 4 else f"{old:#x} -> {new:#x}"


def _token(e: dict) -> tuple:
    return (e["function"], e["text"], e["kind"], e["symbol"])


def _event_summary(e: dict | None) -> dict | None:
    if e is None:
        return None
    return {k: e[k] for k in ("seq", "cycle", "thread", "core", "kind", "function", "file", "line", "text",
                              "symbol", "addr", "old", "new")}


def diff_runs(path_a: str | Path, path_b: str | Path, races=None, windows=None) -> dict:
    """Compare two run directories. `races`/`windows` are optional callables run -> list (the
    query floor's) used to report race pairs and invariant windows present in only one run."""
    a, b = _Run.load(path_a), _Run.load(path_b)
    name_a, name_b = a.meta.get("scenario_name"), b.meta.get("scenario_name")
    if name_a != name_b:
        raise QueryError(f"cannot diff runs of different scenarios: {a.path} is {name_a!r}, "
                         f"{b.path} is {name_b!r}")
    result = {
        "run_a": str(a.path), "run_b": str(b.path), "scenario": name_a,
        "a": _describe(a.meta), "b": _describe(b.meta),
        "outcome_a": a.meta.get("outcome"), "outcome_b": b.meta.get("outcome"),
        "panic_a": a.meta.get("panic"), "panic_b": b.meta.get("panic"),
        "code_changes": _code_changes(a, b),
        "first_divergence": {}, "only_in_a": [], "only_in_b": [],
    }
    only_a: Counter = Counter()
    only_b: Counter = Counter()
    names_b = {name: tid for tid, name in b.thread_names.items()}
    for tid_a, tname in sorted(a.thread_names.items()):
        tid_b = names_b.get(tname)
        if tid_b is None:
            continue
        ea, eb = a.thread_events(tid_a), b.thread_events(tid_b)
        matcher = difflib.SequenceMatcher(None, [_token(e) for e in ea], [_token(e) for e in eb], autojunk=False)
        first = None
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            if first is None:
                first = {"a": _event_summary(ea[i1] if i1 < len(ea) else None),
                         "b": _event_summary(eb[j1] if j1 < len(eb) else None),
                         "matched_before": i1}
            for e in ea[i1:i2]:
                _count_write(a, e, only_a)
            for e in eb[j1:j2]:
                _count_write(b, e, only_b)
        result["first_divergence"][tname] = first
    result["only_in_a"] = _groups(only_a)
    result["only_in_b"] = _groups(only_b)
    if races is not None:
        ra, rb = races(a.path), races(b.path)
        ka, kb = {_race_key(r): r for r in ra}, {_race_key(r): r for r in rb}
        result["races_only_in_a"] = [ka[k] for k in ka if k not in kb]
        result["races_only_in_b"] = [kb[k] for k in kb if k not in ka]
    if windows is not None:
        wa, wb = windows(a.path), windows(b.path)
        ka, kb = {_window_key(w) for w in wa}, {_window_key(w) for w in wb}
        result["windows_only_in_a"] = [w for w in wa if _window_key(w) not in kb]
        result["windows_only_in_b"] = [w for w in wb if _window_key(w) not in ka]
    return result


def _describe(meta: dict) -> dict:
    return {k: meta.get(k) for k in ("variant", "seed", "sched", "memory_model", "cores")}


def _count_write(run: _Run, e: dict, counter: Counter) -> None:
    if e["kind"] in ("write", "rmw") and e["old"] != e["new"]:
        counter[(e["thread"], e["function"], e["symbol"], run.bits_changed(e["symbol"], e["old"], e["new"]))] += 1


def _groups(counter: Counter) -> list[dict]:
    return [{"thread": t, "function": f, "symbol": s, "bits": bits, "count": n}
            for (t, f, s, bits), n in sorted(counter.items(), key=lambda kv: (kv[0][3] == "value", -kv[1], kv[0]))]


def _race_key(r: dict) -> tuple:
    f, s = r.get("first", {}), r.get("second", {})
    return (r.get("symbol"), f.get("function"), f.get("line"), s.get("function"), s.get("line"))


def _window_key(w: dict) -> tuple:
    opened = w.get("opened_by") or {}
    return (w.get("invariant"), opened.get("function") if isinstance(opened, dict) else opened)


def _code_changes(a: _Run, b: _Run) -> list[dict]:
    """Per machine and function, the instructions present in only one of the two programs."""
    def by_function(run: _Run) -> dict[tuple[str, str], list[dict]]:
        out: dict[tuple[str, str], list[dict]] = {}
        for s in run.sites:
            out.setdefault((s["machine"], s["function"]), []).append(s)
        return out

    fa, fb = by_function(a), by_function(b)
    changes = []
    for key in sorted(set(fa) | set(fb)):
        sa, sb = fa.get(key, []), fb.get(key, [])
        ta = [(s["text"]) for s in sa]
        tb = [(s["text"]) for s in sb]
        if ta == tb:
            continue
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
            if op == "equal":
                continue
            for s in _unique_lines(sa[i1:i2]):
                changes.append({"machine": key[0], "function": key[1], "side": "a", "file": s["file"],
                                "line": s["line"], "text": s["text"]})
            for s in _unique_lines(sb[j1:j2]):
                changes.append({"machine": key[0], "function": key[1], "side": "b", "file": s["file"],
                                "line": s["line"], "text": s["text"]})
    return changes


def _unique_lines(sites: list[dict]) -> list[dict]:
    """One entry per source line (a macro's expansion shares its invocation's line)."""
    seen, out = set(), []
    for s in sites:
        key = (s["file"], s["line"])
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out
