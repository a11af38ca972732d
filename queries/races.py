"""Data races: conflicting accesses that happens-before leaves unordered.

The definition is queries/sql/races.sql (read its header). In short: for every access B and
every other thread T, B's partner on T is T's latest earlier access to the same word that
conflicts with B (one of them writes, not both marked or atomic: KCSAN's rule, where a marked
access is any non-plain one: READ_ONCE / WRITE_ONCE, acquire, release, atomic); the pair races
when the partner's clock exceeds VC(B)[T] (happens-before with the kernel's rules, worked out by
the recorder: tracer/happens_before.py). A `write` or `rmw` that stored the value the word already had (old == new: a
failed test_and_set_bit_lock or spin_lock attempt, a failed cas) counts as a read here, as
ThreadSanitizer treats a failed compare-and-swap as a load. Checking the latest conflicting
access is enough because happens-before is monotone along a thread's program order (FastTrack's
observation). Pairs are grouped by their two sites; each group's example is its latest pair.

With `all_pairs`, B's partners are T's latest conflicting access *at each site* of T, so every
distinct racing site pair is found (the latest access alone can hide an earlier racing one at
another site, e.g. a stale read before an ordered write); the work grows with the number of
(thread, site) pairs per word instead of threads (queries/sql/races_all_pairs.sql is its SQL).

The numpy engine computes exactly those pairs over the memory-mapped accesses, in (addr, seq)
order, chunk by chunk (zero-copy views of the column file; a word's accesses may straddle chunks:
the next chunk then starts with that word's carried context, each thread's latest access of each
partner class, which is all a later access can pair with). In a chunk, first the words that
cannot race at all go (one thread, no write, or no plain access): at 100M accesses of the
synthetic run, about half. Then, for each thread T (each thread and site with all_pairs), over
the words T touches: T's own accesses, and for each of the four partner classes (any access,
writes, plain accesses, plain writes) a maximum.accumulate over T's accesses alone; a cumsum
gives each row the number of T's accesses before it, and one gather in that small table the
partner of the class the row needs; a second gather rules out partners in another word. VC(B)[T]
is one more gather in the vector clocks laid out densely (VectorClocks). Site pairs, threads and
thread ids are numbered by counting (bincount) rather than sorting. Work is O(accesses x
threads), all vectorised; chunks are worked on in WORKERS threads (numpy's loops let go of the
GIL) and merged in order, so the answer does not depend on the number of workers.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import QueryError

CHUNK_ROWS = 6 * 1024 * 1024  # accesses per chunk (the default of races(chunk_rows=...))
WORKERS = 2  # chunks worked on at once at most (memory grows with each)
COLUMNS = ["addr", "thread", "clock", "site", "kind", "mode"]
# + "w": is_write, worked out from the stored columns (columns.Mapped.changed); "row": each
# access's row in the column file: seq, core and machine are read at the racing rows alone (seq
# may be stored split in two, machine run-end encoded, old derived from old_rel: decoding them
# for every access cost more than the rest of a chunk's loading)
PLAIN = 0  # the mode code of a plain access (tracer.schema.MODE_NAMES[0])


def races(run, engine: str = "numpy", chunk_rows: int = CHUNK_ROWS, all_pairs: bool = False,
          workers: int | None = None) -> list[dict]:
    """`chunk_rows`: accesses per numpy chunk (memory against per-chunk overhead; tests use tiny ones).
    `all_pairs`: every distinct racing site pair (see the module docstring). `workers`: chunks
    worked on at once, in threads (numpy lets go of the GIL in its loops); default one per core, at
    most WORKERS."""
    if engine == "sql":
        return [_from_sql(run, r) for r in run.rows("races_all_pairs" if all_pairs else "races")]
    if engine != "numpy":
        raise QueryError(f"unknown races engine '{engine}' (numpy or sql)")
    if chunk_rows < 1:
        raise QueryError(f"chunk_rows must be at least 1, not {chunk_rows}")
    vt = run.data["vclocks"]
    vc = VectorClocks({name: vt.numpy(name) for name in ("thread", "of_thread", "clock", "value")})
    if workers is None:
        workers = min(WORKERS, os.cpu_count() or 1)
    groups: dict[int, dict] = {}
    stacks = run.names.stacks  # C stack words are thread-private: never reported (stack_names.py)
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        pending: deque = deque()  # chunks being worked on, in order: merged in order
        carry: dict[str, np.ndarray] | None = None  # the context of a word that goes on in the next chunk
        for chunk, more in _chunks(run, chunk_rows):
            if stacks:
                shared = _not_stack(chunk["addr"], stacks)
                if not shared.all():
                    chunk = {k: np.asarray(v)[shared] for k, v in chunk.items()}
                    if not len(chunk["addr"]):
                        carry = None
                        continue
            ctx = 0
            if carry is not None and len(chunk["addr"]) and carry["addr"][0] == chunk["addr"][0]:
                ctx = len(carry["addr"])
                chunk = {k: np.concatenate([carry[k], chunk[k]]) for k in chunk}
            pending.append(pool.submit(_chunk_groups, chunk, vc, ctx, all_pairs, run.data["accesses"]))
            carry = _context(chunk, all_pairs) if more else None
            del chunk
            while len(pending) > workers:
                _merge(groups, pending.popleft().result())
        while pending:
            _merge(groups, pending.popleft().result())
    out = [_decorate(run, g) for g in groups.values()]
    out.sort(key=lambda r: (r["second"]["seq"], r["first"]["seq"]))
    return out


class VectorClocks:
    """VC(thread at clock)[of_thread] look-ups, vectorised over many accesses.

    For every (thread, of_thread) pair the step function clock -> value is laid out densely (one
    entry per clock value of that thread), so a look-up is one gather. That table has about as
    many entries as the vclocks table has rows; when it would be far larger (sparse clocks), the
    look-up falls back to a binary search in the sorted rows.
    """

    DENSE_LIMIT = 64 * 1024 * 1024

    def __init__(self, table: dict[str, np.ndarray]):
        t = table["thread"].astype(np.int64)
        o = table["of_thread"].astype(np.int64)
        c = table["clock"].astype(np.int64)
        v = table["value"].astype(np.int64)
        if len(t) and not _sorted(t, o, c):
            order = np.lexsort((c, o, t))
            t, o, c, v = t[order], o[order], c[order], v[order]
        if len(c) and (c.min() < 0 or c.max() >= 1 << 40):
            raise QueryError("vector clock values outside 0..2**40 are not supported")
        self.threads = np.unique(np.concatenate([t, o]))
        T = len(self.threads)
        self.T = T
        self.table = None  # thread id -> thread number, when the ids are small
        if T and self.threads[0] >= 0 and self.threads[-1] < 1 << 20:
            self.table = np.full(int(self.threads[-1]) + 2, -1, dtype=np.int64)
            self.table[self.threads] = np.arange(T)
        td = np.searchsorted(self.threads, t)
        od = np.searchsorted(self.threads, o)
        pair = td * max(T, 1) + od
        new = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(pair) else np.empty(0, bool)
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], len(pair))
        self.maxc = np.zeros(max(T, 1), dtype=np.int64)
        if len(td):
            np.maximum.at(self.maxc, td, c)
        size = int(sum(self.maxc[td[s]] + 1 for s in starts))
        self.base = np.full((max(T, 1), max(T, 1)), -1, dtype=np.int64)
        self.dense = size <= self.DENSE_LIMIT
        if self.dense:
            flat = np.zeros(size, dtype=np.int64)
            off = 0
            for s, e in zip(starts.tolist(), ends.tolist()):
                u, w = int(td[s]), int(od[s])
                cc, vv = c[s:e], v[s:e]
                n = int(self.maxc[u]) + 1
                # value in force at every clock: the row with the greatest clock <= it
                pos = np.searchsorted(cc, np.arange(n), side="right") - 1
                flat[off:off + n] = np.where(pos >= 0, vv[np.maximum(pos, 0)], 0)
                self.base[u, w] = off
                off += n
            self.flat = flat
            # for `positions` / `values`: a block of zeros that every (thread, of_thread) pair without
            # vector clocks, and every unknown thread (row T), points at
            zero = off
            self.flat = np.concatenate([flat, np.zeros(int(self.maxc.max()) + 1, dtype=np.int64)])
            self.base_ext = np.full((max(T, 1) + 1, max(T, 1) + 1), zero, dtype=np.int64)
            self.base_ext[:max(T, 1), :max(T, 1)] = np.where(self.base >= 0, self.base, zero)
            self.maxc_ext = np.append(self.maxc, 0)
        else:
            self.keys = ((pair.astype(np.int64)) << 40) | c
            self.vals = v

    def positions(self, thread: np.ndarray, clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per access: (its thread's number, or T when it has no clocks; its clock as an offset into
        that thread's step functions), for `values`."""
        u = self.dense_ids(thread)
        if not self.dense:
            return u, clock
        T = max(self.T, 1)
        uu = np.where((u >= 0) & (clock >= 0), u, T)
        return uu, np.minimum(np.maximum(clock, 0), self.maxc_ext[uu])

    def values(self, uu: np.ndarray, cl: np.ndarray, of_thread: int) -> np.ndarray:
        """VC(thread at clock)[of_thread] for accesses given as `positions`: one gather."""
        if not self.dense:
            return self.lookup(uu, of_thread, cl)
        if self.T == 0 or of_thread < 0:
            return np.zeros(len(uu), dtype=np.int64)
        return self.flat[self.base_ext[:, of_thread][uu] + cl]

    def dense_ids(self, thread: np.ndarray) -> np.ndarray:
        """Thread ids -> this table's thread numbers (-1 for threads without vector clocks)."""
        if self.T == 0:
            return np.full(len(thread), -1, dtype=np.int64)
        if self.table is not None:  # small thread ids: one gather (the table's last entry is -1)
            return self.table[np.clip(thread, -1, len(self.table) - 1)]
        i = np.minimum(np.searchsorted(self.threads, thread), self.T - 1)
        return np.where(self.threads[i] == thread, i, -1)

    def lookup(self, u: np.ndarray, of_thread: int, clock: np.ndarray) -> np.ndarray:
        """VC(u[i] at clock[i])[of_thread] for dense thread numbers u (0 where unknown)."""
        if self.T == 0 or of_thread < 0 or len(u) == 0:
            return np.zeros(len(u), dtype=np.int64)
        known = u >= 0
        uu = np.where(known, u, 0)
        if self.dense:
            base = self.base[uu, of_thread]
            ok = known & (base >= 0) & (clock >= 0)
            idx = base + np.minimum(clock, self.maxc[uu])
            return np.where(ok, self.flat[np.where(ok, idx, 0)], 0)
        pair = uu * self.T + of_thread
        q = (pair << 40) | np.clip(clock, 0, (1 << 40) - 1)
        pos = np.searchsorted(self.keys, q, side="right") - 1
        ok = known & (pos >= 0)
        ok[ok] = (self.keys[pos[ok]] >> 40) == pair[ok]
        return np.where(ok, self.vals[np.maximum(pos, 0)], 0)


