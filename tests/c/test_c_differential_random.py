"""Differential testing against gcc: seeded random programs (expressions over mixed signed and
unsigned types of every width: char, short, int and long, control flow, structs, arrays,
pointers, recursion), each run in the simulator and natively (gcc -O0 -fwrapv); every output word
must agree.

The default run checks DEFAULT_COUNT programs; `-m slow` checks FULL_COUNT (>= 300).
Programs avoid undefined behaviour: divisors are 2..9 or -2..-9, shift counts are masked to 0..63
(0..31 where the shifted operand is an int), signed overflow is gcc's -fwrapv wrap, expressions
have no side effects except calls to pure helpers, and loops are bounded.
"""

from __future__ import annotations

import random

import pytest

DEFAULT_COUNT = 40
FULL_COUNT = 320
OUTS = 18

TEMPLATE = """
unsigned long out[{outs}];
struct S {{ long x; unsigned long y; long z[2]; }};
long ga = {ga}; unsigned long gu = {gu};
long arr[4] = {{ {arr} }};
struct S s = {{ {sx}, {sy}, {{ {sz} }} }};
struct S *ps = &s;
unsigned short gw = {gw};

long f1(long p, unsigned long q) {{ return (long)(p * 3 - (long)(q >> 3)) ^ (p < 0 ? 5L : 9L); }}
unsigned long f2(unsigned long p) {{ unsigned long r = 1; for (long k = 0; k < 3; k++) r = r * 31UL + (p >> (k * 7)); return r; }}
long rec(long n) {{ return n <= 0 ? 1L : n * 3L + rec(n - 1) - ((n & 1) ? rec(n - 2) : 0L); }}
void bump(long *p, long k) {{ *p += k; }}

void test_main(void) {{
    long a = {a}, b = {b}, c = {c};
    unsigned long u = {u}, v = {v};
    long loc[3] = {{ {loc} }};
    int ni = {ni}; unsigned int nu = {nu}; short ns = {ns}; unsigned char nc = {nc}; signed char nsc = {nsc};
{body}
    out[0] = a; out[1] = b; out[2] = c; out[3] = u; out[4] = v; out[5] = ga; out[6] = gu;
    out[7] = arr[0] + arr[1] * 3 + arr[2] * 5 + arr[3] * 7; out[8] = s.x ^ s.y;
    out[9] = s.z[0] - s.z[1]; out[10] = loc[0] + loc[1] * 11 + loc[2] * 13;
    out[11] = ps->x + ps->z[1];
    out[12] = ni; out[13] = nu; out[14] = ns; out[15] = nc; out[16] = nsc; out[17] = gw;
}}
"""

SIGNED_LEAVES = ["a", "b", "c", "ga", "arr[{i4}]", "s.x", "s.z[{i2}]", "ps->x", "ps->z[{i2}]", "loc[{i3}]"]
UNSIGNED_LEAVES = ["u", "v", "gu", "s.y", "ps->y"]
NARROW_LEAVES = ["ni", "nu", "ns", "nc", "nsc", "gw"]  # int, unsigned int, short, unsigned char, signed char, unsigned short
LVALUES = ["a", "b", "c", "u", "v", "ga", "gu", "arr[{i4}]", "s.x", "s.y", "s.z[{i2}]", "ps->x",
           "ps->z[{i2}]", "loc[{i3}]", *NARROW_LEAVES]
