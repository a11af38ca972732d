"""`revtrace litmus`: herd's report field for field, verdicts, options and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revtrace.cli import app

LITMUS = Path(__file__).resolve().parents[2] / "data" / "litmus"
runner = CliRunner()

# herd7's output for SB and MP under x86-TSO (herdtools7 catalogue/x86, `herd7 -model x86tso.cat`);
# the Time line is the run's duration and the Hash line an MD5 of the test, which revtrace does not
# print: both are left out of the comparison, as herd's own regression tests leave out Time.
HERD_SB = """\
Test SB Allowed
States 4
0:EAX=0; 1:EAX=0;
0:EAX=0; 1:EAX=1;
0:EAX=1; 1:EAX=0;
0:EAX=1; 1:EAX=1;
Ok
Witnesses
Positive: 1 Negative: 3
Condition exists (0:EAX=0 /\\ 1:EAX=0)
Observation SB Sometimes 1 3
"""
HERD_MP = """\
Test MP Allowed
States 3
1:EAX=0; 1:EBX=0;
1:EAX=0; 1:EBX=1;
1:EAX=1; 1:EBX=1;
No
Witnesses
Positive: 0 Negative: 3
Condition exists (1:EAX=1 /\\ 1:EBX=0)
Observation MP Never 0 3
"""


def litmus(*args: str):
    return runner.invoke(app, ["litmus", *args])


def herd_block(output: str) -> str:
    """The herd part of one report: up to the Time line (excluded)."""
    lines = output.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith("Time "))
    return "".join(lines[:end])


@pytest.mark.parametrize("name, herd", [("SB", HERD_SB), ("MP", HERD_MP)])
def test_exhaustive_report_is_herds_report(name, herd):
    r = litmus(str(LITMUS / f"{name}.litmus"), "--exhaustive")
    assert r.exit_code == 0, r.output
    assert herd_block(r.output) == herd
    # then Time, as herd prints it, and revtrace's own lines
    after = r.output.splitlines()[len(herd.splitlines()):]
    assert re.fullmatch(rf"Time {re.escape(name)} \d+\.\d\d", after[0])
    assert after[1].startswith("Histogram (")
    assert after[-1].startswith("Verdict ")


def test_field_names_and_order_match_herd_for_random_runs():
    r = litmus(str(LITMUS / "SB.litmus"), "--runs", "300")
    assert r.exit_code == 0, r.output
    fields = [re.match(r"[A-Za-z]+", line).group(0) for line in r.output.splitlines()
              if re.match(r"(Test|States|Ok|No|Witnesses|Positive|Condition|Observation|Time)\b", line)]
    assert fields == ["Test", "States", "Ok", "Witnesses", "Positive", "Condition", "Observation", "Time"]
    m = re.search(r"^Positive: (\d+) Negative: (\d+)$", r.output, re.M)
    assert int(m.group(1)) + int(m.group(2)) == 300
    assert re.search(rf"^Observation SB Sometimes {m.group(1)} {m.group(2)}$", r.output, re.M)
    assert re.search(r"^Verdict Allowed: seen in \d+ of 300 runs \(\d+\.\d\d%\)$", r.output, re.M)


def test_histogram_counts_runs_and_marks_the_condition():
    r = litmus(str(LITMUS / "SB.litmus"), "--runs", "200", "--json")
    t = json.loads(r.output)["tests"][0]
    assert sum(s["count"] for s in t["states"]) == 200
    sat = [s for s in t["states"] if s["satisfies"]]
    assert sat == [s for s in t["states"] if s["state"] == {"0:EAX": 0, "1:EAX": 0}]
    text = litmus(str(LITMUS / "SB.litmus"), "--runs", "200").output
    assert re.search(rf"^{sat[0]['count']} +\*>0:EAX=0; 1:EAX=0;$", text, re.M)


def test_sc_forbids_what_tso_allows():
    tso = json.loads(litmus(str(LITMUS / "SB.litmus"), "--exhaustive", "--json").output)["tests"][0]
    sc = json.loads(litmus(str(LITMUS / "SB.litmus"), "--exhaustive", "--json", "-m", "sc").output)["tests"][0]
    assert (tso["verdict"], sc["verdict"]) == ("Allowed", "Forbidden")
    assert len(tso["states"]) == 4 and len(sc["states"]) == 3


def test_same_seeds_same_histogram_and_seed_changes_it():
    def states(*extra):
        out = json.loads(litmus(str(LITMUS / "R.litmus"), "--runs", "150", "--json", *extra).output)
        return [(s["line"], s["count"]) for s in out["tests"][0]["states"]]

    assert states() == states()
    assert states() != states("--seed", "1000")


def test_kinds_not_exists_and_forall():
    r = litmus(str(LITMUS / "SB+notexists-mfences.litmus"), str(LITMUS / "LockIncs+forall.litmus"), "--exhaustive")
    assert r.exit_code == 0, r.output
    assert "Test SB+notexists-mfences Forbidden\n" in r.output
    # herd's check_wit: for ~exists, Positive counts the states where the proposition fails
    assert "Ok\nWitnesses\nPositive: 3 Negative: 0\nCondition ~exists (0:EAX=0 /\\ 1:EAX=0)\n" in r.output
    assert "Observation SB+notexists-mfences Never 0 3\n" in r.output
    # two executions (either increment first), one final state, as herd counts them
    assert "Test LockIncs+forall Required\nStates 1\n[c]=2;\nOk\nWitnesses\nPositive: 2 Negative: 0\n" in r.output
    assert "Verdict Required: the condition held in every execution (exhaustive)" in r.output


def test_condition_printing_follows_herd(tmp_path):
    f = tmp_path / "P.litmus"
    f.write_text("X86 P\n{ }\n P0 | P1 ;\n MOV [x],$1 | MOV EAX,[x] ;\n"
                 "exists (x=1 /\\ (1:eax=0 \\/ 1:EAX=1) /\\ ~(0:EBX=1) \\/ [x]=-1)\n")
    r = litmus(str(f), "--exhaustive")
    assert r.exit_code == 0, r.output
    assert "Condition exists ([x]=1 /\\ (1:EAX=0 \\/ 1:EAX=1) /\\ not (0:EBX=1) \\/ [x]=-1)\n" in r.output
    # shown locations: registers by thread, then memory, as herd orders them
    assert "States 2\n0:EBX=0; 1:EAX=0; [x]=1;\n0:EBX=0; 1:EAX=1; [x]=1;\n" in r.output


def test_locations_adds_shown_locations(tmp_path):
    f = tmp_path / "L.litmus"
    f.write_text("X86 L\n{ x=0; y=5; }\n P0 ;\n MOV [x],$1 ;\nlocations [y; 0:EAX;]\nexists (x=1)\n")
    r = litmus(str(f), "--exhaustive")
    assert r.exit_code == 0, r.output
    assert "States 1\n0:EAX=0; [x]=1; [y]=5;\nOk\n" in r.output


def test_spinning_thread_completes_and_loops_are_enumerated():
    r = litmus(str(LITMUS / "Spinlock+xchg.litmus"), "--runs", "50", "--json")
    t = json.loads(r.output)["tests"][0]
    assert t["incomplete"] == {} and t["verdict"] == "Forbidden"
    assert [s["state"] for s in t["states"]] == [{"[c]": 2}]


ERRORS = [
    ("AArch64 T\n{ }\n P0 ;\n NOP ;\nexists (x=1)\n", r":1:1: architecture 'AArch64' is not supported"),
    ("X86 T\n{ }\n P0 ;\n MOVSD ;\nexists (x=1)\n", r":4:2: unsupported x86 instruction 'MOVSD'"),
    ("X86 T\n{ }\n P0 | P1 ;\n MOV [x],$1 | CMPXCHG [x],EBX ;\nexists (x=1)\n",
     r":4:15: CMPXCHG without LOCK is not atomic; write LOCK CMPXCHG"),
    ("X86 T\n{ }\n P0 ;\n LOCK OR [x],$1 ;\nexists (x=1)\n", r":4:2: LOCK OR cannot be expressed"),
    ("X86 T\n{ }\n P0 ;\n JNE L9 ;\nexists (x=1)\n", r":4:2: no label 'L9' in thread P0"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],[y] ;\nexists (x=1)\n", r":4:2: MOV from memory to memory"),
    ("X86 T\n{ }\n P0 ;\n MOV [x+4],$1 ;\nexists (x=1)\n", r":4:2: unsupported memory operand '\[x\+4\]'"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1 ;\n", r":5:1: expected a final condition"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1 ;\nexists (0:EXX=1)\n", r":5:9: 'EXX' is not an x86 register"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1 ;\nexists (2:EAX=1)\n", r":5:9: no thread P2 \(this test has 1\)"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1 ;\nexists (x=1 /\\ )\n", r":5:16: expected a location"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1 ;\nexists (x=y)\n", r":5:11: expected an integer value for \[x\]"),
    ("X86 T\n{ }\n P1 ;\n MOV [x],$1 ;\nexists (x=1)\n", r":3:2: expected thread P0 in the table's header"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1\nexists (x=1)\n", r":4:2: expected ';' at the end of this row"),
    ("X86 T\n{ x=0 \n P0 ;\n MOV [x],$1 ;\nexists (x=1)\n", r":2:1: unterminated initial state block"),
    ("X86 T\n(* open\n{ }\n", r":2:1: unterminated comment"),
    ("X86 T\n{ }\n P0 ;\n MOV [x],$1 ;\nfilter (x=1)\nexists (x=1)\n", r":5:1: 'filter' clauses are not supported"),
]


@pytest.mark.parametrize("text, message", ERRORS)
def test_bad_tests_give_one_line_with_the_place(tmp_path, text, message):
    f = tmp_path / "bad.litmus"
    f.write_text(text)
    r = litmus(str(f))
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert re.search(re.escape(str(f)) + message, lines[0]), lines[0]
    assert "Traceback" not in r.output


def test_bad_options_and_files():
    sb = str(LITMUS / "SB.litmus")
    for args, message in [((sb, "--runs", "5", "--exhaustive"), "--runs and --exhaustive exclude each other"),
                          ((sb, "-m", "pso"), "unknown memory model 'pso'"),
                          ((sb, "--runs", "0"), "--runs must be at least 1"),
                          ((sb, "--max-burst", "0"), "--max-burst must be at least 1"),
                          ((sb, "--drain-probability", "0"), "--drain-probability must be in (0, 1]"),
                          (("nope.litmus",), "nope.litmus: no such litmus file")]:
        r = litmus(*args)
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output and len(r.output.strip().splitlines()) == 1


def test_every_file_is_checked_before_anything_runs(tmp_path):
    bad = tmp_path / "bad.litmus"
    bad.write_text("X86 T\n{ }\n P0 ;\n NOPE ;\nexists (x=1)\n")
    r = litmus(str(LITMUS / "SB.litmus"), str(bad))
    assert r.exit_code == 2 and "Test SB" not in r.output


def test_herd_header_lines_multiline_init_and_labels(tmp_path):
    # the shape of diy-generated tests: doc string, Key=Value lines, an init block over lines,
    # registers holding addresses, labels on their own row and with an instruction
    f = tmp_path / "G.litmus"
    f.write_text('X86 G\n"PodWW Rfe PodRR Fre"\nGenerator=diy7 (version 7.5)\nCom=Rf Fr\nOrig=PodWW Rfe\n'
                 "{\n x=0; y=0;\n 1:EDX=x;\n}\n"
                 " P0         | P1            ;\n"
                 " MOV [x],$1 | MOV EAX,[y]   ;\n"
                 " MOV [y],$1 | CMP EAX,$0    ;\n"
                 "            | JE LE         ;\n"
                 "            | MOV EBX,[EDX] ;\n"
                 "            | LE: MFENCE    ;\n"
                 "exists (1:EAX=1 /\\ 1:EBX=0)\n")
    r = litmus(str(f), "--exhaustive", "--json")
    assert r.exit_code == 0, r.output
    t = json.loads(r.output)["tests"][0]
    assert t["verdict"] == "Forbidden"
    assert {s["line"] for s in t["states"]} == {"1:EAX=0; 1:EBX=0;", "1:EAX=1; 1:EBX=1;"}


def test_a_folder_stands_for_its_litmus_files(tmp_path):
    r = litmus(str(LITMUS / "C"), "--runs", "20", "--json")
    assert r.exit_code == 0, r.output
    names = [t["name"] for t in json.loads(r.output)["tests"]]
    assert names == sorted(names, key=lambda n: n) and len(names) == len(list((LITMUS / "C").glob("*.litmus")))
    r = litmus(str(tmp_path))
    assert r.exit_code == 2 and f"no *.litmus files in {tmp_path}" in r.output


def test_engine_option():
    sb = str(LITMUS / "SB.litmus")
    for args, message in [((sb, "--exhaustive", "--engine", "dpor"), "unknown engine 'dpor'"),
                          ((sb, "--engine", "explore"), "--engine is for --exhaustive")]:
        r = litmus(*args)
        assert r.exit_code == 2 and message in r.output, r.output
