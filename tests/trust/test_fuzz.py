"""Fuzzing scenario TOML and assembly: every input gives a clean run or one line and exit 2, never
a traceback, never a hang (a step limit and small programs bound every run). A bounded number of
examples by default; many more with `-m slow`."""

from __future__ import annotations

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


def run_once(toml: str, program: str) -> None:
    with tempfile.TemporaryDirectory(prefix="revtrace-fuzz-") as tmp:
        folder = Path(tmp)
        (folder / "scenario.toml").write_text(toml)
        (folder / "prog.s").write_text(program)
        res = CliRunner().invoke(app, ["run", str(folder), "--step-limit", "3000"])
        assert "Traceback" not in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        if res.exit_code == 2:
            refusal(res)
        else:
            assert res.exit_code == 0, (res.exit_code, res.output)


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
