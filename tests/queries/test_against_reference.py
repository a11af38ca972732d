"""The query floor against the brute-force reference (reference.py) on many random traces.

Each seed builds a random multi-threaded trace (plain, atomic and bit accesses, locks taken only
when free, messages, spawns, wake-ups, several Arrow parts and batches), opens it with queries
and compares every named query with the reference's plain-Python scan of the Arrow events.
"""

from __future__ import annotations

import random

import pytest
from reference import Ref
from runbuilder import RunBuilder

import queries
from queries import races as races_mod

BITS = {"A": 0, "B": 1, "C": 2}


def random_trace(seed: int, n: int | None = None) -> tuple[RunBuilder, dict]:
    rng = random.Random(seed)
    nthreads = rng.randint(2, 4)
    threads = [f"t{i}" for i in range(nthreads)]
    words = {f"w{i}": rng.choice([0, 0, 3]) for i in range(rng.randint(1, 3))}
    nobj = rng.randint(1, 2)
    words.update({f"obj{i}.flags": 0 for i in range(nobj)})
    locks = [f"obj{i}.lock" for i in range(nobj)]
    b = RunBuilder(threads=threads, words={**words, **{lk: 0 for lk in locks}}, bits=BITS)
    for i, t in enumerate(threads):
        b.core_of[t] = i % 2
    names = list(words)
    holder: dict[str, str | None] = {lk: None for lk in locks}
    inbox: dict[str, list[int]] = {t: [] for t in threads}
    woken: set[str] = set()
    alive = set(threads)
    if nthreads > 2 and rng.random() < 0.5:  # the last thread is spawned by the first
        alive.discard(threads[-1])
        b.write(threads[0], names[0], 1, site=("f0", 9))
        b.spawn(threads[0], threads[-1], site=("f0", 10))
        alive.add(threads[-1])

    def site(t: str) -> tuple:
        fn = f"f{threads.index(t) % 3}"
        return (fn, rng.randint(1, 4), f"{fn}.l{rng.randint(0, 1)}" if rng.random() < 0.2 else "")

    for _ in range(n or rng.randint(20, 90)):
        t = rng.choice(sorted(alive))
        w = rng.choice(names)
        x = rng.random()
        if rng.random() < 0.35:  # the kernel's kinds: marked, acquire, release, atomic, fences
            kernel_op(b, rng, t, w, site(t))
        elif x < 0.28:
            b.read(t, w, site=site(t), atomic=rng.random() < 0.1)
        elif x < 0.48:
            b.write(t, w, rng.randint(0, 7), site=site(t))
        elif x < 0.58:
            if rng.random() < 0.5:
                b.set_bit(t, w, rng.randint(0, 2), site=site(t))
            else:
                b.clear_bit(t, w, rng.randint(0, 2), site=site(t), atomic=rng.random() < 0.7)
        elif x < 0.72:
            mine = [lk for lk, h in holder.items() if h == t]
            free = [lk for lk, h in holder.items() if h is None]
            taken = [lk for lk, h in holder.items() if h not in (None, t)]
            if taken and rng.random() < 0.3:  # a failed spin_lock attempt: rmw with old == new
                b.spin_fail(t, rng.choice(taken), site=("lock", 1))
            elif mine and (not free or rng.random() < 0.5):
                lk = rng.choice(mine)
                b.release(t, lk, site=("unlock", 1))
                holder[lk] = None
            elif free:
                lk = rng.choice(free)
                b.acquire(t, lk, site=("lock", 1))
                holder[lk] = t
        elif x < 0.84:
            if inbox[t] and rng.random() < 0.6:
                b.recv(t, inbox[t].pop(0), site=("net", 2))
            else:
                dest = rng.choice([u for u in threads if u != t])
                inbox[dest].append(b.send(t, site=("net", 1)))
        elif x < 0.92:
            if t in woken:
                b.sleep(t, site=("sched", 2))
                woken.discard(t)
            else:
                u = rng.choice([u for u in threads if u != t])
                b.wake(t, u, site=("sched", 1))
                woken.add(u)
        else:
            b.fence(t, site=site(t))
    meta = {
        "invariants": [{"name": "inv", "expr": rng.choice([
            "not (obj0.flags:A and w0:B)", "w0 == 0 or obj0.flags:C", "(w0 & 3) != 2",
            "obj0.flags:A or not obj0.flags:B", "w0 < 5 and obj0.flags != 7",
            "not (w0 and obj0.flags)"])}],
        "orderings": [{"name": "o", "before": rng.choice(["f0", "f1", "net", "lock"]),
                       "after": rng.choice(["f1", "f2", "f0", "sched"])}],
        "locksets": [rng.choice([{"name": "l", "fields": "w*", "lock": "obj0.lock"},
                                 {"name": "l", "fields": "w0", "lock": "obj0.lock"},
                                 {"name": "l", "fields": "obj*.flags", "lock": "{object}.lock"}])],
    }
    return b, meta


