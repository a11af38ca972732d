"""Queries over real recordings of the scenarios in data/scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

import queries
import tracer

SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "scenarios"


def record(tmp_path: Path, scenario: str, seed: int = 1, cores: int = 2, **options) -> Path:
    run = tracer.record(SCENARIOS / scenario, tmp_path / f"{scenario}-{seed}-{cores}", seed=seed, cores=cores, **options)
    return Path(getattr(run, "path", run))


def test_race_counter_on_two_cores_races_on_counter(tmp_path):
    with queries.open_run(record(tmp_path, "race_counter_asm")) as run:
        races = run.races()
        assert races and {r["symbol"] for r in races} == {"counter"}
        assert {r["first"]["thread"] for r in races} | {r["second"]["thread"] for r in races} == {"t0", "t1"}
        assert run.last_writer("counter")["function"] == "worker"
        assert run.races(engine="sql") == races


def test_locked_counter_has_no_race(tmp_path):
    with queries.open_run(record(tmp_path, "locked_counter")) as run:
        assert run.races() == [] and run.races(engine="sql") == []
        [lockset] = run.hb()["locksets"]
        assert lockset["holds"] and lockset["checked"] > 0
        assert run.value("counter", at="end")["value"] == 100  # 2 x N, N = 50


def test_message_passing_litmus_races(tmp_path):
    with queries.open_run(record(tmp_path, "mp")) as run:
        assert {r["symbol"] for r in run.races()} == {"x", "flag"}


@pytest.mark.parametrize("scenario", ["race_counter_asm", "locked_counter", "mp", "sb"])
@pytest.mark.parametrize("cores", [1, 2])
def test_races_match_the_reference(tmp_path, scenario, cores):
    from reference import Ref
    path = record(tmp_path, scenario, seed=2, cores=cores)
    with queries.open_run(path) as run:
        got = [(r["addr"], r["count"], r["first"]["seq"], r["second"]["seq"]) for r in run.races()]
    assert got == [(r["addr"], r["count"], r["first_seq"], r["second_seq"]) for r in Ref(path).races()]


def test_nfs_panic_window(tmp_path, nfs_seed):
    path = record(tmp_path, "nfs_vmxmon", seed=nfs_seed)
    with queries.open_run(path) as run:
        assert run.meta["outcome"] == "panic"
        last = run.windows()[-1]
        assert last["end_reason"] == "panic" and last["end_seq"] == run.panic_seq
        i = last["invariant"].rsplit("[", 1)[1].rstrip("]")  # "dirty page ...[i]"
        clean = run.last_writer(f"req{i}.wb_flags:PG_CLEAN", before="panic")
        dirty = run.last_writer(f"page{i}.flags:PG_dirty", before="panic")
        # both bits are set at the panic; the later of the two writes opened the window
        assert clean["bit_new"] == 1 and dirty["bit_new"] == 1
        assert last["opened_by"]["seq"] == max(clean["seq"], dirty["seq"])


def test_lists_in_locksets_and_orderings(tmp_path):
    """queries/README.md documents lists for `[[locksets]] fields` and `[[orderings]] before/after`:
    the scenario loader takes them and the checks use every entry."""
    import shutil
    folder = tmp_path / "lists"
    shutil.copytree(SCENARIOS / "race_counter_asm", folder)
    with open(folder / "scenario.toml", "a") as f:
        f.write('\n[[locksets]]\nname = "both"\nfields = ["counter", "count*"]\nlock = "counter"\n'
                '\n[[orderings]]\nname = "listed"\nbefore = ["worker", "counter.s:9"]\nafter = ["counter.s:11"]\n')
    with queries.open_run(tracer.record(folder, tmp_path / "run", seed=1, cores=2).path) as run:
        result = run.hb()
    [lockset] = result["locksets"]
    assert lockset["fields"] == ["counter", "count*"] and not lockset["holds"]
    [ordering] = result["orderings"]
    assert ordering["before"] == ["worker", "counter.s:9"] and ordering["holds"] and ordering["checked"] > 0


def _recorded_hb(path: Path):
    """a happens-before b by the recording's rule: a.clock <= VC(b.thread at b.clock)[a.thread], VC
    being the thread's latest vclocks row at or before that clock."""
    rows = tracer.RunDir.open(path).vclocks().to_pylist()
    table: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for r in rows:
        table.setdefault((r["thread"], r["of_thread"]), []).append((r["clock"], r["value"]))
    for v in table.values():
        v.sort()

    def vc(thread: int, clock: int, of: int) -> int:
        value = 0
        for c, v in table.get((thread, of), ()):
            if c > clock:
                break
            value = v
        return value

    return lambda a, b: a["clock"] <= vc(b["thread"], b["clock"], a["thread"])


