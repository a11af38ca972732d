"""C stack words in queries: named `THREAD:FUNCTION.LOCAL` per access, accepted as targets, and
never reported by races, lockset checks or windows (queries/stack_names.py)."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest
from helpers import invoke, refused

import tracer
from queries import open_run
from queries.diff import diff_runs

FRAMES = """
struct pair { long a; long b[2]; };
long result;
void get(long *p, long v) { *p = v; }              /* writes a caller's local through a pointer */
void fill(struct pair *s) { s->a = 1; s->b[1] = 2; }
long down(long n) {                                   /* the same local at several depths */
    long here;
    get(&here, n);
    if (n > 0)
        here += down(n - 1);
    return here;
}
void worker(void) {
    long x;
    struct pair s;
    get(&x, 5);
    fill(&s);
    s.b[0] = x;
    result = down(2) + s.a + s.b[1] + s.b[0];
}
"""


@pytest.fixture
def frames_run(crun, tmp_path):
    folder = crun.scenario(FRAMES, threads=[{"name": "t1", "entry": "worker"}])
    run = tracer.record(folder, tmp_path / "run", seed=0)
    return run.path


def _named(r) -> list[tuple]:
    return [tuple(x.values()) for x in r.sql(
        "SELECT seq, kind, symbol, function FROM accesses_named ORDER BY seq").to_pylist()]


def test_every_access_to_a_frame_is_named_by_the_local_of_the_frame_that_held_it(frames_run):
    with open_run(frames_run, progress=False) as r:
        named = _named(r)
    assert named[:5] == [
        (1, "write", "t1:worker.x", "get"),  # through the pointer the callee was given
        (2, "write", "t1:worker.s.a", "fill"),  # struct fields through a pointer
        (3, "write", "t1:worker.s.b[1]", "fill"),  # an array inside a struct local
        (4, "read", "t1:worker.x", "worker"),  # direct frame accesses: named by their site
        (5, "write", "t1:worker.s.b[0]", "worker"),
    ]
    # recursion: `here` at three depths, three words, one name
    assert {s for _, _, s, _ in named[5:15]} == {"t1:down.here"}
    assert named[-1] == (19, "write", "result", "worker")


def test_last_writer_history_and_value_take_a_local_as_target(frames_run):
    with open_run(frames_run, progress=False) as r:
        last = r.last_writer("t1:down.here")
        assert (last["seq"], last["symbol"], last["function"], last["new"]) == (14, "t1:down.here", "down", 3)
        assert r.last_writer("t1:down.here", engine="sql")["seq"] == 14
        before = r.last_writer("t1:down.here", before=12)
        assert before["seq"] == 11 and before["addr"] != last["addr"]  # the middle depth's word
        assert r.last_writer("t1:down.here", before=12, engine="sql")["seq"] == 11
        history = r.history("t1:down.here")
        assert [h["seq"] for h in history] == [6, 7, 8, 11, 14]
        assert len({h["addr"] for h in history}) == 3  # one word per depth
        assert r.last_writer("t1:worker.x")["function"] == "get"  # the callee wrote it
        assert r.last_writer("t1:worker.s.b[1]")["seq"] == 3
        # the value of the innermost live frame's word: depth 0 at seq 9, depth 2 at seq 15
        assert r.value("t1:down.here", at=9)["value"] == 0
        assert r.value("t1:down.here", at=15)["value"] == 3


def test_a_local_target_on_the_command_line_and_its_errors(frames_run):
    res = invoke("last-writer", frames_run, "t1:worker.x", "--json")
    assert res.exit_code == 0 and '"symbol": "t1:worker.x"' in res.stdout
    refused(invoke("last-writer", frames_run, "t2:worker.x"), "unknown thread 't2'", "t1")
    refused(invoke("last-writer", frames_run, "t1:wroker.x"), "no function 'wroker'", "did you mean worker")
    refused(invoke("last-writer", frames_run, "t1:worker.y"), "no local 'y' in the stack frame of worker",
            "known: s.a, s.b[0], s.b[1], x")
    refused(invoke("history", frames_run, "t1:worker.s"), "covers 3 words", "t1:worker.s.a")
    refused(invoke("value", frames_run, "t1:down.here", "--at", "2"), "no frame of down on t1 is live at seq 2")


def test_replay_and_sql_views_name_the_same_local(frames_run):
    res = invoke("replay", frames_run, "--to", "7")
    assert res.exit_code == 0 and "write t1:down.here" in res.stdout
    res = invoke("replay", frames_run, "--to", "3")
    assert "write t1:worker.s.b[1]" in res.stdout
    with open_run(frames_run, progress=False) as r:
        ev = r.sql("SELECT symbol FROM ev WHERE seq = 3").to_pylist()
        assert ev == [{"symbol": "t1:worker.s.b[1]"}]
        # only the accesses through pointers are stored per access: the rest is per site
        assert r.sql("SELECT count(*) AS n FROM stack_names").to_pylist() == [{"n": 6}]


def test_frames_are_recorded_on_the_side_and_the_seqs_do_not_change(frames_run, crun, tmp_path):
    frames = pq.read_table(frames_run / "frames.parquet").to_pylist()
    assert [f["entered"] for f in frames] == [True] * 4 + [False] * 4  # worker, down x3; then back
    assert {r["name"] for r in pq.read_table(frames_run / "frame_sites.parquet").to_pylist()} >= {
        "worker.x", "worker.s.a", "down.here"}
    # frames are no events: 19 accesses, the switch to the thread and its exit; seqs are dense
    with open_run(frames_run, progress=False) as r:
        assert r.events == 21
        kinds = r.sql("SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind").to_pylist()
        assert {k["kind"]: k["n"] for k in kinds} == {"read": 9, "write": 10, "switch": 1, "exit": 1}


def test_diff_names_stack_words_as_locals(frames_run, tmp_path):
    folder = tmp_path / "changed"
    shutil.copytree(frames_run.parent / "c1", folder)
    (folder / "prog.c").write_text(FRAMES.replace("s.b[0] = x;", "s.b[0] = x; x = 9;"))
    other = tracer.record(folder, tmp_path / "other", seed=0).path
    out = diff_runs(frames_run, other)
    text = repr(out)
    assert {"thread": "t1", "function": "worker", "symbol": "t1:worker.x", "bits": "value",
            "count": 1} in out["only_in_b"], out["only_in_b"]
    assert "__stack_" not in text


SHARED_STACK = """
long *shared;                       /* a stack word published to another thread: still private */
long counter;
struct completion done;
void owner(void) {
    long mine = 0;
    shared = &mine;
    complete(&done);
    for (long i = 0; i < 30; i++) { mine++; counter++; cond_resched(); }
}
void other(void) {
    wait_for_completion(&done);
    for (long i = 0; i < 30; i++) { *shared += 1; counter++; cond_resched(); }
}
"""


@pytest.fixture
def shared_stack_run(crun, tmp_path):
    folder = crun.scenario("#include <linux/completion.h>\n" + SHARED_STACK, cores=2,
                           threads=[{"name": "a", "entry": "owner"}, {"name": "b", "entry": "other"}],
                           extra_toml='[[locksets]]\nname = "everything under a lock"\nfields = "*"\n'
                                      'lock = "counter"\n')
    run = tracer.record(folder, tmp_path / "run", cores=2, seed=4)
    return run.path


def test_stack_words_are_never_reported_by_races_or_lockset_checks(shared_stack_run):
    with open_run(shared_stack_run, progress=False) as r:
        # the other thread really wrote the owner's local, unordered: recorded and named ...
        named = r.sql("SELECT DISTINCT thread, symbol FROM accesses_named WHERE symbol LIKE 'a:%'").to_pylist()
        assert {(x["thread"], x["symbol"]) for x in named} >= {("a", "a:owner.mine"), ("b", "a:owner.mine")}
        # ... but never reported: the global counter races, the stack word does not
        for engine in ("numpy", "sql"):
            reported = {w for race in r.races(engine=engine) for w in race["words"]}
            assert "counter" in reported
            assert not any(w.startswith("__stack_") or w.startswith("a:") for w in reported), (engine, reported)
        assert not any(w.startswith("__stack_") for race in r.races(all_pairs=True) for w in race["words"])
        [lockset] = r.hb()["locksets"]
        symbols = {v["symbol"] for v in lockset["violations"]}
        assert "shared" in symbols and not any(s.startswith("__stack_") for s in symbols)


def test_an_invariant_over_a_stack_word_is_refused(crun, tmp_path):
    folder = crun.scenario(FRAMES, threads=[{"name": "t1", "entry": "worker"}],
                           extra_toml='[[invariants]]\nname = "stack"\nexpr = "__stack_t1[2047] == 0"\n')
    run = tracer.record(folder, tmp_path / "run", seed=0)
    refused(invoke("windows", run.path), "thread's C stack", "thread-private")


def test_under_tso_a_buffered_store_is_named_by_the_frame_it_was_issued_in(crun, tmp_path):
    folder = crun.scenario(FRAMES, threads=[{"name": "t1", "entry": "worker"}])
    sc_run = tracer.record(folder, tmp_path / "sc", seed=0).path
    tso_run = tracer.record(folder, tmp_path / "tso", seed=0, memory_model="tso").path
    with open_run(sc_run, progress=False) as a, open_run(tso_run, progress=False) as b:
        sc_names = sorted((k, s) for _, k, s, _ in _named(a))
        tso_names = sorted((k, s) for _, k, s, _ in _named(b))
        assert b.sql("SELECT count(*) AS n FROM accesses WHERE issued >= 0").to_pylist()[0]["n"] > 0
    assert tso_names == sc_names  # every store drains later than it ran, under the same name


def test_two_threads_running_the_same_recursion_have_their_own_names(crun, tmp_path):
    folder = crun.scenario(FRAMES, cores=2, threads=[{"name": "a", "entry": "worker"},
                                                      {"name": "b", "entry": "worker"}])
    run = tracer.record(folder, tmp_path / "run", cores=2, seed=2).path
    with open_run(run, progress=False) as r:
        by_thread = r.sql("SELECT thread, count(*) AS n FROM writes WHERE symbol = thread || ':down.here' "
                          "GROUP BY thread ORDER BY thread").to_pylist()
        assert by_thread == [{"thread": "a", "n": 5}, {"thread": "b", "n": 5}]
        assert [h["thread"] for h in r.history("b:down.here")] == ["b"] * 5
        assert r.sql("SELECT count(*) AS n FROM accesses_named WHERE symbol LIKE '__stack_%'"
                     ).to_pylist() == [{"n": 0}]


@pytest.mark.parametrize("lost", ["frames.parquet", "frame_words.parquet", "frame_sites.parquet"])
def test_a_lost_frame_file_is_said_on_every_query_not_answered_silently(frames_run, tmp_path, lost):
    damaged = tmp_path / "damaged"
    shutil.copytree(frames_run, damaged)
    (damaged / lost).unlink()
    with open_run(frames_run, progress=False) as r:
        assert r.warnings == []
        intact = [row[:2] for row in _named(r)]
    with pytest.warns(UserWarning, match=f"{lost} missing: stack words are named by their stack region"):
        r = open_run(damaged, progress=False)
    with r:
        assert [row[:2] for row in _named(r)] == intact  # every access still answered, only named less
