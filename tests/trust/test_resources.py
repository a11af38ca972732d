"""Bounded resources: a per-thread stack limit (16 KiB: "stack overflow" with the call chain),
program loading in chunks (compile time linear in size: bench/bench_load.py measures it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim import compiler
from sim.isa import KERNEL_STACK_BYTES, STACK_WORDS, WORD_BYTES
from sim.scenario import RunOptions, load_scenario
from sim.system import System

TOML = 'name = "deep"\n[machines.host]\ncores = 1\nsources = ["prog.s"]\n[[threads]]\nname = "t0"\nentry = "worker"\n'


def scenario(tmp_path: Path, source: str) -> Path:
    (tmp_path / "prog.s").write_text(source)
    (tmp_path / "scenario.toml").write_text(TOML)
    return tmp_path


def test_the_stack_limit_is_one_named_figure():
    assert KERNEL_STACK_BYTES == 16 * 1024 and STACK_WORDS * WORD_BYTES == KERNEL_STACK_BYTES


def test_unbounded_recursion_panics_with_the_call_chain(tmp_path):
    sc = load_scenario(scenario(tmp_path, "worker:\n    call recurse\n    halt\nrecurse:\n"
                                          "    call recurse\n    ret\n"))
    s = System(sc, RunOptions())
    out = s.run()
    assert out.outcome == "panic"
    msg = out.panic.message
    assert msg.startswith("stack overflow (16 KiB): worker -> recurse -> recurse -> ... ")
    assert msg.endswith("frames ... -> recurse -> recurse -> recurse") and out.panic.function == "recurse"
    assert len(s.threads[0].calls) == STACK_WORDS  # bounded: memory and checkpoints with it


def test_pushes_count_against_the_same_stack(tmp_path):
    sc = load_scenario(scenario(tmp_path, "worker:\n.loop:\n    push r1\n    jmp .loop\n"))
    out = System(sc, RunOptions()).run()
    assert out.outcome == "panic" and out.panic.message.startswith("stack overflow")


def test_a_stack_just_below_the_limit_is_fine(tmp_path):
    depth = STACK_WORDS - 1
    src = (f"worker:\n    mov r1, {depth}\n    call down\n    halt\n"
           "down:\n    sub r1, 1\n    jz r1, .out\n    call down\n.out:\n    ret\n")
    out = System(load_scenario(scenario(tmp_path, src)), RunOptions()).run()
    assert out.outcome == "completed"


def test_code_is_compiled_in_chunks_on_first_execution(tmp_path, monkeypatch):
    """Building a System compiles nothing; a chunk compiles when one of its instructions first
    runs, once (a jump across chunk boundaries, a call into another chunk); code that never runs
    is never compiled; the program computes the same either way."""
    monkeypatch.setattr(compiler, "CHUNK", 4)
    body = "".join("    add r2, 1\n" for _ in range(9))
    unused = "".join("    add r3, 1\n" for _ in range(40))
    src = (".word out, 0\nworker:\n    mov r2, 0\n    call f\n" + body + "    st [out], r2\n    halt\n"
           "f:\n" + body + "    ret\nnever:\n" + unused + "    ret\n")
    sc = load_scenario(scenario(tmp_path, src))
    compiler._factories.clear()
    before = compiler.compiled_chunks
    s = System(sc, RunOptions())
    assert compiler.compiled_chunks == before  # loading compiles nothing
    assert s.run().outcome == "completed" and s.read_symbol("out") == 18
    code = s.image.machines["host"].code
    used = -(-(code.index(next(i for i in code if i.op == "ret")) + 1) // 4)  # chunks up to f's ret
    assert compiler.compiled_chunks - before == used < -(-len(code) // 4)
    again = System(sc, RunOptions())  # a second System of the same program: from the cache
    assert again.run().outcome == "completed" and again.read_symbol("out") == 18
    assert compiler.compiled_chunks - before == used


def test_chunk_size_does_not_change_a_recording(tmp_path, monkeypatch):
    """Determinism whatever the chunking: byte-identical events with 3-instruction chunks and the
    default ones (a TSO run of the C NFS model, observed as rows)."""
    from tracer.record_session import record

    parts = []
    for chunk in (3, compiler.CHUNK):
        monkeypatch.setattr(compiler, "CHUNK", chunk)
        compiler._factories.clear()
        out = tmp_path / f"run{chunk}"
        record("nfs_vmxmon", out, options=RunOptions(cores=2, seed=5, memory_model="tso", step_limit=20000),
               background=False)
        parts.append(b"".join(p.read_bytes() for p in sorted((out / "events").glob("part-*.arrows"))))
    assert parts[0] == parts[1] and len(parts[0]) > 1000


def _all_scenarios() -> list[Path]:
    data = Path(__file__).resolve().parents[2] / "data" / "scenarios"
    return sorted(p.parent for p in data.rglob("scenario.toml"))


@pytest.mark.parametrize("folder", _all_scenarios(), ids=lambda p: p.name)
def test_fast_lines_assemble_as_the_general_path_does(folder, monkeypatch):
    """sim/asm/line_forms reads the common lines with one regular expression and encodes each
    operand text once: every bundled scenario (assembly, the kernel.inc macros, C) assembles to the
    same image, Sites and all, as when every line goes through the general tokenizing path."""
    from sim import assembler
    from sim.scenario import assemble_scenario, validate_options

    sc = load_scenario(folder)
    options = validate_options(sc, RunOptions())
    fast = assemble_scenario(sc, options)
    monkeypatch.setattr(assembler, "FAST_LINE", re.compile(r"(?!)"))  # matches nothing
    general = assemble_scenario(sc, options)
    assert fast.machines == general.machines
    assert fast.sites == general.sites and fast.symbols == general.symbols
    assert (fast.constants, fast.bits, fast.memory_words) == (general.constants, general.bits, general.memory_words)


BAD_LINES = ["    jmp nowhere", "    beq r1, 3, .nolabel", "    add r1, undefined_name", "    ld r1, [r99]",
             "    ld r1, [w + nope]", "    st [w], 1, 2", "    add r1", "    mov 5, r1", "    jz r1, w",
             "    ld r1, [lock + 99999999999999999999]", "    mov r1, 0x1ffffffffffffffff", "    call worker.nope",
             ".x: .x:", "worker:", "    send nope, 1", "    mov r1, -r1", "    xor r1, r2, r3, r4"]


@pytest.mark.parametrize("line", BAD_LINES)
def test_fast_and_general_paths_report_the_same_error(tmp_path, line, monkeypatch):
    """An error in a line the fast path takes is the general path's message, at the same
    file:line:col, and it is reported at load, even in code that would never run."""
    from sim import assembler
    from sim.errors import AsmError

    src = f".word w, 0\n.word lock, 0\nworker:\n    halt\nnever:\n.top:\n{line}\n    ret\n"
    sc = load_scenario(scenario(tmp_path, src))
    messages = []
    for general in (False, True):
        if general:
            monkeypatch.setattr(assembler, "FAST_LINE", re.compile(r"(?!)"))
        with pytest.raises(AsmError) as e:
            System(sc, RunOptions())
        messages.append(str(e.value))
    assert messages[0] == messages[1] and "prog.s:7:" in messages[0], messages