def _check_races_and_hb(path: Path, label) -> None:
    """The race report (both engines) and the recorded happens-before of every cross-thread pair of
    events against the reference's closure of program order and the sync edges."""
    from reference import Ref
    ref = Ref(path)
    with queries.open_run(path) as run:
        got = run.races()
        assert run.races(engine="sql") == got
    assert [(r["addr"], r["count"], r["addresses"], r["first"]["seq"], r["second"]["seq"]) for r in got] == [
        (r["addr"], r["count"], r["addresses"], r["first_seq"], r["second_seq"]) for r in ref.races()]
    hb = _recorded_hb(path)
    ev = ref.events
    checked = 0
    for j, b in enumerate(ev):
        for i in range(j):
            a = ev[i]
            if a["thread"] != b["thread"]:
                assert hb(a, b) == ref.happens_before(i, j), (label, a, b)
                checked += 1
    assert checked > 10


@pytest.mark.parametrize("variant, cores, seed", [("v2", 2, None), ("v1", 2, None), ("v2", 1, 4), ("v2", 3, 5)])
def test_nfs_races_and_happens_before_match_the_reference(tmp_path, nfs_seed, variant, cores, seed):
    """nfs_vmxmon: two machines, messages both ways, msleeps, spinlocks, atomic bit operations."""
    seed = nfs_seed if seed is None else seed
    path = Path(tracer.record(SCENARIOS / "nfs_vmxmon", tmp_path / "r", variant=variant, cores=cores, seed=seed).path)
    with queries.open_run(path) as run:
        kinds = {r["kind"] for r in run.sql("SELECT DISTINCT kind::VARCHAR AS kind FROM events").to_pylist()}
    assert {"send", "recv", "acquire", "release", "rmw"} <= kinds
    _check_races_and_hb(path, (variant, cores, seed))


HANDSHAKE_TOML = """
name = "handshake"
preemption = "voluntary"
[machines.host]
cores = 2
sources = ["h.s"]
[ports]
p = "host"
[[threads]]
name = "waker"
entry = "waker"
[[threads]]
name = "sleeper"
entry = "sleeper"
[[threads]]
name = "child"
entry = "child"
start = false
"""

HANDSHAKE = """
.word data, 0
.word flag, 0
.word late, 0
waker:
    st [data], 1
    spawn child
    st [late], 1
    wake sleeper
    recv p, r1
    ld r2, [late]
    halt
sleeper:
    ld r3, [flag]
    sleep
    ld r4, [data]
    st [flag], 1
    send p, 7
    halt
child:
    ld r5, [data]
    st [late], 2
    halt
"""


@pytest.mark.parametrize("seed", range(6))
def test_wakeups_sleeps_and_spawns_match_the_reference(tmp_path, seed):
    """spawn, wake -> sleep and send -> recv edges on a small handshake, several schedules."""
    folder = tmp_path / "handshake"
    folder.mkdir()
    (folder / "scenario.toml").write_text(HANDSHAKE_TOML)
    (folder / "h.s").write_text(HANDSHAKE)
    path = Path(tracer.record(folder, tmp_path / "r", seed=seed).path)
    with queries.open_run(path) as run:
        kinds = {r["kind"] for r in run.sql("SELECT DISTINCT kind::VARCHAR AS kind FROM events").to_pylist()}
    assert {"spawn", "wake", "sleep", "send", "recv"} <= kinds
    _check_races_and_hb(path, seed)
