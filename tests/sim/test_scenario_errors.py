"""Malformed scenarios and options: each is one ScenarioError naming the file and the key."""

from __future__ import annotations


import pytest

from sim.errors import ScenarioError, SimError
from sim.scenario import BUNDLED, RunOptions, load_scenario, resolve_scenario_path
from sim.system import System

SOURCE = ".word flag0, 0\nworker:\n    halt\nhelper:\n    halt\n"

GOOD = """
[machines.host]
cores = 2
sources = ["main.s"]

[[threads]]
name = "t0"
entry = "worker"
"""


def write(rig, toml: str, extra_files: dict | None = None):
    return rig.write(toml, {"main.s": SOURCE, "alt.s": SOURCE, **(extra_files or {})})


def error_of(rig, toml: str, options: RunOptions | None = None, extra_files=None) -> ScenarioError:
    folder = write(rig, toml, extra_files)
    with pytest.raises(ScenarioError) as info:
        System(load_scenario(folder), options or RunOptions())
    err = info.value
    assert err.file == str(folder / "scenario.toml")
    assert str(err).startswith(f"{folder / 'scenario.toml'}")
    assert "\n" not in str(err)
    return err


def with_thread_key(line: str) -> str:
    return GOOD.replace('entry = "worker"', f'entry = "worker"\n{line}')