def kernel_op(b: RunBuilder, rng: random.Random, t: str, w: str, site: tuple) -> None:
    """One access or fence of the kinds the kernel's happens-before rules and KCSAN's race rule
    look at."""
    x = rng.random()
    if x < 0.2:
        b.read(t, w, site=site, mode="marked", forwarded=rng.random() < 0.1)
    elif x < 0.35:
        b.read(t, w, site=site, mode="acquire", forwarded=rng.random() < 0.1)
    elif x < 0.5:
        b.write(t, w, rng.randint(0, 7), site=site, mode="marked")
    elif x < 0.65:
        b.write(t, w, rng.randint(0, 7), site=site, mode="release")
    elif x < 0.75:  # xchg / cas / xadd: value-returning, fully ordered (sometimes a failed cas)
        b.rmw(t, w, rng.choice([rng.randint(0, 7), b.memory.get(b.addr(w), 0)]), site=site, mode="atomic")
    elif x < 0.8:
        b.rmw(t, w, rng.randint(0, 7), site=site, mode="atomic_noret")
    else:
        b.fence(t, site=site, mode=rng.choice(["mb", "rmb", "wmb", "wmb", "rmb"]))


def _save(b: RunBuilder, meta: dict, path, seed: int):
    rng = random.Random(seed * 7 + 1)
    return b.save(path, meta=meta, part_rows=rng.choice([7, 30, 1 << 20]), batch_rows=rng.choice([3, 16, 1000]))


# accesses per chunk of the numpy race engine: 1..7 split most words' accesses across chunks (a
# word's context is carried to the next chunk), the default keeps every trace in one chunk
CHUNK_SIZES = (1, 2, 3, 7, 64, races_mod.CHUNK_ROWS)


def _race_summary(found: list[dict]) -> list[dict]:
    return [{"addr": r["addr"], "count": r["count"], "addresses": r["addresses"],
             "first_seq": r["first"]["seq"], "second_seq": r["second"]["seq"],
             "first_thread": r["first"]["thread"], "second_thread": r["second"]["thread"],
             "first_kind": r["first"]["kind"], "second_kind": r["second"]["kind"],
             "first_mode": r["first"]["mode"], "second_mode": r["second"]["mode"]} for r in found]


