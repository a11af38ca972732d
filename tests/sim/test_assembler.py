"""Tests of sim.assembler: the language, the Image it builds, and its error messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.assembler import assemble, assemble_text, split_args
from sim.errors import AsmError
from sim.isa import MASK64, MAX_PAYLOAD, OPS, REG_ALIASES, Imm, Label, Mem, Port, Reg, Str
from sim.lexer import tokenize

KERNEL_LIB = Path(__file__).resolve().parents[2] / "data" / "lib"
PORTS = {"net": 2, "reply": 3}
PREDEFINED = {"worker": 1, "N": 4}


def asm(text: str, **kwargs):
    kwargs.setdefault("ports", PORTS)
    kwargs.setdefault("predefined", PREDEFINED)
    return assemble_text(textwrap.dedent(text), filename="t.s", **kwargs)


def code(text: str, **kwargs):
    return asm(text, **kwargs).machines["m0"].code


def error(text: str, **kwargs) -> str:
    with pytest.raises(AsmError) as info:
        asm(text, **kwargs)
    return str(info.value)


def value(expr: str, prelude: str = "") -> int:
    """The immediate that `expr` assembles to."""
    (ins,) = code(f"{prelude}\nf:\n    mov r1, {expr}\n")
    assert isinstance(ins.args[1], Imm)
    return ins.args[1].value


# ---------------------------------------------------------------------------------------------
# Every mnemonic and operand form

# One valid operand per signature letter, and what it must decode to (`counter` is at 0x100).
SAMPLE = {
    "R": ("r3", Reg(3)),
    "V": ("7", Imm(7)),
    "M": ("[counter]", Mem(None, 0x100)),
    "L": ("f", Label(0, "f")),
    "P": ("net", Port(2, "net")),
    "S": ('"msg"', Str("msg")),
}


def _fixed_letters(signature: str) -> str:
    return signature[:-2] if signature.endswith("*") else signature


def test_signature_letters_are_all_known():
    for spec in OPS.values():
        assert set(spec.signature) <= set(SAMPLE) | {"*"}, spec.name


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_mnemonic_parses(op):
    letters = _fixed_letters(OPS[op].signature)
    operands = ", ".join(SAMPLE[c][0] for c in letters)
    (ins,) = code(f".word counter, 0\nf:\n    {op} {operands}\n")
    assert ins.op == op
    assert ins.args == tuple(SAMPLE[c][1] for c in letters)
    assert ins.site == 0


@pytest.mark.parametrize("op", sorted(o for o, s in OPS.items() if s.signature.endswith("*")))
def test_repeated_operands(op):
    sig = OPS[op].signature
    fixed, letter = sig[:-2], sig[-2]
    for extra in range(MAX_PAYLOAD + 1):
        operands = [SAMPLE[c][0] for c in fixed] + [SAMPLE[letter][0]] * extra
        (ins,) = code(f".word counter\nf:\n    {op} {', '.join(operands)}\n")
        assert ins.args == tuple(SAMPLE[c][1] for c in fixed) + (SAMPLE[letter][1],) * extra
    too_many = ", ".join([SAMPLE[c][0] for c in fixed] + [SAMPLE[letter][0]] * (MAX_PAYLOAD + 1))
    message = error(f".word counter\nf:\n    {op} {too_many}\n")
    assert message == (f"t.s:3:5: expected {len(fixed)} to {len(fixed) + MAX_PAYLOAD} operands "
                       f"({', '.join(fixed)}, {letter}...) for {op}, got {len(fixed) + MAX_PAYLOAD + 1}")


@pytest.mark.parametrize("op", sorted(o for o, s in OPS.items() if s.two_operand_form))
def test_two_operand_form(op):
    short, full = code(f"f:\n    {op} r4, 5\n    {op} r4, r4, 5\n")
    assert short.op == full.op == op
    assert short.args == full.args == (Reg(4), Reg(4), Imm(5))


def test_registers_and_aliases():
    (a, b, c) = code("f:\n    mov r0, r15\n    mov at, sp\n    push r9\n")
    assert a.args == (Reg(0), Reg(15))
    assert b.args == (Reg(REG_ALIASES["at"]), Reg(REG_ALIASES["sp"]))
    assert c.args == (Reg(9),)


def test_value_operands():
    ins = code("f:\n    mov r1, r2\n    mov r1, -1\n    mov r1, worker\n    mov r1, net\n    wake worker\n")
    assert [i.args[-1] for i in ins] == [Reg(2), Imm(MASK64), Imm(1), Imm(2), Imm(1)]


def test_memory_operand_forms():
    src = """\
        .word x
        .array buf, 4
        f:
            ld r1, [x]
            ld r1, [r2]
            ld r1, [r2 + 8]
            ld r1, [r2 - 8]
            ld r1, [buf + r3]
            ld r1, [buf[2]]
            ld r1, [r2 + buf[1] * 2]
            ld r1, [r2 - 4 + 2]
            ld r1, [(x + 1) * 2]
            st [sp + 1], 7
        """
    mems = [i.args[1] if i.op == "ld" else i.args[0] for i in code(src)]
    assert mems == [
        Mem(None, 0x100),
        Mem(2, 0),
        Mem(2, 8),
        Mem(2, -8 & MASK64),
        Mem(3, 0x101),
        Mem(None, 0x103),
        Mem(2, 0x102 * 2),
        Mem(2, -2 & MASK64),
        Mem(None, 0x202),
        Mem(15, 1),
    ]


def test_string_operands():
    (a, b) = code('f:\n    bug "say \\"hi\\"\\\\ \\n; not a comment"\n    bug_on r1, "x // y"  // comment\n')
    assert a.args == (Str('say "hi"\\ \n; not a comment'),)
    assert b.args == (Reg(1), Str("x // y"))


def test_ports_and_labels():
    (a, b) = code("f:\n    recv reply, r1, r2\n    jmp f\n")
    assert a.args == (Port(3, "reply"), Reg(1), Reg(2))
    assert b.args == (Label(0, "f"),)


# ---------------------------------------------------------------------------------------------
# Expressions


@pytest.mark.parametrize("expr, expected", [
    ("42", 42),
    ("0x2A", 42),
    ("0b101010", 42),
    ("007", 7),
    ("'A'", 65),
    ("'\\n'", 10),
    ("';'", 59),
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 2 - 3", 5),
    ("100 / 10 / 5", 2),
    ("7 % 4", 3),
    ("1 << 2 + 1", 8),  # + binds tighter than <<
    ("1 + 2 << 1", 6),
    ("6 & 3 | 8", 10),  # & binds tighter than |
    ("1 | 2 ^ 3", 1),  # ^ binds tighter than |
    ("12 & 10 ^ 6", 14),  # & binds tighter than ^
    ("0xf0 >> 4 & 3", 3),  # >> binds tighter than &
    ("-1", MASK64),
    ("--1", 1),
    ("~0", MASK64),
    ("~1 & 0xff", 0xFE),
    ("-2 * 3", -6 & MASK64),
    ("0 - 1 >> 60", 15),
    ("-8 / 2", (-8 & MASK64) // 2),  # unsigned division
    ("0xffffffffffffffff + 2", 1),  # wraps
    ("1 << 63", 1 << 63),
    ("1 << 64", 0),
    ("1 << 0xffffffffffff", 0),
    ("5 >> 64", 0),
    ("+3", 3),
    ("N * 2 + worker", 9),
    ("A + B", 11),
    ("PG_dirty", 3),
])
def test_expressions(expr, expected):
    assert value(expr, ".equ A, 5\n.equ B, A + 1\n.bit PG_dirty, 3") == expected


def test_symbol_addresses_in_expressions():
    prelude = """
        .struct page
            .field flags
            .field index
            .field data, 4
        .ends
        .word counter
        .object page0, page
        .array server_data, 8
        """
    assert value("counter", prelude) == 0x100
    assert value("page0", prelude) == 0x101
    assert value("page0.flags", prelude) == 0x101
    assert value("page0.index", prelude) == 0x102
    assert value("page0.data", prelude) == 0x103
    assert value("page0.data[2]", prelude) == 0x105
    assert value("page0.data[N - 1]", prelude) == 0x106
    assert value("server_data", prelude) == 0x107
    assert value("server_data[7] - server_data", prelude) == 7


# ---------------------------------------------------------------------------------------------
# Data


DATA = """\
    .bit PG_uptodate, 1
    .struct page
        .field flags
        .field index
        .field data, 4        ; an array field
    .ends
    .object page0, page
    .object page1, page, flags=(1<<PG_uptodate), index=1, data=7
    .word counter, 0
    .word limit, 10
    .array server_data, 8, 0
    .array ones, 2, 1
    f:
        ld r1, [page1.data[3]]
    """


def test_symbols_and_layout():
    img = asm(DATA)
    names = [s.name for s in img.symbols]
    assert names == (
        ["page0.flags", "page0.index"] + [f"page0.data[{i}]" for i in range(4)]
        + ["page1.flags", "page1.index"] + [f"page1.data[{i}]" for i in range(4)]
        + ["counter", "limit"] + [f"server_data[{i}]" for i in range(8)] + ["ones[0]", "ones[1]"])
    assert [s.addr for s in img.symbols] == list(range(0x100, 0x100 + len(names)))
    assert all(s.size == 1 and s.machine == "m0" for s in img.symbols)
    assert img.memory_words == 0x100 + len(names)
    sym = img.symbol("page1.data[2]")
    assert (sym.object, sym.field) == ("page1", "data[2]")
    assert (img.symbol("page0.flags").object, img.symbol("page0.flags").field) == ("page0", "flags")
    assert (img.symbol("counter").object, img.symbol("counter").field) == ("counter", "")
    assert (img.symbol("server_data[3]").object, img.symbol("server_data[3]").field) == ("server_data", "[3]")
    assert img.symbol_at(img.symbol("page1.index").addr).name == "page1.index"
    assert img.machines["m0"].code[0].args[1] == Mem(None, img.symbol("page1.data[3]").addr)


def test_initial_values():
    img = asm(DATA)
    initial = img.machines["m0"].initial
    addr = {s.name: s.addr for s in img.symbols}
    values = {name: initial.get(a, 0) for name, a in addr.items()}
    assert values["page1.flags"] == 2
    assert values["page1.index"] == 1
    assert [values[f"page1.data[{i}]"] for i in range(4)] == [7, 7, 7, 7]
    assert values["limit"] == 10
    assert values["ones[0]"] == values["ones[1]"] == 1
    assert all(values[n] == 0 for n in ("page0.flags", "counter", "server_data[0]"))
    assert all(v != 0 for v in initial.values())


def test_data_base_and_empty_image():
    img = asm(".word w\n", data_base=0x1000)
    assert img.symbols[0].addr == 0x1000 and img.memory_words == 0x1001
    empty = asm("")
    assert empty.memory_words == 0x100 and empty.symbols == [] and empty.machines["m0"].code == []


def test_initializers_may_refer_forward_and_data_may_sit_inside_functions():
    img = asm("""\
        .word head, node0      ; a pointer to an object declared later
        f:
            ld r1, [head]
        .word node0, -1
            ret
        """)
    initial = img.machines["m0"].initial
    assert initial[img.symbol("head").addr] == img.symbol("node0").addr
    assert initial[img.symbol("node0").addr] == MASK64
    assert [i.op for i in img.machines["m0"].code] == ["ld", "ret"]


def test_single_element_array_field_is_still_an_array():
    img = asm(".struct s\n.field a, 1\n.ends\n.object o, s\n")
    assert [s.name for s in img.symbols] == ["o.a[0]"]


def test_constants_and_bits_in_image():
    img = asm(".equ SIZE, 4 * 8\n.bit PG_locked, 0\n.bit PG_dirty, 4\n")
    assert img.bits == {"PG_locked": 0, "PG_dirty": 4}
    assert img.constants == {"worker": 1, "N": 4, "SIZE": 32, "PG_locked": 0, "PG_dirty": 4}


# ---------------------------------------------------------------------------------------------
# Labels and sites


def test_labels_local_and_forward():
    img = asm("""\
        first:
            jmp .retry          ; a forward reference to this function's .retry
        .retry:
            jmp second
        second: nop
        .retry:                 ; the same local name in another function
            jnz r1, .retry
            call first.retry    ; a qualified local label
        tail:
        """)
    m = img.machines["m0"]
    assert m.labels == {"first": 0, "second": 2, "tail": 5}
    assert m.code[0].args == (Label(1, "first.retry"),)
    assert m.code[1].args == (Label(2, "second"),)
    assert m.code[2].args == ()
    assert m.code[3].args == (Reg(1), Label(3, "second.retry"))
    assert m.code[4].args == (Label(1, "first.retry"),)


def test_sites():
    img = asm("""\
        ; header comment
        main:   mov r1, 1   ; set up
        .loop:
        \tsub r1, 1 // tab before the mnemonic
            jnz r1, .loop
        helper:
        .entry: ret
        """)
    sites = img.sites
    assert [(s.machine, s.pc, s.file, s.line, s.col) for s in sites] == [
        ("m0", 0, "t.s", 2, 9), ("m0", 1, "t.s", 4, 2), ("m0", 2, "t.s", 5, 5), ("m0", 3, "t.s", 7, 9)]
    assert [s.function for s in sites] == ["main", "main", "main", "helper"]
    assert [s.label for s in sites] == ["main", "main.loop", "", "helper"]
    assert [s.text for s in sites] == ["main:   mov r1, 1", "sub r1, 1", "jnz r1, .loop", ".entry: ret"]
    assert [i.site for i in img.machines["m0"].code] == [0, 1, 2, 3]


def test_local_label_site_when_no_global_label_at_pc():
    img = asm("f:\n    nop\n.a:\n.b:\n    nop\n")
    assert img.sites[1].label == "f.a"


# ---------------------------------------------------------------------------------------------
# Macros


def test_macro_expansion_and_sites():
    img = asm("""\
        .macro lock_page addr
        .Llp\\@:
            test_and_set_bit_lock at, 0, \\addr
            jz at, .Llpdone\\@
            yield
            jmp .Llp\\@
        .Llpdone\\@:
        .endm
        .word flags
        f:
            lock_page [flags]   ; first
        .again:
            lock_page [flags]
            ret
        """)
    m = img.machines["m0"]
    assert [i.op for i in m.code] == ["test_and_set_bit_lock", "jz", "yield", "jmp"] * 2 + ["ret"]
    first, second = m.code[0:4], m.code[4:8]
    assert first[1].args[1].pc == 4 and first[3].args[0].pc == 0
    assert second[1].args[1].pc == 8 and second[3].args[0].pc == 4
    assert first[1].args[1].name != second[1].args[1].name  # \@ is unique per expansion
    assert first[1].args[1].name.startswith("f.Llpdone")
    sites = img.sites
    assert {(s.line, s.col, s.text, s.function) for s in sites[0:4]} == {(11, 5, "lock_page [flags]", "f")}
    assert {(s.line, s.text) for s in sites[4:8]} == {(13, "lock_page [flags]")}
    # the user's label wins over the macro's internal one at the same pc
    assert [s.label for s in sites[:8]] == ["f", "", "", "", "f.again", "", "", ""]
    assert sites[8].label == second[1].args[1].name  # a macro's label where nothing else is
    assert m.labels == {"f": 0}


def test_macro_arguments_with_brackets_commas_and_strings():
    (a, b, c) = code("""\
        .macro store2 mem, v, msg
            st \\mem, \\v
            ld r1, \\mem
            bug \\msg
        .endm
        .array buf, 4
        f:
            store2 [buf[1] + r2], (1 << 2) | 1, "a, [b]"
        """)
    assert a.args == (Mem(2, 0x101), Imm(5))
    assert b.args == (Reg(1), Mem(2, 0x101))
    assert c.args == (Str("a, [b]"),)


def test_split_args_ignores_nested_commas():
    line = 'm [a, b], (c, d), "e, f", g'
    args = split_args(line, tokenize(line)[1:])
    assert [a.text for a in args] == ["[a, b]", "(c, d)", '"e, f"', "g"]
    assert [a.col for a in args] == [3, 11, 19, 27]


def test_nested_macros_separator_and_blank_separated_params():
    img = asm("""\
        .macro inner reg val
            mov \\reg, \\val
        .endm
        .macro outer r
            inner \\r, 1
        .Ldone_\\r\\()_x:
            inner \\r, 2
        .endm
        f:
            outer r5
        """)
    m = img.machines["m0"]
    assert [i.args for i in m.code] == [(Reg(5), Imm(1)), (Reg(5), Imm(2))]
    assert img.sites[1].label == "f.Ldone_r5_x"
    assert {(s.line, s.col) for s in img.sites} == {(10, 5)}


def test_macro_without_parameters_and_macro_declaring_data():
    img = asm(".macro decl name\n.word \\name\n.endm\n.macro relax\n    yield\n.endm\n"
              "f:\n    relax\n    decl w\n    relax\n")
    assert [i.op for i in img.machines["m0"].code] == ["yield", "yield"]
    assert img.symbol("w").addr == 0x100


def test_macro_backslash_escapes_in_strings_are_kept():
    (ins,) = code('.macro say n\n    bug "\\n:\\n\\t"\n.endm\nf:\n    say 7\n')
    assert ins.args == (Str("7:7\t"),)  # \n is the parameter here; \t stays an escape


# ---------------------------------------------------------------------------------------------
# kernel.inc


def test_kernel_inc_assembles_and_expands():
    img = asm("""\
        .include "kernel.inc"
        .struct page
            .field flags
        .ends
        .object page0, page
        f:
            __set_bit PG_dirty, [page0.flags]
            __clear_bit PG_writeback, [page0.flags]
            test_bit r1, PG_uptodate, [page0.flags]
            lock_page [page0.flags]
            trylock_page r2, [page0.flags]
            unlock_page [page0.flags]
            cond_resched
            smp_mb
            cpu_relax
            READ_ONCE r3, [page0.flags]
            WRITE_ONCE [page0.flags], r3
            ret
        """, lib_dirs=[KERNEL_LIB])
    for bit in ("PG_locked", "PG_dirty", "PG_writeback", "PG_private", "PG_uptodate"):
        assert bit in img.bits
    assert img.bits["PG_locked"] == 0 and img.bits["PG_uptodate"] == 1
    assert len(set(img.bits.values())) == len(img.bits)
    flags = Mem(None, img.symbol("page0.flags").addr)
    at = Reg(REG_ALIASES["at"])
    dirty, wb, up = img.bits["PG_dirty"], img.bits["PG_writeback"], img.bits["PG_uptodate"]
    got = [(i.op, i.args) for i in img.machines["m0"].code]
    assert got[0:3] == [("ld", (at, flags)), ("or", (at, at, Imm(1 << dirty))), ("st", (flags, at))]
    assert got[3:6] == [("ld", (at, flags)), ("and", (at, at, Imm(~(1 << wb) & MASK64))), ("st", (flags, at))]
    assert got[6:9] == [("ld", (Reg(1), flags)), ("shr", (Reg(1), Reg(1), Imm(up))),
                        ("and", (Reg(1), Reg(1), Imm(1)))]
    assert [op for op, _ in got[9:13]] == ["test_and_set_bit_lock", "jz", "msleep", "jmp"]
    assert got[9][1] == (at, Imm(0), flags)
    assert got[10][1][1].pc == 13 and got[12][1][0].pc == 9
    assert got[13:15] == [("test_and_set_bit_lock", (Reg(2), Imm(0), flags)),
                          ("xor", (Reg(2), Reg(2), Imm(1)))]
    assert got[15:] == [("clear_bit_unlock", (Imm(0), flags)), ("yield", ()), ("fence", ()), ("pause", ()),
                        ("ld", (Reg(3), flags)), ("st", (flags, Reg(3))), ("ret", ())]
    assert str(KERNEL_LIB / "kernel.inc") in img.sources


def test_kernel_inc_shared_by_two_machines(tmp_path):
    (tmp_path / "a.s").write_text('.include "kernel.inc"\n.word wa\nfa:\n    lock_page [wa]\n')
    (tmp_path / "b.s").write_text('.include "kernel.inc"\n.word wb\nfb:\n    unlock_page [wb]\n')
    img = assemble({"a": [tmp_path / "a.s"], "b": [tmp_path / "b.s"]}, lib_dirs=[KERNEL_LIB],
                   base_dir=tmp_path)
    assert [i.op for i in img.machines["b"].code] == ["clear_bit_unlock"]


# ---------------------------------------------------------------------------------------------
# Files: .include, lib_dirs, substitutions, multiple machines


def test_include_relative_lib_dirs_and_once(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "src" / "defs.inc").write_text(".equ A, 1\n")
    (tmp_path / "lib" / "shared.inc").write_text(
        '.include "defs2.inc"\n.include "../src/defs.inc"  ; already included: a no-op\n.equ B, A + 1\n')
    (tmp_path / "lib" / "defs2.inc").write_text(".equ C, 3\n")
    (tmp_path / "src" / "main.s").write_text(
        '.include "defs.inc"\n.include "shared.inc"\n.include "defs.inc"\nf:\n    mov r1, A + B + C\n')
    img = assemble({"m": [tmp_path / "src" / "main.s"]}, lib_dirs=[tmp_path / "lib"], base_dir=tmp_path)
    assert img.machines["m"].code[0].args[1] == Imm(6)
    assert set(img.sources) == {"src/main.s", "src/defs.inc", "lib/shared.inc", "lib/defs2.inc"}
    assert img.sources["lib/defs2.inc"] == ".equ C, 3\n"
    assert img.sites[0].file == "src/main.s"


def test_display_paths_of_a_library_next_to_the_scenarios(tmp_path):
    (tmp_path / "scenarios" / "nfs").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "k.inc").write_text("helper:\n    ret\n")
    (tmp_path / "scenarios" / "nfs" / "main.s").write_text('.include "k.inc"\n')
    img = assemble({"m": [tmp_path / "scenarios" / "nfs" / "main.s"]}, lib_dirs=[tmp_path / "lib"],
                   base_dir=tmp_path / "scenarios" / "nfs")
    assert set(img.sources) == {"main.s", "../../lib/k.inc"}
    assert img.sites[0].file == "../../lib/k.inc"


def test_include_sites_point_into_the_included_file(tmp_path):
    (tmp_path / "fn.inc").write_text("helper:\n    ret\n")
    (tmp_path / "main.s").write_text('main:\n    call helper\n.include "fn.inc"\n')
    img = assemble({"m": [tmp_path / "main.s"]}, base_dir=tmp_path)
    assert [(s.file, s.line, s.function) for s in img.sites] == [
        ("main.s", 2, "main"), ("fn.inc", 2, "helper")]


def test_include_cycle(tmp_path):
    (tmp_path / "a.inc").write_text('.include "b.inc"\n')
    (tmp_path / "self.inc").write_text('.include "self.inc"\n')
    (tmp_path / "b.inc").write_text('; b\n.include "a.inc"\n')
    (tmp_path / "main.s").write_text('.include "a.inc"\n')
    with pytest.raises(AsmError) as info:
        assemble({"m": [tmp_path / "main.s"]}, base_dir=tmp_path)
    assert str(info.value) == "b.inc:2:10: include cycle: a.inc -> b.inc -> a.inc"
    with pytest.raises(AsmError) as info:
        assemble({"m": [tmp_path / "self.inc"]}, base_dir=tmp_path)
    assert str(info.value) == "self.inc:1:10: include cycle: self.inc -> self.inc"


def test_include_not_found(tmp_path):
    (tmp_path / "main.s").write_text('\n  .include "nope.inc"\n')
    with pytest.raises(AsmError) as info:
        assemble({"m": [tmp_path / "main.s"]}, lib_dirs=[tmp_path / "lib"], base_dir=tmp_path)
    assert str(info.value) == "main.s:2:12: cannot find include file 'nope.inc' (looked in '.', 'lib')"


def test_missing_source_file(tmp_path):
    with pytest.raises(AsmError) as info:
        assemble({"m": [tmp_path / "gone.s"]}, base_dir=tmp_path)
    assert str(info.value) == "gone.s: cannot read 'gone.s': No such file or directory"


def test_substitutions(tmp_path):
    (tmp_path / "v2").mkdir()
    (tmp_path / "defs.inc").write_text(".equ K, 1\n")
    (tmp_path / "v2" / "defs.inc").write_text(".equ K, 2\n")
    (tmp_path / "nfs.s").write_text('.include "defs.inc"\nf:\n    mov r1, K\n')
    (tmp_path / "v2" / "nfs.s").write_text('.include "defs.inc"\n\nf:\n    mov r2, K\n')
    (tmp_path / "v3.s").write_text('.include "defs.inc"   ; found next to the original nfs.s\ng:\n    nop\n')
    base = assemble({"m": [tmp_path / "nfs.s"]}, base_dir=tmp_path)
    assert base.machines["m"].code[0].args == (Reg(1), Imm(1))
    # the source file replaced: its sites show the replacement's path
    def variant(subs):
        return assemble({"m": [tmp_path / "nfs.s"]}, base_dir=tmp_path, substitutions=subs)

    v2 = variant({"nfs.s": tmp_path / "v2" / "nfs.s"})
    assert v2.machines["m"].code[0].args == (Reg(2), Imm(2))  # v2/defs.inc sits next to v2/nfs.s
    assert (v2.sites[0].file, v2.sites[0].line) == ("v2/nfs.s", 4)
    assert set(v2.sources) == {"v2/nfs.s", "v2/defs.inc"}
    # an include replaced
    inc = variant({"defs.inc": tmp_path / "v2" / "defs.inc"})
    assert inc.machines["m"].code[0].args == (Reg(1), Imm(2))
    # a replacement elsewhere still finds the original's includes
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "v3.s").write_text((tmp_path / "v3.s").read_text())
    v3 = variant({"nfs.s": tmp_path / "other" / "v3.s"})
    assert v3.sites[0].file == "other/v3.s" and v3.machines["m"].labels == {"g": 0}


def test_multi_machine_layout(tmp_path):
    (tmp_path / "common.inc").write_text(
        ".equ K, 3\n.bit FLAG, 1\n.struct node\n.field next\n.field val\n.ends\n"
        ".macro get r, o\n    ld \\r, [\\o.val]\n.endm\n")
    (tmp_path / "client.s").write_text(
        '.include "common.inc"\n.object n0, node, val=K\n.word cw, 5\nmain:\n    get r1, n0\n    halt\n')
    (tmp_path / "server.s").write_text(
        '.include "common.inc"\n.array sbuf, 2, 9\n.object n1, node, next=n1\nsrv:\n    get r2, n1\n')
    img = assemble({"client": [tmp_path / "client.s"], "server": [tmp_path / "server.s"]}, base_dir=tmp_path)
    assert [(s.name, s.addr, s.machine) for s in img.symbols] == [
        ("n0.next", 0x100, "client"), ("n0.val", 0x101, "client"), ("cw", 0x102, "client"),
        ("sbuf[0]", 0x103, "server"), ("sbuf[1]", 0x104, "server"),
        ("n1.next", 0x105, "server"), ("n1.val", 0x106, "server")]
    assert img.memory_words == 0x107
    assert img.machines["client"].initial == {0x101: 3, 0x102: 5}
    assert img.machines["server"].initial == {0x103: 9, 0x104: 9, 0x105: 0x105}
    assert [(s.machine, s.pc) for s in img.sites] == [("client", 0), ("client", 1), ("server", 0)]
    assert [i.site for i in img.machines["server"].code] == [2]
    assert img.machines["server"].code[0].args == (Reg(2), Mem(None, 0x106))
    assert img.constants["K"] == 3 and img.bits == {"FLAG": 1}
    assert set(img.sources) == {"common.inc", "client.s", "server.s"}


def test_multi_machine_errors(tmp_path):
    (tmp_path / "shared.inc").write_text(".word shared\n")
    (tmp_path / "a.s").write_text('.include "shared.inc"\n.equ K, 1\nfa: nop\n')
    (tmp_path / "b.s").write_text('.include "shared.inc"\n')
    (tmp_path / "c.s").write_text('.equ K, 2\n')
    (tmp_path / "d.s").write_text('f:\n    ld r1, [shared]\n')

    def fails(*sources):
        with pytest.raises(AsmError) as info:
            assemble({f"m{i}": [tmp_path / s] for i, s in enumerate(sources)}, base_dir=tmp_path)
        return str(info.value)

    assert fails("a.s", "b.s") == (
        "shared.inc:1:7: duplicate name 'shared' (first defined at shared.inc:1 on machine m0)")
    assert fails("a.s", "c.s") == (
        "c.s:1:6: constant 'K' = 2 conflicts with K = 1 on machine m0 (defined at a.s:2)")
    assert fails("a.s", "d.s") == (
        "d.s:2:13: 'shared' is data of machine m0; a machine can only name its own data")


def test_text_source_includes_from_cwd(tmp_path, monkeypatch):
    (tmp_path / "x.inc").write_text(".equ X, 5\n")
    monkeypatch.chdir(tmp_path)
    img = assemble_text('.include "x.inc"\nf: mov r1, X\n', machine="box")
    assert img.machines["box"].code[0].args[1] == Imm(5)
    assert set(img.sources) == {"<input>", "x.inc"}


# ---------------------------------------------------------------------------------------------
# Errors: exact location and message


ERRORS = [
    # structure
    ("nop\n", "t.s:1:1: instruction outside a function (put a global label such as 'main:' before it)"),
    ("f:\nf:\n", "t.s:2:1: duplicate label 'f' (first defined at t.s:1)"),
    ("f:\n.x:\n  nop\n  .x: nop\n", "t.s:4:3: duplicate label '.x' in function f (first defined at t.s:2)"),
    (".x:\n", "t.s:1:1: local label '.x' outside a function (put a global label before it)"),
    ("a.b:\n", "t.s:1:1: invalid label 'a.b' (use letters, digits and '_')"),
    ("f:\n  5\n", "t.s:2:3: expected an instruction, directive or label, got '5'"),
    # mnemonics and operand counts
    ("f:\n  lod r1, [x]\n", "t.s:2:3: unknown instruction or macro 'lod'; did you mean 'ld' or 'mod'?"),
    ("f:\n  xchg r1, [x]\n", "t.s:2:3: expected 3 operands (R, M, V) for xchg, got 2"),
    ("f:\n  add r1\n", "t.s:2:3: expected 3 operands (R, R, V) or 2 (R, V) for add, got 1"),
    ("f:\n  ret r1\n", "t.s:2:3: expected no operands for ret, got 1"),
    ("f:\n  jmp f, f\n", "t.s:2:3: expected 1 operand (L) for jmp, got 2"),
    ("f:\n  mov r1 r2\n", "t.s:2:10: unexpected 'r2' after 'r1' (missing ','?)"),
    ("f:\n  mov r1, , 2\n", "t.s:2:11: missing operand before ','"),
    ("f:\n  mov r1,\n", "t.s:2:9: missing operand after ','"),
    # operand kinds
    ("f:\n  mov 5, r1\n", "t.s:2:7: expected a register, got '5'"),
    ("f:\n  mov r16, 1\n", "t.s:2:7: expected a register, got 'r16'; did you mean 'r6', 'r1' or 'r15'?"),
    ("f:\n  pop r1 + 1\n", "t.s:2:10: unexpected '+' after the register"),
    ("f:\n  ld r1, x\n",
     "t.s:2:10: expected a memory operand in brackets such as [addr] or [r1 + 8], got 'x'"),
    ("f:\n  ld r1, [x\n", "t.s:2:12: missing ']' at the end of the memory operand"),
    ("f:\n  ld r1, [r2] 4\n", "t.s:2:15: unexpected '4' after the memory operand (missing ','?)"),
    ("f:\n  ld r1, []\n", "t.s:2:10: empty memory operand '[]'"),
    ("f:\n  ld r1, [r2 * 2]\n", "t.s:2:14: expected '+' or '-' after the base register, got '*'"),
    ("f:\n  ld r1, [r16]\n",
     "t.s:2:11: unknown constant or symbol 'r16' (the registers are r0..r15, at, sp)"),
    ("f:\n  mov r1, r2 + 1\n", "t.s:2:11: register 'r2' cannot be used inside an expression"),
    ("f:\n  jmp 5\n", "t.s:2:7: expected a label, got '5'"),
    ("nfs_flush:\n  jmp nfs_flsuh\n", "t.s:2:7: unknown label 'nfs_flsuh'; did you mean 'nfs_flush'?"),
    ("f:\n.retry:\n  jmp .rerty\n", "t.s:3:7: unknown label '.rerty'; did you mean '.retry'?"),
    ("f:\n  jmp N\n", "t.s:2:7: unknown label 'N' ('N' is a value, not a code label)"),
    ("f:\n  send nte, 1\n", "t.s:2:8: unknown port 'nte'; did you mean 'net'?"),
    ("f:\n  send 1, 1\n", "t.s:2:8: expected a port name, got '1'"),
    ("f:\n  bug msg\n", "t.s:2:7: expected a string in double quotes, got 'msg'"),
    ("f:\n  bug \"a\" \"b\"\n", "t.s:2:11: unexpected '\"b\"' after the string (missing ','?)"),
    # names and expressions
    (".struct page\n.field flags\n.ends\n.object page0, page\nf:\n  ld r1, [page0.flgas]\n",
     "t.s:6:11: unknown constant or symbol 'page0.flgas'; did you mean 'page0.flags' or 'page0'?"),
    (".macro lock_page m\n.endm\nf:\n  lock_pgae [x]\n",
     "t.s:4:3: unknown instruction or macro 'lock_pgae'; did you mean 'lock_page'?"),
    ("f:\n  mov r1, wroker\n", "t.s:2:11: unknown constant or symbol 'wroker'; did you mean 'worker'?"),
    ("f:\n  mov r1, f\n", "t.s:2:11: 'f' is a code label, not a value"),
    (".struct page\n.field flags\n.field magic\n.ends\n.object p0, page\nf:\n  ld r2, [r1 + magic]\n",
     "t.s:7:16: unknown constant or symbol 'magic'; 'magic' is a field of struct page: its offset is page.magic "
     "(an object's field address is its symbol, e.g. obj.magic)"),
    (".struct page\n.field flags\n.ends\nf:\n  ld r2, [r1 + page.flgs]\n",
     "t.s:5:16: struct page has no field 'flgs'; did you mean 'flags'?"),
    (".struct page\n.field flags\n.ends\nf:\n  mov r1, page.flags[0]\n",
     "t.s:5:11: field 'flags' of struct page is not an array"),
    (".struct page\n.field d, 2\n.ends\nf:\n  mov r1, page.d[2]\n",
     "t.s:5:11: index 2 is out of range for 'page.d' (2 elements)"),
    ("f:\n  mov r1, 1/0\n", "t.s:2:11: division by zero"),
    ("f:\n  mov r1, 2 + 5 % (N - 4)\n", "t.s:2:11: division by zero"),
    ("f:\n  mov r1, (1 + 2\n", "t.s:2:17: missing ')' to match '('"),
    ("f:\n  mov r1, 1 2\n", "t.s:2:13: unexpected '2' after the expression (missing ','?)"),
    ("f:\n  push 1 +\n", "t.s:2:11: expected a value after '+'"),
    ("f:\n  push 1 )\n", "t.s:2:10: unexpected ')' after the expression"),
    ("f:\n  push *\n", "t.s:2:8: expected a value, got '*'"),
    ("f:\n  push N[1]\n", "t.s:2:8: 'N' is a constant, not an array"),
    (".array a, 2\nf:\n  push a[2]\n", "t.s:3:8: index 2 is out of range for 'a' (2 elements)"),
    (".word w\nf:\n  push w[0]\n", "t.s:3:8: 'w' is not an array"),
    ("f:\n  push " + "(" * 70 + "1" + ")" * 70 + "\n",
     "t.s:2:72: expression nested too deeply (more than 64 levels)"),
    # lexical
    ("f:\n  mov r1, 0xZZ\n", "t.s:2:11: bad number literal '0xZZ'"),
    ("f:\n  mov r1, 12abc\n", "t.s:2:11: bad number literal '12abc'"),
    ("f:\n  mov r1, 99999999999999999999\n",
     "t.s:2:11: number literal '99999999999999999999' does not fit in 64 bits"),
    ("f:\n  bug \"abc\n", "t.s:2:7: unterminated string (missing closing '\"')"),
    ("f:\n  bug \"a\\qb\"\n", "t.s:2:9: unknown escape '\\q' in string (use \\\" \\\\ \\n \\t \\0)"),
    ("f:\n  mov r1, ''\n", "t.s:2:11: bad character literal (expected one character, like 'a' or '\\n')"),
    ("f:\n  mov r1, 'ab'\n", "t.s:2:11: unterminated character literal (missing closing \"'\")"),
    ("f:\n  mov r1, $5\n", "t.s:2:11: unexpected character '$'"),
    # directives
    (".equb X, 1\n", "t.s:1:1: unknown directive '.equb'; did you mean '.equ'?"),
    (".equ X\n", "t.s:1:1: expected 2 operands (NAME, VALUE) for .equ, got 1"),
    (".equ 5, 1\n", "t.s:1:6: expected a name, got '5'"),
    (".equ A, 1\n.equ A, 2\n", "t.s:2:6: duplicate name 'A' (first defined at t.s:1)"),
    (".equ N, 2\n", "t.s:1:6: duplicate name 'N' (predefined by the scenario)"),
    (".word net\n", "t.s:1:7: duplicate name 'net' (a port of the scenario)"),
    (".bit B, 1\n.word B\n", "t.s:2:7: duplicate name 'B' (first defined at t.s:1)"),
    (".word w\n.equ w, 1\n", "t.s:2:6: duplicate name 'w' (first defined at t.s:1)"),
    (".equ at, 1\n", "t.s:1:6: 'at' is a register name"),
    (".equ X, Y\n.equ Y, 1\n", "t.s:1:9: unknown constant or symbol 'Y'"),
    (".bit B, 64\n", "t.s:1:9: bit number 64 is out of range (0..63)"),
    (".word a, 1, 2\n", "t.s:1:1: expected 1 or 2 operands (NAME[, VALUE]) for .word, got 3"),
    (".array a, 0\n", "t.s:1:11: array length must be 1..65536, got 0"),
    (".array a\n", "t.s:1:1: expected 2 or 3 operands (NAME, LENGTH[, VALUE]) for .array, got 1"),
    (".include nope\n", "t.s:1:10: expected a file name in double quotes, got 'nope'"),
    # structs
    (".struct s\n.field a\n  .field a\n.ends\n",
     "t.s:3:10: duplicate field 'a' in struct s (first defined at t.s:2)"),
    (".struct s\n.field a\n", "t.s:1:1: missing .ends for .struct s before the end of t.s"),
    (".ends\n", "t.s:1:1: .ends without .struct"),
    (".field a\n", "t.s:1:1: .field outside .struct"),
    (".struct s\n.ends\n", "t.s:2:1: struct s has no fields"),
    (".struct s\n.field a\n.ends\n.struct s\n", "t.s:4:9: duplicate struct 's' (first defined at t.s:1)"),
    (".struct s\n  .word w\n", "t.s:2:3: only .field may appear inside .struct s (close it with .ends)"),
    (".struct page\n.field a\n.ends\n.object p, pgae\n",
     "t.s:4:12: unknown struct 'pgae'; did you mean 'page'?"),
    (".struct page\n.field flags\n.ends\n.object p, page, flgs=1\n",
     "t.s:4:18: unknown field 'flgs' in struct page; did you mean 'flags'?"),
    (".struct s\n.field a\n.ends\n.object p, s, a=1, a=2\n", "t.s:4:20: field 'a' is initialized twice"),
    (".struct s\n.field a\n.ends\n.object p, s, a\n", "t.s:4:15: expected field=value, got 'a'"),
    (".struct s\n.field a\n.ends\n.object p, s, a=1/0\n", "t.s:4:17: division by zero"),
    # macros
    (".macro m a\n  mov \\a, \\b\n.endm\nf:\n  m r1\n",
     ("t.s:5:3: in expansion of macro m: unknown macro parameter '\\b' (macro m has parameters: a) "
      "(macro line t.s:2)")),
    (".macro m addr\n  ld r1, \\adr\n.endm\nf:\n  m [r1]\n",
     ("t.s:5:3: in expansion of macro m: unknown macro parameter '\\adr'; did you mean '\\addr'? "
      "(macro line t.s:2)")),
    (".macro m a\n  mov \\a, 1\n.endm\nf:\n  m r1, r2\n", "t.s:5:3: macro m takes 1 argument (a), got 2"),
    (".macro m a, b\n.endm\nf:\n  m r1\n", "t.s:4:3: macro m takes 2 arguments (a, b), got 1"),
    (".macro m\n.endm\nf:\n  m r1\n", "t.s:4:3: macro m takes 0 arguments (no parameters), got 1"),
    (".endm\n", "t.s:1:1: .endm without .macro"),
    (".macro m a\n  nop\n", "t.s:1:1: unterminated .macro m (missing .endm before the end of t.s)"),
    (".macro m\n  .macro n\n", "t.s:2:3: nested .macro: macro m (started at t.s:1) is not closed with .endm"),
    (".macro m\n.endm x\n", "t.s:2:7: unexpected 'x' after .endm"),
    (".macro add a\n.endm\n", "t.s:1:8: macro 'add' would redefine the instruction 'add'"),
    (".macro m\n.endm\n.macro m\n.endm\n", "t.s:3:8: macro 'm' is already defined (at t.s:1)"),
    (".macro m a, a\n.endm\n", "t.s:1:13: duplicate macro parameter 'a'"),
    (".macro m a,\n.endm\n", "t.s:1:11: expected a parameter name after ','"),
    (".macro\n", "t.s:1:1: expected a macro name after .macro"),
    (".macro m\n  m\n.endm\nf:\n  m\n",
     ("t.s:5:3: in expansion of macro m -> m -> m -> ... -> m -> m: macro expansion nested deeper than 32 "
      "levels (is m recursive?) (macro line t.s:2)")),
    (".macro m\n  mov r1, 1\n  ld r2, [rx]\n.endm\nf:\n  nop\n    m   ; call\n",
     "t.s:7:5: in expansion of macro m: unknown constant or symbol 'rx' (macro line t.s:3)"),
    (".macro inner\n  jmp .nowhere\n.endm\n.macro outer\n  inner\n.endm\nf:\n  outer\n",
     "t.s:8:3: in expansion of macro outer -> inner: unknown label '.nowhere' (macro line t.s:2)"),
]


@pytest.mark.parametrize("source, message", ERRORS, ids=[m.split(": ", 1)[1][:40] for _, m in ERRORS])
def test_errors(source, message):
    with pytest.raises(AsmError) as info:
        assemble_text(source, filename="t.s", ports=PORTS, predefined=PREDEFINED)
    assert str(info.value) == message
    e = info.value
    file, line, col, _ = message.split(":", 3)
    assert (e.file, e.line, e.col) == (file, int(line), int(col))


def test_error_without_ports_says_so():
    with pytest.raises(AsmError) as info:
        assemble_text("f:\n  send net, 1\n")
    assert str(info.value) == "<input>:2:8: unknown port 'net' (the scenario declares no ports)"


# ---------------------------------------------------------------------------------------------
# Malformed input never raises anything but AsmError

VOCAB = [
    *sorted(OPS)[::3], "lock_page", "m", "r0", "r1", "r15", "r16", "at", "sp", "x", "f", "f:", ".l", ".l:",
    "page0", "page0.flags", "page0.data[1]", "arr[9]", "N", "net",
    ",", ",", ",", "[", "]", "(", ")", "+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "~", ":", "=",
    "\\", "\\@", "\\a", "@", ";", "//", '"', "'", "$", "\t",
    ".equ", ".bit", ".struct", ".field", ".ends", ".object", ".word", ".array", ".include", ".macro",
    ".endm", ".bogus",
    "0", "1", "7", "64", "0x10", "0b101", "0xZZ", "99999999999999999999999", "'a'", "'\\n'", "''",
    '"str"', '"a, b"', '"unterminated', '"esc\\q"', "1<<70",
]

VALID = """\
.equ SIZE, 4
.bit PG_locked, 0
.struct page
    .field flags
    .field data, SIZE