# (case id, TOML, the message after "file: ")
CASES = [
    ("missing machines", '[[threads]]\nname = "t0"\nentry = "worker"\n', "machines: missing (required)"),
    ("empty machines", 'machines = {}\n[[threads]]\nname = "t0"\nentry = "worker"\n',
     "machines: at least one machine is needed"),
    ("machine not a table", 'machines = { host = 1 }\n[[threads]]\nname = "t0"\nentry = "worker"\n',
     "machines.host: expected a table"),
    ("missing threads", '[machines.host]\nsources = ["main.s"]\n', "threads: missing (required)"),
    ("empty threads", 'threads = []\n[machines.host]\nsources = ["main.s"]\n', "threads: at least one thread is needed"),
    ("threads not a list", 'threads = 3\n[machines.host]\nsources = ["main.s"]\n', "threads: expected list, got int 3"),
    ("thread not a table", 'threads = [1]\n[machines.host]\nsources = ["main.s"]\n', "threads[0]: expected a table"),
    ("unknown machine in a thread", with_thread_key('machine = "hots"'),
     "threads[0].machine: unknown machine 'hots'; did you mean 'host'?"),
    ("zero cores", GOOD.replace("cores = 2", "cores = 0"), "machines.host.cores: must be between 1 and 64, got 0"),
    ("too many cores", GOOD.replace("cores = 2", "cores = 65"), "machines.host.cores: must be between 1 and 64, got 65"),
    ("cores not an int", GOOD.replace("cores = 2", 'cores = "two"'), "machines.host.cores: expected int, got str 'two'"),
    ("cores a bool", GOOD.replace("cores = 2", "cores = true"), "machines.host.cores: expected int, got bool True"),
    ("unknown top-level key", 'preemptoin = "full"\n' + GOOD, "preemptoin: unknown key; did you mean 'preemption'?"),
    ("unknown machine key", GOOD.replace("cores = 2", "cores = 2\nsorces = 1"),
     "machines.host.sorces: unknown key; did you mean 'sources' or 'cores'?"),
    ("unknown thread key", with_thread_key('kinds = "user"'), "threads[0].kinds: unknown key; did you mean 'kind'?"),
    ("missing source file", GOOD.replace('"main.s"', '"mian.s"'), "machines.host.sources: no such file: {folder}/mian.s"),
    ("source not a string", GOOD.replace('["main.s"]', '["main.s", 3]'),
     "machines.host.sources: expected file names, got 3"),
    ("bad variant file", '[variants.v2]\n"main.s" = "nope.s"\n' + GOOD,
     "variants.v2.main.s: no such replacement file: 'nope.s'"),
    ("variant not a table", 'variants = { v2 = 1 }\n' + GOOD, "variants.v2: expected a table of source substitutions"),
    ("unknown default variant", 'default_variant = "v3"\n[variants.v2]\n"main.s" = "alt.s"\n' + GOOD,
     "default_variant: unknown variant 'v3'; did you mean 'v2'?"),
    ("bad thread kind", with_thread_key('kind = "usr"'),
     "threads[0].kind: must be one of kernel, user, got 'usr'; did you mean 'user'?"),
    ("bad preemption", 'preemption = "voluntry"\n' + GOOD,
     "preemption: must be one of full, voluntary, got 'voluntry'; did you mean 'voluntary'?"),
    ("bad memory model", 'memory_model = "tos"\n' + GOOD,
     "memory_model: must be one of sc, tso, got 'tos'; did you mean 'tso'?"),
    ("unknown port machine", '[ports]\np = "hots"\n' + GOOD, "ports.p: unknown machine 'hots'; did you mean 'host'?"),
    ("unknown link machine", '[[links]]\na = "host"\nb = "srv"\n' + GOOD, "links[0].b: unknown machine 'srv'"),
    ("negative latency", '[[links]]\na = "host"\nb = "host"\nlatency = -1\n' + GOOD, "links[0].latency: must be >= 0"),
    ("unknown link key", '[[links]]\na = "host"\nb = "host"\nlatncy = 3\n' + GOOD,
     "links[0].latncy: unknown key; did you mean 'latency'?"),
    ("bad register", with_thread_key("regs = { r16 = 1 }"), "threads[0].regs.r16: expected a register r0..r15"),
    ("bad register value", with_thread_key('regs = { r1 = "x" }'), "threads[0].regs.r1: unknown constant or symbol 'x' (in 'x')"),
    ("duplicate thread", GOOD + '\n[[threads]]\nname = "t0"\nentry = "worker"\n',
     "threads[1].name: duplicate thread name 't0'"),
    ("unknown primary", 'primary = "hots"\n' + GOOD, "primary: unknown machine 'hots'; did you mean 'host'?"),
    ("zero timeslice", "timeslice = 0\n" + GOOD, "timeslice: must be positive"),
    ("negative step limit", "step_limit = -5\n" + GOOD, "step_limit: must be positive"),
    ("param not an int", '[params]\nN = "x"\n' + GOOD, "params.N: expected an integer, got 'x'"),
    ("param a bool", "[params]\nN = true\n" + GOOD, "params.N: expected an integer, got True"),
    ("empty allowed cores", with_thread_key("cores = []"),
     "threads[0].cores: expected a non-empty list of core numbers, got []"),
    ("negative allowed core", with_thread_key("cores = [-1]"),
     "threads[0].cores: expected a non-empty list of core numbers, got [-1]"),
    ("missing entry", GOOD.replace('entry = "worker"', ""), "threads[0].entry: missing (required)"),
    ("daemon not a bool", with_thread_key('daemon = "yes"'), "threads[0].daemon: expected bool, got str 'yes'"),
    ("name not a string", "name = 3\n" + GOOD, "name: expected str, got int 3"),
    ("invariant without expr", '[[invariants]]\nname = "x"\n' + GOOD, "invariants[0].expr: missing (required)"),
    ("unknown ordering key", '[[orderings]]\nname = "x"\nbefore = "a"\nafter = "b"\nafer = "c"\n' + GOOD,
     "orderings[0].afer: unknown key; did you mean 'after' or 'name'?"),
    ("lockset without lock", '[[locksets]]\nname = "x"\nfields = "a"\n' + GOOD, "locksets[0].lock: missing (required)"),
    ("empty list of fields", '[[locksets]]\nname = "x"\nfields = []\nlock = "l"\n' + GOOD,
     "locksets[0].fields: expected a string or a non-empty list of strings, got []"),
    ("a number among the selectors", '[[orderings]]\nname = "x"\nbefore = ["a", 3]\nafter = "b"\n' + GOOD,
     "orderings[0].before: expected a string or a non-empty list of strings, got ['a', 3]"),
    ("register not an expression", with_thread_key("regs = { r8 = true }"),
     'threads[0].regs.r8: expected an integer or a constant expression (a string such as "flag0", "N - 1" or '
     '"page.flags"), got True'),
    ("unknown name in a register", with_thread_key('regs = { r8 = "flag1" }'),
     "threads[0].regs.r8: unknown constant or symbol 'flag1'; did you mean 'flag0'? (in 'flag1')"),
    ("bad expression in a register", with_thread_key('regs = { r3 = "1 +" }'),
     "threads[0].regs.r3: expected a value after '+' (in '1 +')"),
    ("lock as a list", '[[locksets]]\nname = "x"\nfields = "a"\nlock = ["l"]\n' + GOOD,
     "locksets[0].lock: expected str, got list ['l']"),
    ("param named like a thread", "[params]\nt0 = 1\n" + GOOD, "params.t0: the name is already a thread's"),
    ("unknown entry label", GOOD.replace('entry = "worker"', 'entry = "wroker"'),
     "threads[0].entry: no function 'wroker' on machine 'host'; did you mean 'worker'?"),
]