def _compare(run: queries.Run, ref: Ref, seed: int) -> None:
    rng = random.Random(seed)
    # races: numpy engine at several chunk sizes, SQL engine and the reference
    want = ref.races()
    got = run.races()
    assert _race_summary(got) == want, seed
    assert all(len(r["words"]) == r["addresses"] and r["symbol"] in r["words"] for r in got), seed
    assert run.races(engine="sql") == got, seed
    for rows in CHUNK_SIZES:
        assert races_mod.races(run, chunk_rows=rows) == got, (seed, rows)
    for rows, workers in ((2, 1), (3, 4)):  # chunks worked on one at a time, or several at once
        assert races_mod.races(run, chunk_rows=rows, workers=workers) == got, (seed, rows, workers)
    # every distinct racing site pair: a superset of the site pairs above
    want_all = ref.races(all_pairs=True)
    got_all = run.races(all_pairs=True)
    assert _race_summary(got_all) == want_all, seed
    assert run.races(engine="sql", all_pairs=True) == got_all, seed
    for rows in (1, 3, races_mod.CHUNK_ROWS):
        assert races_mod.races(run, chunk_rows=rows, all_pairs=True) == got_all, (seed, rows)
    pairs = {frozenset((r["first"]["site"], r["second"]["site"])) for r in got}
    assert pairs <= {frozenset((r["first"]["site"], r["second"]["site"])) for r in got_all}, seed
    # the sync_edges view holds every edge: with program order, exactly the reference's happens-before
    assert _closure(ref, run.sql("SELECT from_seq, to_seq FROM sync_edges").to_pylist()) == ref.hb, seed
    # last writer / history / value for every word, bit and a few seqs
    end = len(ref.events)
    for name, addr in ref.addr.items():
        for mask, target in [(0, name)] + [(1 << bit, f"{name}:{bn}") for bn, bit in BITS.items()]:
            hist = [e["seq"] for e in ref.history(addr, mask)]
            assert [w["seq"] for w in run.history(target)] == hist, (seed, target)
            for before in {0, end, rng.randint(0, end), rng.randint(0, end)}:
                want = ref.last_writer(addr, before, mask)
                fast = run.last_writer(target, before=before)
                assert (fast and fast["seq"]) == (want and want["seq"]), (seed, target, before)
                if want:
                    assert (fast["old"], fast["new"], fast["thread"]) == (
                        want["old"], want["new"], ref.threads[want["thread"]])
        for at in {0, end, rng.randint(0, end)}:
            assert run.value(name, at=at)["value"] == ref.value(addr, at), (seed, name, at)
    # one engine check of the SQL last-writer family per seed
    name = rng.choice(sorted(ref.addr))
    before = rng.randint(0, end)
    assert run.last_writer(name, before=before, engine="sql") == run.last_writer(name, before=before)
    assert run.history(name, engine="sql") == run.history(name)
    assert run.value(name, at=before, engine="sql") == run.value(name, at=before)
    # windows
    inv = run.meta["invariants"][0]["expr"]
    got_w = [((w["opened_by"] or {}).get("seq"), (w["closed_by"] or {}).get("seq")) for w in run.windows()]
    assert got_w == ref.windows(inv), (seed, inv)
    # orderings
    o = run.hb()
    decl = run.meta["orderings"][0]
    sites_of = {fn: {s for s, r in ref.sites.items() if r["function"] == fn}
                for fn in {r["function"] for r in ref.sites.values()}}
    if decl["before"] in sites_of and decl["after"] in sites_of:
        want = ref.ordering_violations(sites_of[decl["before"]], sites_of[decl["after"]])
        got_o = o["orderings"][0]
        assert sum(v["count"] for v in got_o["violations"]) == len(want), seed
        assert sorted(v["first"]["seq"] for v in got_o["violations"]) == sorted(
            min(s for s in want if ref.events[s]["site"] == site)
            for site in {ref.events[s]["site"] for s in want}), seed
    ls = o["locksets"][0]
    decl = run.meta["locksets"][0]
    want = ref.lockset_violations(decl["fields"], decl["lock"])
    assert sum(v["count"] for v in ls["violations"]) == len(want), seed
    assert sorted(v["first"]["seq"] for v in ls["violations"]) == sorted(
        min(s for s in want if ref.events[s]["site"] == site) for site in {ref.events[s]["site"] for s in want})


def _closure(ref: Ref, edges: list[dict]) -> list[int]:
    """hb[i] (a bitset of the events before event i) from program order and the given edges."""
    into: dict[int, list[int]] = {}
    for e in edges:
        assert e["from_seq"] < e["to_seq"], e
        into.setdefault(e["to_seq"], []).append(e["from_seq"])
    hb, last = [], {}
    for i, e in enumerate(ref.events):
        s = 0
        for p in into.get(e["seq"], []) + ([last[e["thread"]]] if e["thread"] in last else []):
            s |= hb[p] | (1 << p)
        hb.append(s)
        last[e["thread"]] = i
    return hb


def _open(b, meta, rundir, seed):
    try:
        return queries.open_run(_save(b, meta, rundir / f"s{seed}", seed))
    except queries.QueryError as err:  # a selector that names nothing in this trace
        pytest.fail(f"seed {seed}: {err}")


@pytest.mark.parametrize("seed", range(24))
def test_random_traces(seed, rundir):
    b, meta = random_trace(seed)
    _sanitise(b, meta)
    with _open(b, meta, rundir, seed) as run:
        _compare(run, Ref(run.path), seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(24, 400))
def test_random_traces_sweep(seed, rundir):
    test_random_traces(seed, rundir)


def _sanitise(b: RunBuilder, meta: dict) -> None:
    """Drop declared orderings whose selectors name no site of this trace."""
    functions = {s["function"] for s in b.sites}
    meta["orderings"] = [o for o in meta["orderings"] if o["before"] in functions and o["after"] in functions]
    if not meta["orderings"]:
        meta["orderings"] = [{"name": "o", "before": "lock" if "lock" in functions else min(functions),
                              "after": max(functions)}]


@pytest.mark.parametrize("seed", range(4))
def test_random_traces_in_small_groups(seed, rundir, monkeypatch):
    """The index build's multi-group path (runs with more accesses than one sorting group)."""
    import queries.index_build
    monkeypatch.setattr(queries.index_build, "GROUP_ROWS", 7)
    test_random_traces(seed, rundir)


@pytest.mark.parametrize("seed", range(4))
def test_random_traces_sparse_vector_clocks(seed, rundir, monkeypatch):
    """The race engine's look-up by binary search (vector clocks too sparse to lay out densely)."""
    monkeypatch.setattr(races_mod.VectorClocks, "DENSE_LIMIT", 0)
    test_random_traces(seed, rundir)