def _sorted(t, o, c) -> bool:
    key_diff = (t[1:] > t[:-1]) | ((t[1:] == t[:-1]) & ((o[1:] > o[:-1]) | ((o[1:] == o[:-1]) & (c[1:] >= c[:-1]))))
    return bool(key_diff.all())


def _chunks(run, chunk_rows: int) -> Iterator[tuple[dict[str, np.ndarray], bool]]:
    """The accesses in (addr, seq) order, chunk_rows at a time (zero-copy views of the memory-mapped
    columns), each with whether its last word goes on in the next chunk."""
    acc = run.data["accesses"]
    n = acc.layout.rows
    if n == 0:
        return
    ends = np.asarray(run.con.execute("SELECT start + count AS e FROM word_offsets ORDER BY addr")
                      .fetchnumpy()["e"], dtype=np.int64)
    start = 0
    while start < n:
        stop = min(start + chunk_rows, n)
        i = int(np.searchsorted(ends, stop, side="right"))
        if i > 0 and ends[i - 1] > start:
            stop = int(ends[i - 1])  # end at a word's end where one falls inside the chunk
        j = int(np.searchsorted(ends, stop))
        word_goes_on = not (j < len(ends) and ends[j] == stop)
        chunk = {name: acc.numpy(name, start, stop) for name in COLUMNS}
        chunk["w"] = acc.changed(start, stop)
        chunk["row"] = np.arange(start, stop, dtype=np.int32 if n < 1 << 31 else np.int64)
        yield chunk, word_goes_on
        start = stop