NARROW_CASTS = ["(int)", "(unsigned int)", "(short)", "(unsigned short)", "(unsigned char)", "(signed char)"]


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.loop_vars: list[str] = []
        self.labels = 0
        self.loops = 0

    def const(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.5:
            return f"{r.randint(-20, 20)}L"
        if k < 0.7:
            return f"{r.randint(0, 1 << 64) - 1}UL"
        if k < 0.8:
            return f"{r.choice(['0x7fffffffffffffffL', '0x8000000000000000UL', '0xffffffffUL', '-1L', '1000000007L'])}"
        if k < 0.9:  # int, unsigned int and long literals without a suffix
            return r.choice([str(r.randint(-300, 300)), "2147483647", "0xffffffff", "0x80000000", "4294967296",
                             "255", "65535", "-32768"])
        return f"{r.randint(-1 << 40, 1 << 40)}L"

    def index(self, n: int) -> str:
        if self.r.random() < 0.5:
            return str(self.r.randrange(n))
        simple = self.r.choice(["a", "b", "c", "u", "v", "ga", *self.loop_vars])
        return f"(({simple}) & {n - 1}L)"

    def leaf(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.2:
            return self.const()
        if self.loop_vars and k < 0.3:
            return r.choice(self.loop_vars)
        k = r.random()
        pool = SIGNED_LEAVES if k < 0.45 else UNSIGNED_LEAVES if k < 0.7 else NARROW_LEAVES
        return self.fill(r.choice(pool))

    def fill(self, pattern: str) -> str:
        return pattern.format(i4=self.index(4), i2=self.index(2), i3=self.index(2))

    def div(self, e: str) -> str:
        return f"((({e}) & 7L) + 2L) * ((({e}) & 8L) ? -1L : 1L)"

    def expr(self, depth: int) -> str:
        r = self.r
        if depth <= 0 or r.random() < 0.25:
            return self.leaf()
        k = r.random()
        a = self.expr(depth - 1)
        if k < 0.45:
            op = r.choice(["+", "-", "*", "&", "|", "^", "+", "-"])
            return f"({a} {op} {self.expr(depth - 1)})"
        if k < 0.55:
            op = r.choice(["<", "<=", ">", ">=", "==", "!=", "&&", "||"])
            return f"(long)({a} {op} {self.expr(depth - 1)})"
        if k < 0.62:
            op = r.choice(["/", "%"])
            return f"({a} {op} ({self.div(self.expr(depth - 2))}))"
        if k < 0.7:
            op = r.choice(["<<", ">>"])
            if r.random() < 0.3:  # int arithmetic: counts below 32
                return f"({r.choice(['(int)', '(unsigned int)'])}({a}) {op} (({self.expr(depth - 2)}) & 31L))"
            return f"({r.choice(['(long)', '(unsigned long)'])}({a}) {op} (({self.expr(depth - 2)}) & 63L))"
        if k < 0.78:
            op = r.choice(["-", "~", "(long)", "(unsigned long)", *NARROW_CASTS])
            return f"({op} {a})" if op in ("-", "~") else f"({op}({a}))"
        if k < 0.82:
            return f"(long)(!{a})"
        if k < 0.9:
            return f"({self.cond(depth - 1)} ? {a} : {self.expr(depth - 1)})"
        if k < 0.95:
            return f"f1({a}, {self.expr(depth - 2)})"
        if k < 0.98:
            return f"(long)f2({a})"
        return f"rec(({a}) & 7L)"

    def cond(self, depth: int) -> str:
        op = self.r.choice(["<", "<=", ">", ">=", "==", "!=", "&&", "||"])
        return f"({self.expr(depth)} {op} {self.expr(depth)})"

    def stmt(self, depth: int, indent: str) -> str:
        r = self.r
        k = r.random()
        lv = self.fill(r.choice(LVALUES))
        if depth <= 0 or k < 0.35:
            return f"{indent}{lv} = {self.expr(3)};"
        if k < 0.5:
            op = r.choice(["+=", "-=", "*=", "&=", "|=", "^=", "/=", "%=", "<<=", ">>="])
            e = self.expr(2)
            if op in ("/=", "%="):
                e = self.div(e)
            elif op in ("<<=", ">>="):
                e = f"({e}) & {'31L' if lv in NARROW_LEAVES else '63L'}"
            return f"{indent}{lv} {op} {e};"
        if k < 0.55:
            return f"{indent}{r.choice(['++', '--'])}{lv};" if r.random() < 0.5 else f"{indent}{lv}{r.choice(['++', '--'])};"
        if k < 0.68:
            s = f"{indent}if {self.cond(2)} {{\n{self.block(depth - 1, indent + '    ')}\n{indent}}}"
            if r.random() < 0.5:
                s += f" else {{\n{self.block(depth - 1, indent + '    ')}\n{indent}}}"
            return s
        if k < 0.76 and self.loops < 3:
            self.loops += 1
            var = f"i{self.loops}"
            self.loop_vars.append(var)
            body = self.block(depth - 1, indent + "    ")
            self.loop_vars.pop()
            return f"{indent}for (long {var} = 0; {var} < {r.randint(1, 4)}; {var}++) {{\n{body}\n{indent}}}"
        if k < 0.8 and self.loops < 3:
            self.loops += 1
            var = f"w{self.loops}"
            body = self.block(depth - 1, indent + "    ")
            if r.random() < 0.5:
                return (f"{indent}{{ long {var} = {r.randint(0, 3)}; while ({var}-- > 0) {{\n{body}\n{indent}}} }}")
            return (f"{indent}{{ long {var} = {r.randint(1, 3)}; do {{\n{body}\n{indent}}} while (--{var} > 0); }}")
        if k < 0.87:
            cases = []
            for c in range(3):
                brk = "break;" if r.random() < 0.6 else "/* fall through */"
                cases.append(f"{indent}case {c}:\n{self.block(depth - 1, indent + '    ')}\n{indent}    {brk}")
            cases.append(f"{indent}default:\n{self.block(depth - 1, indent + '    ')}")
            return f"{indent}switch (({self.expr(2)}) & 3L) {{\n" + "\n".join(cases) + f"\n{indent}}}"
        if k < 0.92:
            self.labels += 1
            n = self.labels
            return (f"{indent}if {self.cond(1)} goto skip{n};\n{self.stmt(depth - 1, indent)}\n"
                    f"{indent}skip{n}: ;")
        target = r.choice(["&a", "&b", "&c", "&ga", "&arr[1]", "&s.x", "&ps->z[0]", "&loc[2]"])
        return f"{indent}bump({target}, {self.expr(2)});"

    def block(self, depth: int, indent: str) -> str:
        return "\n".join(self.stmt(depth, indent) for _ in range(self.r.randint(1, 3)))

    def program(self) -> str:
        r = self.r
        body = "\n".join(self.stmt(3, "    ") for _ in range(r.randint(4, 9)))
        return TEMPLATE.format(
            outs=OUTS, ga=self.const(), gu=self.const(), arr=", ".join(self.const() for _ in range(4)),
            sx=self.const(), sy=self.const(), sz=f"{self.const()}, {self.const()}",
            a=self.const(), b=self.const(), c=self.const(), u=self.const(), v=self.const(),
            loc=", ".join(self.const() for _ in range(3)), body=body, gw=self.const(), ni=self.const(),
            nu=self.const(), ns=self.const(), nc=self.const(), nsc=self.const())


def check(crun, seed: int) -> None:
    source = Gen(seed).program()
    simulated, native = crun.differential(source, OUTS)
    assert simulated == native, f"seed {seed}:\n{source}"


@pytest.mark.parametrize("seed", range(DEFAULT_COUNT))
def test_random_program_matches_gcc(crun, seed):
    check(crun, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(DEFAULT_COUNT, FULL_COUNT))
def test_random_program_matches_gcc_full(crun, seed):
    check(crun, seed)
