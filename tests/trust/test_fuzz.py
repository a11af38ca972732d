"""Fuzzing scenario TOML, assembly and C: every input gives a clean run or one line and exit 2,
never a traceback, never a hang (a step limit and small programs bound every run). C errors name
the place (file:line, with the column where the front-end knows it). A bounded number of examples
by default; many more with `-m slow`."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trusthelp import refusal
from typer.testing import CliRunner

from revtrace.cli import app

OPS = ["mov", "add", "sub", "mul", "div", "mod", "and", "or", "xor", "shl", "shr", "ld", "st", "cas",
       "xchg", "xadd", "beq", "bne", "blt", "jmp", "jz", "jnz", "call", "ret", "push", "pop", "halt",
       "spin_lock", "spin_unlock", "fence", "cond_resched", "set_bit", "clear_bit", "test_and_set_bit",
       "bug_on", "preempt_disable", "preempt_enable", "yield", "nop", "bogus"]
OPERANDS = ["r0", "r1", "r2", "r15", "r16", "0", "1", "-1", "18446744073709551615", "99999999999999999999999",
            "[w]", "[w + 1]", "[r1]", "[r1 + 4096]", "[nowhere]", ".top", ".nowhere", "worker", "w",
            "lock", "N", "N * N", "(", "'x'", "0x", "1 << 70", "2 / 0"]
DIRECTIVES = [".word w, 0", ".word lock, 0", ".word w, 1, 2", ".include \"kernel.inc\"", ".word", ".const N, 3",
              ".top:", "worker:", ".top: .top:", "; a comment", ""]


def asm_line():
    instr = st.builds(lambda op, args: f"    {op} " + ", ".join(args), st.sampled_from(OPS),
                      st.lists(st.sampled_from(OPERANDS), max_size=3))
    return st.one_of(instr, instr, instr, st.sampled_from(DIRECTIVES),
                     st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))


programs = st.lists(asm_line(), max_size=25).map(
    lambda lines: ".word w, 0\n.word lock, 0\nworker:\n.top:\n" + "\n".join(lines) + "\n    halt\n")

VALUES = ["1", "2", "0", "-1", "65", "99999999999999999999999", "9" * 400, '"two"', "true", "[1]", "[7]",
          "[]", "{}", '"sc"', '"tso"', '"pso"', "1.5"]
KEYS = {"cores": "[machines.host]", "timeslice": "", "step_limit": "", "memory_model": "", "preemption": "",
        "N": "[params]", "entry": "[[threads]]", "name": ""}


@st.composite
def tomls(draw):
    cores = draw(st.sampled_from(VALUES[:6] + ["2"] * 6))
    text = (f'name = "fuzz"\nstep_limit = 3000\n'
            f'[params]\nN = {draw(st.sampled_from(VALUES))}\n'
            f'[machines.host]\ncores = {cores}\nsources = ["prog.s"]\n'
            f'[[threads]]\nname = "t0"\nentry = "worker"\n'
            f'[[threads]]\nname = "t1"\nentry = "worker"\n')
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(KEYS)))
        table = KEYS[key]
        value = draw(st.sampled_from(VALUES))
        line = f"{key} = {value}\n"
        text = text.replace(table + "\n", table + "\n" + line, 1) if table else line + text
    if draw(st.booleans()):  # raw damage
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "=", "[", "\x00", "]]", "\"", "\n[x]\n"])) + text[cut:]
    return text


def run_scenario(files: dict[str, str], located: bool = False) -> None:
    """`revtrace run` on a folder of these files: a normal run, or one refusal line (naming
    file:line[:col] when `located`), never a traceback."""
    with tempfile.TemporaryDirectory(prefix="revtrace-fuzz-") as tmp:
        folder = Path(tmp)
        for name, text in files.items():
            (folder / name).write_text(text)
        res = CliRunner().invoke(app, ["run", str(folder), "--step-limit", "3000"])
        assert "Traceback" not in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        if res.exit_code == 2:
            line = refusal(res)
            if located:
                assert LOCATED.match(line), line  # names the place: file:line[:col]
        else:
            assert res.exit_code == 0, (res.exit_code, res.output)


def run_once(toml: str, program: str) -> None:
    run_scenario({"scenario.toml": toml, "prog.s": program})


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FULL = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(tomls(), programs)
def test_fuzz_scenarios_and_programs(toml, program):
    run_once(toml, program)


@pytest.mark.slow
@FULL
@given(tomls(), programs)
def test_fuzz_scenarios_and_programs_full(toml, program):
    run_once(toml, program)


# ---------------------------------------------------------------------------------------------
# C sources: malformed and odd C through the whole front-end (pcpp, pycparser, code generation,
# linking with the kernel API) and a run. Every case must end in a normal run or one line naming
# the place (file:line, and the column where the C front-end knows it) with exit code 2.

C_BASE = """#include <linux/spinlock.h>
#include <linux/sched.h>

