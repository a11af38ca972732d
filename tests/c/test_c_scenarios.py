"""The bundled C scenarios end to end: race_counter and locked_counter, the C sites in queries,
thread-private stack words, and `replay --show THREAD:local`."""

from __future__ import annotations

import tracer
from queries import open_run
from revtrace.cli import app
from sim.scenario import RunOptions, load_scenario
from sim.system import System
from typer.testing import CliRunner


def test_race_counter_in_c_loses_updates_on_two_cores_only():
    sc = load_scenario("race_counter")
    finals_1 = [_final(sc, 1, s) for s in range(10)]
    finals_2 = [_final(sc, 2, s) for s in range(30)]
    assert set(finals_1) == {100}
    assert min(finals_2) < 100


def _final(sc, cores, seed):
    system = System(sc, RunOptions(cores=cores, seed=seed))
    assert system.run().outcome == "completed"
    return system.read_symbol("counter")


def test_locked_counter_in_c_is_always_2n():
    sc = load_scenario("locked_counter")
    assert {_final(sc, c, s) for c in (1, 2, 4) for s in range(6)} == {100}


def test_races_name_c_functions_and_lines(tmp_path):
    run = tracer.record("race_counter", tmp_path / "rc", cores=2, seed=1)
    with open_run(run.path, progress=False) as r:
        races = r.races()
    assert races
    first = races[0]["first"]
    assert races[0]["symbol"] == "counter"
    assert first["function"] == "worker" and first["file"] == "counter.c"
    assert "counter++" in first.get("text", "counter++")


def test_locked_counter_in_c_has_no_races_and_keeps_its_lockset(tmp_path):
    run = tracer.record("locked_counter", tmp_path / "lc", cores=2, seed=1)
    with open_run(run.path, progress=False) as r:
        assert r.races() == []
        hb = r.hb()
    assert all(rule["holds"] for rule in hb["locksets"])


def test_stack_words_are_thread_private_and_never_race(crun, tmp_path):
    folder = crun.scenario("""
        #include <linux/sched.h>
        long total;
        void add(long *p, long v) { *p += v; }
        void worker(void) {
            long mine[4] = { 0 };
            for (long i = 0; i < 20; i++) { add(&mine[i & 3], i); cond_resched(); }
            total += mine[0];
        }
    """, threads=[{"name": "a", "entry": "worker"}, {"name": "b", "entry": "worker"}], cores=2)
    run = tracer.record(folder, tmp_path / "run", cores=2, seed=3)
    with open_run(run.path, progress=False) as r:
        symbols = {x["symbol"] for x in r.races()}
    assert "total" in symbols  # the shared global races
    assert not any(s and s.startswith("__stack_") for s in symbols)


def test_replay_shows_a_c_local_of_the_threads_frame(tmp_path):
    sc = load_scenario("nfs_vmxmon")
    seed = next(s for s in range(200) if System(sc, RunOptions(cores=2, seed=s)).run().outcome == "panic")
    run = tracer.record("nfs_vmxmon", tmp_path / "v2", cores=2, seed=seed)
    state = tracer.replay(run.path, "end", show=["flusher:req", "flusher:nfs_page_async_flush.page"])
    req, page = state.memory["flusher:req"], state.memory["flusher:nfs_page_async_flush.page"]
    image = System(sc, RunOptions(cores=2, seed=seed)).image
    assert image.symbol_at(req).name.endswith(".wb_flags") and image.symbol_at(req).name.startswith("req")
    assert image.symbol_at(page).name.startswith("page")
    res = CliRunner().invoke(app, ["replay", str(run.path), "--to", "end", "--show", "flusher:reqq"])
    assert res.exit_code == 2 and "did you mean 'req'" in res.stderr and "Traceback" not in res.output