def _not_stack(addr: np.ndarray, stacks: list[tuple[int, int, int]]) -> np.ndarray:
    """Which rows are not C stack words (stacks: (lo, hi, thread) regions)."""
    out = np.ones(len(addr), dtype=bool)
    for lo, hi, _ in stacks:
        out &= (addr < lo) | (addr >= hi)
    return out


def _context(c: dict[str, np.ndarray], all_pairs: bool = False) -> dict[str, np.ndarray]:
    """The rows of the chunk's last word that a later access of that word can pair with: for each
    thread (and site, with all_pairs), its latest access of each partner class (any, write,
    plain, plain write)."""
    addr = c["addr"]
    lo = int(np.searchsorted(addr, addr[-1]))
    thread = c["thread"][lo:].astype(np.int64)
    if all_pairs:
        thread = (thread << 32) | (c["site"][lo:].astype(np.int64) & 0xFFFFFFFF)
    w = c["w"][lo:]
    p = c["mode"][lo:] == PLAIN
    keep = set()
    for t in np.unique(thread).tolist():
        mine = thread == t
        for mask in (mine, mine & w, mine & p, mine & w & p):
            hits = np.flatnonzero(mask)
            if len(hits):
                keep.add(lo + int(hits[-1]))
    rows = np.array(sorted(keep), dtype=np.int64)
    return {k: np.asarray(v)[rows] for k, v in c.items()}


