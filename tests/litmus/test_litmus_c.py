"""The C dialect (the kernel's tools/memory-model style), compiled by sim.c: data/litmus/C.

Each test carries its LKMM verdict (`Result: Never|Sometimes`, the Linux-kernel memory model's
answer) and its x86-TSO verdict, derived by hand. LKMM is weaker than x86-TSO, so an outcome LKMM
says never happens must never appear under tso (nor sc); the x86-TSO verdict must be exact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revtrace.cli import app
from sim.litmus import build, read_litmus

C_DIR = Path(__file__).resolve().parents[2] / "data" / "litmus" / "C"
FILES = sorted(C_DIR.glob("*.litmus"))
SLOW = {"IRIW+fencembonceonces+OnceOnce", "IRIW+poonceonces+OnceOnce"}  # ~20k machine states each
runner = CliRunner()


def verdicts(path: Path) -> tuple[str, str]:
    text = path.read_text()
    lkmm = re.search(r"LKMM: (Never|Sometimes)\b", text)
    tso = re.search(r"x86-TSO: (Allowed|Forbidden)\b", text)
    assert lkmm and tso, path.name
    assert f"Result: {lkmm.group(1)}" in text
    return lkmm.group(1), tso.group(1)


def test_the_c_catalogue():
    assert len(FILES) >= 15
    text = "".join(f.read_text() for f in FILES)
    for construct in ["READ_ONCE", "WRITE_ONCE", "smp_mb()", "smp_rmb()", "smp_wmb()", "smp_load_acquire",
                      "smp_store_release", "xchg(", "cmpxchg(", "xchg_relaxed(", "cmpxchg_acquire(", "spin_lock(",
                      "spin_unlock(", "atomic_inc("]:
        assert construct in text, construct
    assert {verdicts(f)[0] for f in FILES} == {"Never", "Sometimes"}


@pytest.fixture(scope="module")
def exhaustive():
    out = {}
    fast = [str(f) for f in FILES if f.stem not in SLOW]
    for model in ("tso", "sc"):
        r = runner.invoke(app, ["litmus", *fast, "--exhaustive", "--json", "-m", model])
        assert r.exit_code == 0, r.output
        out[model] = {Path(t["file"]).stem: t for t in json.loads(r.output)["tests"]}
    return out


def _check(path, tso, sc):
    lkmm, expected_tso = verdicts(path)
    assert tso["verdict"] == expected_tso, tso["verdict_text"]
    if lkmm == "Never":  # LKMM forbids it: the stronger tso and sc must never show it
        assert tso["verdict"] == "Forbidden" and sc["verdict"] == "Forbidden"
    assert sc["verdict"] == "Forbidden" or expected_tso == "Allowed" and path.stem == "lost-update-onces"


@pytest.mark.parametrize("path", [f for f in FILES if f.stem not in SLOW], ids=lambda p: p.stem)
def test_verdicts_under_tso_and_sc(path, exhaustive):
    _check(path, exhaustive["tso"][path.stem], exhaustive["sc"][path.stem])


@pytest.mark.slow
@pytest.mark.parametrize("path", [f for f in FILES if f.stem in SLOW], ids=lambda p: p.stem)
def test_verdicts_of_the_big_ones(path):
    results = []
    for model in ("tso", "sc"):
        r = runner.invoke(app, ["litmus", str(path), "--exhaustive", "--json", "-m", model])
        results.append(json.loads(r.output)["tests"][0])
    _check(path, *results)


@pytest.mark.parametrize("name", ["SB+poonceonces", "R+poonceonces", "MP+pooncerelease+poacquireonce"])
def test_runs_agree(name):
    path = C_DIR / f"{name}.litmus"
    r = runner.invoke(app, ["litmus", str(path), "--runs", "2000", "--json"])
    t = json.loads(r.output)["tests"][0]
    assert t["verdict"] == verdicts(path)[1] and t["incomplete"] == {}


def test_c_report_reads_locals_and_shared_variables():
    r = runner.invoke(app, ["litmus", str(C_DIR / "R+poonceonces.litmus"), "--exhaustive"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Test R+poonceonces Allowed\nStates 4\n1:r0=0; [y]=1;\n1:r0=0; [y]=2;\n"
                               "1:r0=1; [y]=1;\n1:r0=1; [y]=2;\nOk\nWitnesses\nPositive: 1 Negative: 3\n"
                               "Condition exists ([y]=2 /\\ 1:r0=0)\n")


def test_sites_are_the_litmus_files_lines():
    path = C_DIR / "SB+fencembonceonces.litmus"
    program = build(read_litmus(path))
    lines = path.read_text().splitlines()
    code_sites = {(s.line, s.function) for s in program.image.sites if s.file == str(path)}
    fence_line = next(i + 1 for i, line in enumerate(lines) if "smp_mb();" in line)
    assert (fence_line, "__litmus_P0") in code_sites


C_ERRORS = [
    ("C T\n\n{}\n\nP0(int *x)\n{\n\tint r0;\n\n\tr0 = READ_ONCE(*x)\n\tWRITE_ONCE(*x, 2);\n}\n\nexists (0:r0=1)\n",
     r":10:2: syntax error before: WRITE_ONCE"),
    ("C T\n\n{}\n\nP0(int *x)\n{\n\tWRITE_ONCE(*x, 2);\n}\n\nexists (0:r9=1)\n",
     r":5:1: P0 has no local variable 'r9' \(the condition reads 0:r9\)"),
    ("C T\n\n{}\n\nP0(int **x)\n{\n\tWRITE_ONCE(*x, 2);\n}\n\nexists (x=1)\n", r":5:4: unsupported parameter 'int \*\*x'"),
    ("C T\n\n{}\n\nP0(int *x)\n{\n\tfrobnicate(x);\n}\n\nexists (x=1)\n",
     r":7:2: implicit declaration of function 'frobnicate'"),
    ("C T\n\n{}\n\nP1(int *x)\n{\n}\n\nexists (x=1)\n", r":5:1: expected thread P0, got P1"),
    ("C T\n\n{}\n\nint helper;\nP0(int *x)\n{\n}\n\nexists (x=1)\n", r":5:1: expected a thread function"),
    ("C T\n\n{}\n\nP0(int *x)\n{\n\tWRITE_ONCE(*x, 1);\n\nexists (x=1)\n", r":6:1: unterminated body of P0"),
]


@pytest.mark.parametrize("text, message", C_ERRORS)
def test_bad_c_tests_give_one_line_with_the_place(tmp_path, text, message):
    f = tmp_path / "bad.litmus"
    f.write_text(text)
    r = runner.invoke(app, ["litmus", str(f)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert re.search(re.escape(str(f)) + message, lines[0]), lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_runs_never_show_a_never(path):
    r = runner.invoke(app, ["litmus", str(path), "--runs", "2000", "--json"])
    t = json.loads(r.output)["tests"][0]
    lkmm, tso = verdicts(path)
    assert t["verdict"] == tso and t["incomplete"] == {}
    if lkmm == "Never":
        assert t["positive"] == 0