@pytest.mark.parametrize("toml, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_scenario(rig, toml, message):
    err = error_of(rig, toml)
    folder = err.file.rsplit("/", 1)[0]
    assert err.message == message.format(folder=folder)
    assert str(err) == f"{err.file}: {err.message}"


def test_invalid_toml_names_the_line_and_column(rig):
    err = error_of(rig, 'name = "x"\ncores = = 3\n' + GOOD)
    assert err.message.startswith("invalid TOML: ")
    text = str(err)
    assert ("line 2" in text and "column 9" in text) or f"{err.file}:2:9:" in text


def test_invalid_toml_location_is_structured(rig):
    err = error_of(rig, 'name = "x"\ncores = = 3\n' + GOOD)
    assert (err.line, err.col) == (2, 9)
    assert str(err).startswith(f"{err.file}:2:9: invalid TOML")


def test_link_that_is_not_a_table(rig):
    err = error_of(rig, "links = [1]\n" + GOOD)
    assert err.message == "links[0]: expected a table"


def test_invariant_that_is_not_a_table(rig):
    err = error_of(rig, "invariants = [1]\n" + GOOD)
    assert err.message == "invariants[0]: expected a table"


def test_invariant_that_is_not_a_table_is_still_a_scenario_error(rig):
    err = error_of(rig, "invariants = [1]\n" + GOOD)
    assert err.message.startswith("invariants[0]")


def test_unreadable_toml(rig):
    folder = write(rig, "")
    (folder / "scenario.toml").write_bytes(b'name = "\xff\xfe"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(folder)
    assert info.value.file == str(folder / "scenario.toml")
    assert "cannot read" in info.value.message or "invalid TOML" in info.value.message


def test_folder_without_a_scenario(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert str(info.value) == f"no scenario.toml in {tmp_path}"


def test_scenario_by_its_toml_path(rig):
    folder = write(rig, GOOD)
    assert load_scenario(folder / "scenario.toml").folder == folder


# ---------------------------------------------------------------------------------------------
# Options that do not fit the scenario

VARIANTS = '[variants.v2]\n"main.s" = "alt.s"\n[variants.v1]\n"main.s" = "main.s"\n[params]\nN = 3\nROUNDS = 2\n' + GOOD


@pytest.mark.parametrize("options, message", [
    (RunOptions(variant="v3"), "unknown variant 'v3'; did you mean 'v2' or 'v1'? (this scenario has: v2, v1)"),
    (RunOptions(variant="x"), "unknown variant 'x' (this scenario has: v2, v1)"),
    (RunOptions(sched="rnadom"), "unknown scheduler 'rnadom'; did you mean 'random'?"),
    (RunOptions(sched="fifo"), "unknown scheduler 'fifo'"),
    (RunOptions(params=(("NN", 1),)), "unknown parameter 'NN'; did you mean 'N'? (this scenario has: N, ROUNDS)"),
    (RunOptions(params=(("M", 1),)), "unknown parameter 'M' (this scenario has: N, ROUNDS)"),
    (RunOptions(params=(("ROUND", 1),)), "unknown parameter 'ROUND'; did you mean 'ROUNDS'? (this scenario has: N, ROUNDS)"),
    (RunOptions(cores=0), "--cores must be between 1 and 64, got 0"),
    (RunOptions(cores=65), "--cores must be between 1 and 64, got 65"),
    (RunOptions(depth=0), "--depth must be at least 1, got 0"),
    (RunOptions(quantum=0), "--quantum must be at least 1, got 0"),
    (RunOptions(memory_model="pso"), "unknown memory model 'pso'; did you mean 'tso'?"),
    (RunOptions(step_limit=0), "--step-limit must be positive, got 0"),
    (RunOptions(seed=-1), "--seed must be between 0 and 2**64-1, got -1"),
])
def test_bad_options(rig, options, message):
    folder = write(rig, VARIANTS)
    sc = load_scenario(folder)
    with pytest.raises(ScenarioError) as info:
        System(sc, options)
    assert info.value.message == message
    if options.variant is not None:
        assert info.value.file == str(folder / "scenario.toml")


def test_unknown_variant_on_a_scenario_without_variants(rig):
    sc = load_scenario(write(rig, GOOD))
    with pytest.raises(ScenarioError) as info:
        System(sc, RunOptions(variant="v2"))
    assert info.value.message == "unknown variant 'v2' (this scenario has: no variants)"


def test_unknown_param_on_a_scenario_without_params(rig):
    sc = load_scenario(write(rig, GOOD))
    with pytest.raises(ScenarioError) as info:
        System(sc, RunOptions(params=(("N", 1),)))
    assert info.value.message == "unknown parameter 'N' (this scenario has: none)"


def test_good_options_are_accepted(rig):
    sc = load_scenario(write(rig, VARIANTS))
    system = System(sc, RunOptions(variant="v2", params=(("N", 5),), cores=3, sched="pct", depth=2,
                                   memory_model="tso"))
    assert system.run().outcome == "completed"
    assert len(system.cores) == 3


def test_unknown_symbol(rig):
    system = System(load_scenario(write(rig, GOOD, {"main.s": ".word counter, 0\n" + SOURCE})))
    assert system.read_symbol("counter") == 0
    with pytest.raises(ScenarioError) as info:
        system.read_symbol("countr")
    assert info.value.message == "unknown symbol 'countr'; did you mean 'counter'?"


def test_malformed_source_is_an_asm_error_with_a_location(rig):
    folder = write(rig, GOOD, {"main.s": "worker:\n    mvo r1, 2\n    halt\n"})
    with pytest.raises(SimError) as info:
        System(load_scenario(folder))
    assert type(info.value).__name__ == "AsmError"
    assert (info.value.file, info.value.line) == ("main.s", 2)


# ---------------------------------------------------------------------------------------------
# Bundled scenarios by name

def test_bundled_scenario_by_name():
    assert resolve_scenario_path("race_counter_asm") == BUNDLED / "race_counter_asm" / "scenario.toml"


@pytest.mark.parametrize("name, suggestion", [("race_countr", "race_counter"), ("lockd_counter", "locked_counter"),
                                              ("sbb", "sb")])
def test_unknown_bundled_scenario_suggests_the_closest(name, suggestion):
    with pytest.raises(ScenarioError) as info:
        load_scenario(name)
    message = str(info.value)
    assert message.startswith(f"no such scenario: {name}; did you mean '{suggestion}'")
    assert "(bundled: " in message and "race_counter_asm" in message and "locked_counter" in message


def test_unknown_bundled_scenario_without_a_close_match():
    with pytest.raises(ScenarioError) as info:
        load_scenario("zzzzzzzz")
    assert "did you mean" not in str(info.value)
    assert str(info.value).startswith("no such scenario: zzzzzzzz (bundled: ")


def test_registers_take_constant_expressions(rig):
    """Thread registers accept what operands accept: symbols, .equ names, parameters, thread names,
    struct field offsets."""
    source = """.equ K, 0x10
.struct page
    .field flags
    .field data, 2
.ends
.object p0, page
.word flag0, 0
worker:
    halt
"""
    toml = ('[params]\nN = 7\n' + GOOD.replace('entry = "worker"', 'entry = "worker"\nregs = { r1 = "flag0", '
            'r2 = "N - 1", r3 = "t1", r4 = "page.data[1]", r5 = "K << 1", r6 = "p0 + page.data", r7 = 5 }')
            + '[[threads]]\nname = "t1"\nentry = "worker"\n')
    folder = rig.write(toml, {"main.s": source})
    system = System(load_scenario(folder), RunOptions())
    image = system.image
    assert system.threads[0].regs[1:8] == [image.symbol("flag0").addr, 6, 1, 2, 0x20,
                                           image.symbol("p0.data[0]").addr, 5]