def is_write(kind: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Accesses that count as writes for conflicts: a write or rmw that changed the word."""
    return (kind != 0) & (old != new)


def _dense(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct keys in order, each key's number among them): np.unique(return_inverse=True),
    by counting when the keys fall in a small range (thread ids, site pairs), as they mostly do."""
    if len(key) == 0:
        return key[:0], np.zeros(0, dtype=np.int64)
    lo, hi = int(key.min()), int(key.max())
    if hi - lo < 1 << 22:
        present = np.bincount(key - lo, minlength=hi - lo + 1) > 0
        number = np.cumsum(present) - 1
        return np.flatnonzero(present) + lo, number[key - lo]
    return np.unique(key, return_inverse=True)


def _distinct(key: np.ndarray) -> np.ndarray:
    """np.unique(key) for non-negative keys, by marking them in a table when their range is small."""
    if len(key) == 0:
        return key
    hi = int(key.max())
    if hi < 1 << 25:
        seen = np.zeros(hi + 1, dtype=bool)
        seen[key] = True
        return np.flatnonzero(seen)
    return np.unique(key)


def _segments(addr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(addr)
    first = np.flatnonzero(np.concatenate([[True], addr[1:] != addr[:-1]]))
    seg = np.repeat(np.arange(len(first), dtype=np.int32), np.diff(np.append(first, n)))
    return first, seg


def _chunk_groups(c: dict[str, np.ndarray], vc: VectorClocks, ctx: int, all_pairs: bool, acc) -> list[dict]:
    """The chunk's racing pairs, grouped by site pair (one partial group per pair of sites, in key
    order, for _merge). Its first `ctx` rows are carried context: partners only. acc: the
    accesses' column file (seq, core and machine of the racing rows)."""
    found = _chunk_pairs(c, vc, ctx, all_pairs)
    if found is None:
        return []
    c, A, B, first, seg = found
    return _group(c, A, B, first, seg, acc)


def _chunk_pairs(c: dict[str, np.ndarray], vc: VectorClocks, ctx: int, all_pairs: bool):
    """(chunk restricted to the words that can race, A, B, word starts, word of each row): the
    racing pairs, A[i] the partner (first) and B[i] the second access, as row numbers."""
    addr = c["addr"]
    is_w = c["w"]
    plain = c["mode"] == PLAIN  # marked or atomic otherwise: KCSAN's rule
    thread = c["thread"].astype(np.int64)
    # words that can race: two threads, a write, a plain access
    first, seg = _segments(addr)
    any_w = np.maximum.reduceat(is_w, first)
    any_plain = np.maximum.reduceat(plain, first)
    keep_seg = any_w & any_plain & (np.minimum.reduceat(thread, first) != np.maximum.reduceat(thread, first))
    if not keep_seg.any():
        return None
    if not keep_seg.all():
        keep = keep_seg[seg]
        if ctx:
            ctx = int(np.count_nonzero(keep[:ctx]))
        c = {k: v[keep] for k, v in c.items()}
        addr, is_w, plain, thread = c["addr"], is_w[keep], plain[keep], thread[keep]
        first, seg = _segments(addr)
    clock = c["clock"].astype(np.int64)
    # an access's partner classes as two bits (1: a write, 2: plain); the class it needs is 3 - them:
    # 0 any access (a plain write's partners), 1 writes (a plain read's), 2 plain accesses (an atomic
    # write's), 3 plain writes (an atomic read's)
    need = 3 - (is_w.astype(np.int8) | (plain.astype(np.int8) << 1))
    uu, cl = vc.positions(thread, clock)
    # which threads (or threads and sites) touch which word (to restrict each pass to its words)
    owner = ((thread << 32) | (c["site"].astype(np.int64) & 0xFFFFFFFF)) if all_pairs else thread
    owners, tpos = _dense(owner)
    present = np.zeros((len(first), len(owners)), dtype=bool)
    present[seg, tpos] = True
    a_parts, b_parts = [], []
    for k, key in enumerate(owners.tolist()):
        t = key >> 32 if all_pairs else key
        segs_t = present[:, k]
        if segs_t.all():
            rows = None
            ow, nd, sg = owner, need, seg
        else:
            rows = np.flatnonzero(segs_t[seg])
            ow, nd, sg = owner[rows], need[rows], seg[rows]
        mine = ow == key
        opos = np.flatnonzero(mine).astype(np.int32)
        no = len(opos)
        # latest[j, c]: the latest of the owner's first j accesses (in this pass's rows) that is
        # in class c (-1: none); row 0: before its first access
        latest = np.full((no + 1, 4), -1, dtype=np.int32)
        latest[1:, 0] = opos
        owp = 3 - nd[opos]  # the owner's accesses' class bits
        j = np.arange(no, dtype=np.int32)
        for bits in (1, 2, 3):
            x = np.where((owp & bits) == bits, j, -1).astype(np.int32, copy=False)
            np.maximum.accumulate(x, out=x)
            latest[1:, bits] = np.where(x >= 0, opos[x], -1)
        at = np.cumsum(mine, dtype=np.int32)
        at -= mine  # the owner's accesses strictly before each row
        at *= 4
        at += nd
        cand = latest.ravel()[at]
        del at
        ok = cand >= 0
        ok &= sg[cand] == sg
        if all_pairs:
            ok &= (ow >> 32) != t
        else:
            ok &= ~mine
        b = np.flatnonzero(ok)
        if rows is not None:
            a, b = rows[cand[b]], rows[b]
        else:
            a = cand[b]
        if ctx:
            keep_b = b >= ctx
            a, b = a[keep_b], b[keep_b]
        if len(b) == 0:
            continue
        own = int(vc.dense_ids(np.array([t]))[0])
        race = clock[a] > vc.values(uu[b], cl[b], own)
        a_parts.append(a[race])
        b_parts.append(b[race])
    if not a_parts:
        return None
    A = np.concatenate(a_parts)
    B = np.concatenate(b_parts)
    if len(A) == 0:
        return None
    return c, A, B, first, seg


def _group(c: dict[str, np.ndarray], A: np.ndarray, B: np.ndarray, first: np.ndarray, seg: np.ndarray,
           acc) -> list[dict]:
    """One partial group per site pair of the pairs (A, B): count, words, the latest pair."""
    addr = c["addr"]
    site = c["site"].astype(np.int64)
    row = c["row"]
    sa, sb = site[A], site[B]
    lo = np.minimum(sa, sb) + 1
    hi = np.maximum(sa, sb) + 1
    del sa, sb
    width = int(hi.max()) + 1  # site pairs numbered lo * width + hi: a small range to count in
    pair, inv = _dense(lo * width + hi)
    counts = np.bincount(inv, minlength=len(pair))
    uniq = ((pair // width) << 32) | (pair % width)  # the group's key: both sites, + 1
    # distinct words per group
    nseg = len(first)
    gw = _distinct(inv.astype(np.int64) * nseg + seg[B])
    addresses = np.bincount(gw // nseg, minlength=len(uniq))
    words: dict[int, list[int]] = {}
    for g, a in zip((gw // nseg).tolist(), addr[first[gw % nseg]].tolist()):
        words.setdefault(g, []).append(int(a))
    # the example: the latest pair (greatest second seq, then greatest first seq)
    bseq, aseq = acc.take("seq", row[B]).astype(np.int64), acc.take("seq", row[A]).astype(np.int64)
    maxb = np.full(len(uniq), -1, dtype=np.int64)
    np.maximum.at(maxb, inv, bseq)
    at_max = bseq == maxb[inv]
    maxa = np.full(len(uniq), -1, dtype=np.int64)
    np.maximum.at(maxa, inv[at_max], aseq[at_max])
    pick = np.flatnonzero(at_max & (aseq == maxa[inv]))
    _, first_pick = np.unique(inv[pick], return_index=True)  # groups come out in order 0..G-1
    example = pick[first_pick]
    # each group's lowest and highest word here: a word that straddles two chunks is one word
    low = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(low, inv, addr[B].astype(np.int64))
    high = np.full(len(uniq), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(high, inv, addr[B].astype(np.int64))
    out = []
    for g, k in enumerate(uniq.tolist()):
        i = int(example[g])
        ai, bi = int(A[i]), int(B[i])
        out.append({"key": k, "count": int(counts[g]), "addresses": int(addresses[g]), "low": int(low[g]),
                    "high": int(high[g]), "addrs": words[g], "bseq": int(bseq[i]), "aseq": int(aseq[i]),
                    "first": _side(c, ai, acc), "second": _side(c, bi, acc), "addr": int(addr[bi])})
    return out


def _merge(groups: dict[int, dict], partial: list[dict]) -> None:
    """Adds a chunk's partial groups to `groups` (chunks in order: a word that straddles two chunks
    is the highest word of the earlier one and the lowest of the later one)."""
    for p in partial:
        ex = {name: p[name] for name in ("bseq", "aseq", "first", "second", "addr")}
        cur = groups.get(p["key"])
        if cur is None:
            groups[p["key"]] = {"count": p["count"], "addresses": p["addresses"], "high": p["high"],
                                "addrs": set(p["addrs"]), **ex}
        else:
            cur["addrs"].update(p["addrs"])
            cur["count"] += p["count"]
            cur["addresses"] += p["addresses"] - (cur["high"] == p["low"])
            cur["high"] = p["high"]
            if (ex["bseq"], ex["aseq"]) > (cur["bseq"], cur["aseq"]):
                cur.update(ex)


def _side(c: dict[str, np.ndarray], i: int, acc) -> dict:
    row = int(c["row"][i])
    return {"seq": acc.value("seq", row), "thread": int(c["thread"][i]), "core": acc.value("core", row),
            "machine": acc.value("machine", row), "kind": int(c["kind"][i]), "mode": int(c["mode"][i]),
            "site": int(c["site"][i])}


def _decorate(run, g: dict) -> dict:
    n = run.names
    return {"symbol": n.word(g["addr"]), "addr": g["addr"], "count": g["count"],
            "addresses": g["addresses"], "words": _word_names(n, sorted(g["addrs"])),
            "first": n.event(g["first"]), "second": n.event(g["second"])}


def _word_names(names, addrs) -> list[str]:
    """Every racing word of a group, by name (an address without one in hex), in address order."""
    return [names.word(a) or hex(a) for a in addrs]


def _from_sql(run, r: dict) -> dict:
    def side(p: str) -> dict:
        return {"seq": r[f"{p}_seq"], "thread": r[f"{p}_thread"], "thread_id": r[f"{p}_thread_id"],
                "core": r[f"{p}_core"], "machine": r[f"{p}_machine"], "kind": str(r[f"{p}_kind"]),
                "mode": str(r[f"{p}_mode"]), "access": f"{r[f'{p}_mode']} {r[f'{p}_kind']}",
                "function": r[f"{p}_function"], "file": r[f"{p}_file"], "line": r[f"{p}_line"],
                "site": r[f"{p}_site"]}

    return {"symbol": r["symbol"], "addr": r["addr"], "count": r["count"],
            "addresses": r["addresses"], "words": _word_names(run.names, r["addrs"]),
            "first": side("first"), "second": side("second")}