DEFINE_SPINLOCK(lock);
long counter;
long table[4];
struct pair { long a; long b; } pair;

static long helper(long x)
{
	return x * 2 + 1;
}

void worker(void)
{
	long i;

	for (i = 0; i < 3; i++) {
		spin_lock(&lock);
		counter = counter + helper(i);
		table[i & 3] = counter;
		pair.a = pair.b + 1;
		spin_unlock(&lock);
		cond_resched();
	}
}
"""
HUGE = ["99999999999999999999999", "0x" + "f" * 40, "1e999", "'ab'", "'\\777'", "9" * 400 + "ULL",
        "-9223372036854775809", "0b102", "077777777777777777777777", "1.5", "\"str\"", "L'x'"]
TOKENS = ["{", "}", "(", ")", "[", "]", ";", ",", "=", "==", "+", "++", "->", ".", "*", "&", "&&", "?", ":",
          "long", "int", "char", "void", "struct", "union", "enum", "unsigned", "signed", "const", "volatile",
          "static", "extern", "typedef", "if", "else", "for", "while", "do", "switch", "case", "default",
          "break", "continue", "return", "goto", "sizeof", "counter", "table", "pair", "worker", "helper",
          "i", "x", "lock", "0", "1", "-1", "#", "##", "\\", "@", "`", "$", "\"", "'", "/*", "*/", "//", "\n",
          *HUGE]
STATEMENTS = [
    "counter = 1 / 0;", "counter = counter % 0;", "table[100] = 1;", "table[-1] = 1;", "*(long *)0 = 1;",
    "undefined_kernel_api(&lock);", "spin_lock_irqsave(&lock, counter);", "kmalloc(16, 0);",
    "mutex_lock(&lock);", "atomic_inc(&counter);", "set_bit(70, &counter);", "BUG_ON(counter > 1000000);",
    "helper();", "helper(1, 2, 3);", "worker();", "return 5;", "goto nowhere;", "break;", "continue;",
    "counter = " + "(" * 300 + "1" + ")" * 300 + ";", "{" * 200 + "}" * 200,
    "counter = " + " + ".join(["counter"] * 300) + ";", "if (counter) " * 150 + "counter++;",
    "long big[100000000];", "char s[] = \"abc\";", "float f = 1.5;", "double d;", "long long q = 1LL << 63;",
    "struct pair *p = &pair; p->c = 1;", "pair.missing = 1;", "counter.a = 1;", "long counter;",
    "while (1) cond_resched();", "for (;;) { }", "switch (counter) { case 1: case 1: break; }",
    "asm(\"nop\");", "__asm__ volatile(\"\" ::: \"memory\");", "label: label: ;", "int (*fp)(void) = worker; fp();",
    "counter = sizeof(struct nope);", "counter = (struct pair)counter;", "va_list ap;",
]
INCLUDES = ["#include <linux/nope.h>", "#include \"missing.h\"", "#include", "#include <", "#include <stdio.h>",
            "#include \"../../../../../../etc/passwd\"", "#include \"prog.c\"", "#include <linux/spinlock.h>",
            "#define X(", "#define worker 1", "#if", "#endif", "#else", "#if 1/0\n#endif", "#error stop here",
            "#pragma once", "#warning careful", "#line 5 \"elsewhere.c\"", "#undef", "#ifdef\n#endif",
            "#define F(x) F(x)\nlong y = F(1);", "#elif 1", "#nonsense directive"]
LOCATED = re.compile(r"revtrace: error: (\S+:\d+(:\d+)?|\S*scenario\.toml): ")  # C, or the entry's table


@st.composite
def c_sources(draw) -> str:
    text = C_BASE
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["statement", "statement", "include", "tokens", "huge", "cut", "text"]))
        if kind == "statement":  # inside worker's loop, after cond_resched()
            text = text.replace("cond_resched();", "cond_resched();\n\t\t" + draw(st.sampled_from(STATEMENTS)), 1)
        elif kind == "include":
            at = draw(st.sampled_from([0, max(text.find("long counter"), 0), len(text)]))
            text = text[:at] + draw(st.sampled_from(INCLUDES)) + "\n" + text[at:]
        elif kind == "tokens":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + " ".join(draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6))) + text[at:]
        elif kind == "huge":
            text = text.replace("3", draw(st.sampled_from(HUGE)), 1)
        elif kind == "cut":  # a truncated file
            text = text[:draw(st.integers(0, len(text)))]
        else:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)) + text[at:]
    return text


C_TOML = ('name = "cfuzz"\nstep_limit = 3000\n[machines.host]\ncores = 2\nsources = ["prog.c"]\n'
          '[[threads]]\nname = "t0"\nentry = "worker"\n[[threads]]\nname = "t1"\nentry = "worker"\n')


def run_c_once(source: str) -> None:
    run_scenario({"scenario.toml": C_TOML, "prog.c": source}, located=True)


def test_the_c_base_program_runs():
    """The fuzzer's starting point is a valid program (so mutations test the error paths, not a
    program that never worked)."""
    with tempfile.TemporaryDirectory(prefix="revtrace-cfuzz-") as tmp:
        (Path(tmp) / "scenario.toml").write_text(C_TOML)
        (Path(tmp) / "prog.c").write_text(C_BASE)
        res = CliRunner().invoke(app, ["run", tmp, "--step-limit", "3000"])
        assert res.exit_code == 0 and "completed" in res.output, res.output


@pytest.mark.parametrize("statement", STATEMENTS)
def test_every_odd_c_statement(statement):
    run_c_once(C_BASE.replace("cond_resched();", "cond_resched();\n\t\t" + statement, 1))


@pytest.mark.parametrize("directive", INCLUDES)
def test_every_odd_c_directive(directive):
    run_c_once(directive + "\n" + C_BASE)


@FAST
@given(c_sources())
def test_fuzz_c_sources(source):
    run_c_once(source)


@pytest.mark.slow
@FULL
@given(c_sources())
def test_fuzz_c_sources_full(source):
    run_c_once(source)


def run_c_refused(source: str) -> str:
    with tempfile.TemporaryDirectory(prefix="revtrace-cfuzz-") as tmp:
        (Path(tmp) / "scenario.toml").write_text(C_TOML)
        (Path(tmp) / "prog.c").write_text(source)
        return refusal(CliRunner().invoke(app, ["run", tmp, "--step-limit", "3000"]))


@pytest.mark.parametrize("source, expected", [
    # what the fuzzer found: each was a traceback (or a line without a place) before
    ("#if\n" + C_BASE, "prog.c:1:2: preprocessor: malformed #if directive"),
    ("long x;\n#undef\n" + C_BASE, "prog.c:2:2: preprocessor: malformed #undef directive"),
    ('#include "prog.c"\n' + C_BASE, "prog.c:1:2: preprocessor: #include nested too deeply"),
    ("long x = " + "(" * 400 + "1" + ")" * 400 + ";\n" + C_BASE, "prog.c:1:"),
    (C_BASE[:C_BASE.index("static long helper") + 20], "prog.c:9:21: syntax error"),  # where the text ends
])
def test_c_found_by_fuzzing(source, expected):
    line = run_c_refused(source)
    assert expected in line, line
