"""data/litmus: every x86 test's expected x86-TSO verdict (the comment in the file, derived from the
x86-TSO axioms) is checked three ways:

1. an independent enumerator of the x86-TSO abstract machine (Owens, Sarkar, Sewell 2009), written
   here from the paper's description and sharing no code with sim/: its own reading of the file,
   its own x86 semantics, its own store buffers; its set of final states must equal revtrace's;
2. `revtrace litmus --exhaustive` (the simulator's own machine, enumerated) must give the verdict;
3. `revtrace litmus --runs 2000` must see every Allowed outcome (a few tests in the default run,
   all of them under `-m slow`) and never a Forbidden one.
The same reference machine without buffers is SC, and revtrace's `-m sc` must agree with it too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revtrace.cli import app

LITMUS = Path(__file__).resolve().parents[2] / "data" / "litmus"
FILES = sorted(LITMUS.glob("*.litmus"))
runner = CliRunner()


# ----------------------------------------------------------------------------------------------
# The reference: the x86-TSO abstract machine, enumerated. Independent of sim/ on purpose.

def _reference_read(text: str):
    """(threads as lists of instruction strings, initial memory, initial registers, kind,
    condition text) from a litmus file, with nothing but regular expressions."""
    text = re.sub(r"\(\*.*?\*\)", "", text, flags=re.S)
    init_text = text[text.index("{") + 1:text.index("}")]
    mem, regs = {}, {}
    for item in filter(None, (i.strip() for i in init_text.split(";"))):
        target, value = (s.strip() for s in item.split("="))
        if ":" in target:
            p, r = target.split(":")
            regs[(int(p), r.upper())] = int(value)
        else:
            mem[target] = int(value)
    body = text[text.index("}") + 1:]
    cond = re.search(r"^\s*(~exists|exists|forall)\s*(.*)$", body, re.M | re.S)
    rows = [row for row in body[:cond.start()].split(";") if row.strip()]
    rows = [[cell.strip() for cell in row.split("|")] for row in rows]
    threads = [[] for _ in rows[0]]
    for row in rows[1:]:
        for i, cell in enumerate(row):
            if cell:
                threads[i].append(cell)
    return threads, mem, regs, cond.group(1), cond.group(2).strip()


def _reference_condition(text: str):
    """The condition as a Python predicate over {'0:EAX': v, '[x]': v}."""
    expr = text.replace("/\\", " and ").replace("\\/", " or ").replace("~", " not ")
    expr = re.sub(r"(\d+):(\w+)\s*=\s*(-?\d+)", lambda m: f" (S['{m.group(1)}:{m.group(2).upper()}'] == {m.group(3)}) ", expr)
    expr = re.sub(r"\[?\b([a-z]\w*)\]?\s*=\s*(-?\d+)", lambda m: f" (S['[{m.group(1)}]'] == {m.group(2)}) ", expr)
    locs = sorted(set(re.findall(r"S\['([^']+)'\]", expr)))
    return (lambda S: eval(expr, {}, {"S": S})), locs  # noqa: S307 - our own test files


def reference_final_states(path: Path, model: str) -> tuple[set, object, str]:
    """Every reachable final state (restricted to the condition's locations) of the x86-TSO
    abstract machine (model 'tso': FIFO store buffers, loads forward from the own buffer,
    MFENCE and locked instructions wait for an empty buffer) or of SC (stores go to memory)."""
    threads, mem0, regs0, kind, cond_text = _reference_read(path.read_text())
    predicate, locs = _reference_condition(cond_text)
    code = []
    for th in threads:
        labels, instrs = {}, []
        for cell in th:
            m = re.match(r"(\w+):\s*(.*)", cell)
            if m and not cell.upper().startswith("LOCK"):
                labels[m.group(1)] = len(instrs)
                if not m.group(2):
                    continue
                cell = m.group(2)
            cell = cell.upper().replace("LOCK ", "LOCK_")
            if cell.startswith("INC ["):  # unlocked: a read and a later write, two memory events
                instrs += ["MOV TMP," + cell[4:], "INC TMP", "MOV " + cell[4:] + ",TMP"]
            else:
                instrs.append(cell)
        code.append((instrs, labels))
    n = len(threads)

    def value(tok, regs):
        tok = tok.strip()
        if tok.startswith("$"):
            return int(tok[1:])
        return regs.get(tok, 0)

    def read(p, x, buf, mem):
        for addr, v in reversed(buf[p]):
            if addr == x:
                return v
        return mem.get(x, 0)

    start = (tuple([0] * n), tuple(frozenset({r: v for (q, r), v in regs0.items() if q == p}.items()) for p in range(n)),
             tuple(() for _ in range(n)), frozenset(mem0.items()), tuple([False] * n))
    seen, stack, finals = {start}, [start], set()
    while stack:
        pcs, regs_all, bufs, mem_f, zfs = stack.pop()
        successors = []
        for p in range(n):  # a buffered store drains
            if bufs[p]:
                mem = dict(mem_f)
                (addr, v), rest = bufs[p][0], bufs[p][1:]
                mem[addr] = v
                successors.append((pcs, regs_all, bufs[:p] + (rest,) + bufs[p + 1:], frozenset(mem.items()), zfs))
        for p in range(n):  # a thread executes its next instruction
            instrs, labels = code[p]
            if pcs[p] >= len(instrs):
                continue
            regs, buf, mem = dict(regs_all[p]), list(bufs), dict(mem_f)
            zf, pc = zfs[p], pcs[p] + 1
            op, _, args = instrs[pcs[p]].partition(" ")
            a = [s.strip() for s in args.split(",")] if args else []
            locked = op.startswith("LOCK_") or op == "XCHG"
            if (locked or op == "MFENCE") and buf[p]:
                continue  # waits for its buffer to drain
            mloc = lambda s: s[1:-1].lower()  # noqa: E731 - [X] -> x
            if op == "MOV" and a[0].startswith("["):
                if model == "tso":
                    buf[p] = buf[p] + ((mloc(a[0]), value(a[1], regs)),)
                else:
                    mem[mloc(a[0])] = value(a[1], regs)
            elif op == "MOV" and a[1].startswith("["):
                regs[a[0]] = read(p, mloc(a[1]), buf, mem)
            elif op == "MOV":
                regs[a[0]] = value(a[1], regs)
            elif op in ("MFENCE", "LFENCE", "SFENCE"):
                pass
            elif op == "XCHG":
                old = mem.get(mloc(a[0]), 0)
                mem[mloc(a[0])] = regs.get(a[1], 0)
                regs[a[1]] = old
            elif op in ("LOCK_INC", "LOCK_ADD"):
                new = mem.get(mloc(a[0]), 0) + (1 if op == "LOCK_INC" else value(a[1], regs))
                mem[mloc(a[0])] = new
                zf = new == 0
            elif op == "LOCK_XADD":
                old = mem.get(mloc(a[0]), 0)
                mem[mloc(a[0])] = old + regs.get(a[1], 0)
                regs[a[1]] = old
            elif op == "LOCK_CMPXCHG":
                old = mem.get(mloc(a[0]), 0)
                zf = old == regs.get("EAX", 0)
                if zf:
                    mem[mloc(a[0])] = regs.get(a[1], 0)
                else:
                    regs["EAX"] = old
            elif op == "INC":
                regs[a[0]] = regs.get(a[0], 0) + 1
                zf = regs[a[0]] == 0
            elif op == "CMP":
                left = read(p, mloc(a[0]), buf, mem) if a[0].startswith("[") else regs.get(a[0], 0)
                zf = left == value(a[1], regs)
            elif op in ("JE", "JNE", "JMP"):
                if op == "JMP" or (op == "JE") == zf:
                    pc = labels[args.strip()] if args.strip() in labels else labels[
                        next(k for k in labels if k.upper() == args.strip())]
            else:
                raise AssertionError(f"reference: no semantics for {instrs[pcs[p]]!r}")
            new_regs = regs_all[:p] + (frozenset(regs.items()),) + regs_all[p + 1:]
            successors.append((pcs[:p] + (pc,) + pcs[p + 1:], new_regs, tuple(buf), frozenset(mem.items()),
                               zfs[:p] + (zf,) + zfs[p + 1:]))
        if not successors:
            mem = dict(mem_f)
            state = {}
            for loc in locs:
                if loc.startswith("["):
                    state[loc] = mem.get(loc[1:-1], 0)
                else:
                    p, r = loc.split(":")
                    state[loc] = dict(regs_all[int(p)]).get(r, 0)
            finals.add(frozenset(state.items()))
        for s in successors:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return finals, predicate, kind


def reference_verdict(finals, predicate, kind) -> str:
    sat = [predicate(dict(s)) for s in finals]
    if kind == "forall":
        return "Required" if all(sat) else "Not required"
    return "Allowed" if any(sat) else "Forbidden"


def expected_verdict(path: Path) -> str:
    m = re.search(r"\(\* x86-TSO: (Allowed|Forbidden|Required)\b", path.read_text())
    assert m, f"{path.name}: no '(* x86-TSO: VERDICT' comment"
    return m.group(1)


# ----------------------------------------------------------------------------------------------

def test_the_catalogue_has_the_classic_shapes():
    names = {f.stem for f in FILES}
    assert len(FILES) >= 30
    for shape in ["SB", "MP", "LB", "S", "R", "2+2W", "WRC", "RWC", "IRIW", "WRW+WR", "n5", "n6", "n7"]:
        assert shape in names
    text = "".join(f.read_text() for f in FILES)
    for construct in ["MFENCE", "XCHG", "LOCK ADD", "LOCK INC", "LOCK XADD", "LOCK CMPXCHG", "LFENCE", "SFENCE",
                      "CMP", "JNE", "~exists", "forall"]:
        assert construct in text


@pytest.fixture(scope="module")
def exhaustive():
    """revtrace's exhaustive results for every file, per memory model (one invocation each)."""
    out = {}
    for model in ("tso", "sc"):
        r = runner.invoke(app, ["litmus", *map(str, FILES), "--exhaustive", "--json", "-m", model])
        assert r.exit_code == 0, r.output
        out[model] = {Path(t["file"]).name: t for t in json.loads(r.output)["tests"]}
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_verdicts_match_the_reference_machine_and_the_comment(path, exhaustive):
    for model in ("tso", "sc"):
        finals, predicate, kind = reference_final_states(path, model)
        ours = exhaustive[model][path.name]
        our_states = {frozenset((k, v) for k, v in s["state"].items() if k in dict(next(iter(finals))))
                      for s in ours["states"]}
        assert our_states == finals, (model, sorted(map(sorted, our_states)), sorted(map(sorted, finals)))
        assert ours["verdict"] == reference_verdict(finals, predicate, kind), model
    assert exhaustive["tso"][path.name]["verdict"] == expected_verdict(path)


def test_sc_forbids_the_store_buffer_outcomes(exhaustive):
    relaxed = [f.name for f in FILES if expected_verdict(f) == "Allowed"
               and exhaustive["sc"][f.name]["verdict"] == "Forbidden"]
    assert {"SB.litmus", "R.litmus", "RWC.litmus", "WRW+WR.litmus", "n6.litmus", "n7.litmus",
            "Dekker.litmus"} <= set(relaxed)


def _runs(path: Path, n: int = 2000) -> dict:
    r = runner.invoke(app, ["litmus", str(path), "--runs", str(n), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["tests"][0]


FAST = {"SB", "R", "n7"}  # the default run samples a few; -m slow runs them all


@pytest.mark.parametrize("path", [pytest.param(f, marks=() if f.stem in FAST else pytest.mark.slow, id=f.stem)
                                  for f in FILES])
def test_runs_see_allowed_outcomes_and_never_forbidden_ones(path):
    t = _runs(path)
    want = expected_verdict(path)
    assert t["verdict"] == want, t["verdict_text"]
    assert t["incomplete"] == {}


# ----------------------------------------------------------------------------------------------
# Differential: random small x86 programs, revtrace's enumeration against the reference machine.

def _random_test(seed: int) -> str:
    import random

    rng = random.Random(seed)
    nthreads = rng.choice([2, 2, 3])
    locs = ["x", "y"]
    threads, init, regs_used = [], ["x=0;", "y=0;"], []
    for p in range(nthreads):
        code, free = [], ["EAX", "EBX", "ECX"]
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["st", "st", "ld", "ld", "mfence", "xchg", "lockinc", "xadd"])
            loc = rng.choice(locs)
            if kind == "st":
                code.append(f"MOV [{loc}],${rng.randint(1, 2)}")
            elif kind == "mfence":
                code.append("MFENCE")
            elif kind == "lockinc":
                code.append(f"LOCK INC [{loc}]")
            elif free:
                reg = free.pop(0)
                regs_used.append((p, reg))
                if kind == "ld":
                    code.append(f"MOV {reg},[{loc}]")
                else:
                    init.append(f"{p}:{reg}={rng.randint(1, 3)};")
                    code.append(f"XCHG [{loc}],{reg}" if kind == "xchg" else f"LOCK XADD [{loc}],{reg}")
        threads.append(code)
    rows = max(len(c) for c in threads)
    table = [" | ".join(f"P{i}" for i in range(nthreads)) + " ;"]
    for r in range(rows):
        table.append(" | ".join(c[r] if r < len(c) else "" for c in threads) + " ;")
    atoms = [f"{p}:{reg}=0" for p, reg in regs_used] + [f"{loc}=0" for loc in locs]
    condition = " /\\ ".join(atoms)
    return f"X86 R{seed}\n{{ {' '.join(init)} }}\n" + "\n".join(table) + f"\nexists ({condition})\n"


def _differential(seeds, tmp_path):
    paths = []
    for seed in seeds:
        p = tmp_path / f"R{seed}.litmus"
        p.write_text(_random_test(seed))
        paths.append(p)
    for model in ("tso", "sc"):
        r = runner.invoke(app, ["litmus", *map(str, paths), "--exhaustive", "--json", "-m", model])
        assert r.exit_code == 0, r.output
        for path, ours in zip(paths, json.loads(r.output)["tests"]):
            finals, _, _ = reference_final_states(path, model)
            our_states = {frozenset(s["state"].items()) for s in ours["states"]}
            assert our_states == finals, (model, path.read_text())


def test_random_programs_match_the_reference_machine(tmp_path):
    _differential(range(40), tmp_path)


@pytest.mark.slow
def test_many_random_programs_match_the_reference_machine(tmp_path):
    _differential(range(40, 440), tmp_path)


# sim.explorer's enumeration (revtrace litmus --engine explore) reaches the same final states
CROSS = ["SB", "SB+mfences", "MP", "R", "n6", "SB+lockcmpxchgs", "2+2W", "CoRW"]


@pytest.mark.parametrize("name", CROSS)
def test_the_explorer_engine_agrees(name, exhaustive):
    r = runner.invoke(app, ["litmus", str(LITMUS / f"{name}.litmus"), "--exhaustive", "--engine", "explore", "--json"])
    assert r.exit_code == 0, r.output
    theirs = json.loads(r.output)["tests"][0]
    ours = exhaustive["tso"][f"{name}.litmus"]
    assert [s["line"] for s in theirs["states"]] == [s["line"] for s in ours["states"]]
    assert theirs["verdict"] == ours["verdict"]