.ends
.object page0, page, flags=1, data=2
.word counter, 3
.array arr, 4
.macro lock_page addr
.Llp\\@:
    test_and_set_bit_lock at, PG_locked, \\addr
    jz at, .Llpdone\\@
    yield
    jmp .Llp\\@
.Llpdone\\@:
.endm
main:
    lock_page [page0.flags]
    mov r1, (SIZE << 2) | 1   ; comment
.loop:
    ld r2, [r1 + page0.data[1]]
    add r2, 1
    st [arr + r3], r2
    send net, r1, r2
    bne r2, 'x', .loop
    bug_on r2, "bad \\"page\\""
    call helper
    halt
helper:
    ret
"""


def _assemble_or_asm_error(text: str) -> None:
    try:
        assemble_text(text, filename="fuzz.s", ports=PORTS, predefined=PREDEFINED)
    except AsmError as e:
        assert isinstance(e.message, str) and e.file == "fuzz.s"


def test_valid_fuzz_seed_assembles():
    img = assemble_text(VALID, ports=PORTS)
    assert len(img.machines["m0"].code) == 14


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(VOCAB), max_size=8).map(" ".join), max_size=12).map("\n".join))
def test_random_tokens_raise_only_asm_error(text):
    _assemble_or_asm_error(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "swap"]), st.integers(0, len(VALID) - 1)),
                min_size=1, max_size=6))
def test_mutated_program_raises_only_asm_error(mutations):
    text = VALID
    for kind, pos in mutations:
        pos %= max(len(text), 1)
        if kind == "delete":
            text = text[:pos] + text[pos + 1:]
        elif kind == "duplicate":
            text = text[:pos + 1] + text[pos:]
        else:
            text = text[:pos] + text[pos + 1:pos + 2] + text[pos:pos + 1] + text[pos + 2:]
    _assemble_or_asm_error(text)


def test_struct_field_offsets():
    """`page.flags` is the field's offset in words, for `[r1 + page.flags]` with r1 an object's
    address; array fields take an element."""
    image = assemble_text(""".struct page
    .field flags
    .field data, 2
    .field magic
.ends
.object p0, page
.equ MAGIC_AT, page.magic
f:
    mov r1, p0
    ld r2, [r1 + page.magic]
    mov r3, page.data[1]
    mov r4, MAGIC_AT
    halt
""", filename="t.s")
    code = image.machines["m0"].code
    p0 = image.symbol("p0.flags").addr
    assert code[1].args[1].disp == 3 and image.symbol("p0.magic").addr == p0 + 3
    assert code[2].args[1].value == 2
    assert code[3].args[1].value == 3
