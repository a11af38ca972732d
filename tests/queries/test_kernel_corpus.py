"""The kernel-rules corpus (data/scenarios/bugs/{mp_barrier,peterson,dcl,treiber_aba,lost_wakeup,abba,
refcount,seqlock}): every fixed version reports no race, no deadlock and no lock-order cycle over
many seeds; every buggy version reports its true racing pair (both sites) or its deadlock."""

from __future__ import annotations

from pathlib import Path

import pytest

import queries
import tracer

BUGS = Path(__file__).resolve().parents[2] / "data" / "scenarios" / "bugs"
CORPUS = ("mp_barrier", "peterson", "dcl", "treiber_aba", "lost_wakeup", "abba", "refcount", "seqlock")
SEEDS = range(6)

# buggy: (word, (file, text of one racing site), (file, text of the other)) for the true race
RACES = {
    "mp_barrier": ("data", ("mp.s", "st [data], 42"), ("mp.s", "ld r2, [data]")),
    "peterson": ("counter", ("peterson.s", "st [counter], r3"), ("peterson.s", "st [counter], r3", 2)),
    "dcl": ("ready", ("dcl.s", "ld r1, [ready]           ; if (!ready)"), ("dcl.s", "st [ready], 1")),
    "treiber_aba": ("n", ("stack.s", "ld r2, [r1]"), ("stack.s", "st [r1], r2")),
    "refcount": ("obj_refs", ("refcount.s", "ld r1, [obj_refs]"), ("refcount.s", "st [obj_refs], r1")),
    "seqlock": ("val_lo", ("seqlock.s", "st [val_lo], r2"), ("seqlock.s", "ld r2, [val_lo]")),
}


def line_of(name: str, file: str, text: str, nth: int = 1) -> int:
    """The line of the nth line of the file containing text."""
    for i, line in enumerate((BUGS / name / file).read_text().splitlines(), 1):
        if text in line:
            nth -= 1
            if nth == 0:
                return i
    raise AssertionError(f"{text!r} not in {file}")


def record(tmp_path, name: str, variant: str, seed: int):
    return tracer.record(BUGS / name, tmp_path / f"{name}-{variant}-{seed}", variant=variant, seed=seed)


@pytest.mark.parametrize("name", CORPUS)
def test_every_fixed_version_is_quiet(tmp_path, name):
    for seed in SEEDS:
        run = record(tmp_path, name, "fixed", seed)
        assert run.meta["outcome"] == "completed", (seed, run.meta.get("blocked"), run.meta.get("check"))
        with queries.open_run(run.path) as r:
            assert r.races() == [], seed
            assert r.races(all_pairs=True) == [], seed
            assert r.races(engine="sql") == [], seed
            assert r.locks()["cycles"] == [], seed


@pytest.mark.parametrize("name", sorted(RACES))
def test_every_buggy_version_reports_its_true_race(tmp_path, name):
    word, a, b = RACES[name]
    want = {(a[0], line_of(name, *a)), (b[0], line_of(name, *b))}
    seen = []
    for seed in range(12):
        run = record(tmp_path, name, "buggy", seed)
        with queries.open_run(run.path) as r:
            found = r.races(all_pairs=True)
        for race in found:
            pair = {(race["first"]["file"], race["first"]["line"]), (race["second"]["file"], race["second"]["line"])}
            if pair == want and (race["symbol"] or "").startswith(word):
                assert "plain" in (race["first"]["mode"], race["second"]["mode"])  # KCSAN: one is plain
                return
        seen.append([(r["symbol"], r["first"]["line"], r["second"]["line"]) for r in found])
    pytest.fail(f"{name}: no seed reported {word} at {sorted(want)}; found {seen}")


def test_abba_deadlocks_with_its_cycle_and_locks_finds_the_cycle_without_one(tmp_path):
    deadlocked = quiet = None
    for seed in range(60):
        run = record(tmp_path, "abba", "buggy", seed)
        if run.meta["outcome"] == "deadlock" and deadlocked is None:
            deadlocked = run
        elif run.meta["outcome"] == "completed" and quiet is None:
            quiet = run
        if deadlocked and quiet:
            break
    assert deadlocked is not None and quiet is not None
    cycle = deadlocked.meta["cycle"]
    assert {c["thread"] for c in cycle} == {"transfer", "audit"}
    assert {c["waits_for"] for c in cycle} == {"acct_a_lock", "acct_b_lock"}
    lines = {c["waits_at"] for c in cycle} | {c["taken_at"] for c in cycle}
    a1, b1 = line_of("abba", "abba.s", "spin_lock [acct_a_lock]"), line_of("abba", "abba.s", "spin_lock [acct_b_lock]")
    b2, a2 = line_of("abba", "abba.s", "spin_lock [acct_b_lock]", 2), line_of("abba", "abba.s", "spin_lock [acct_a_lock]", 2)
    assert lines == {f"abba.s:{a1} (lock_both_ab)", f"abba.s:{b1} (lock_both_ab)", f"abba.s:{b2} (audit)",
                     f"abba.s:{a2} (audit)"}
    with queries.open_run(quiet.path) as r:
        report = r.locks()
    assert len(report["cycles"]) == 1
    locks = {e["held"] for e in report["cycles"][0]["edges"]} | {e["taken"] for e in report["cycles"][0]["edges"]}
    assert locks == {"acct_a_lock", "acct_b_lock"}


def test_a_lost_wakeup_ends_as_a_deadlock(tmp_path):
    for seed in range(60):
        run = record(tmp_path, "lost_wakeup", "buggy", seed)
        if run.meta["outcome"] == "deadlock":
            assert run.meta["blocked"] == [f"sleeper: sleep at wakeup.s:{line_of('lost_wakeup', 'wakeup.s', 'sleep  ')} "
                                           "(sleeper)"]
            return
    pytest.fail("no seed lost the wake-up")
