"""Malformed C and every refused construct: one line `file:line:col: what`, exit 2 through the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from revtrace.cli import app
from sim.c.errors import CError

CASES = [
    ("syntax", "void test_main(void) { long x = ; }", "prog.c:1:", "syntax error"),
    ("float", "double d; void test_main(void) { }", "prog.c:1:", "floating point is not supported"),
    ("float constant", "void test_main(void) { long x = 1.5; }", "prog.c:1:", "floating point"),
    ("variadic definition", "long f(long a, ...) { return a; }\nvoid test_main(void) { }", "prog.c:1:",
     "variadic function definitions are not supported"),
    ("VLA", "void test_main(void) { long n = 3; long a[n]; }", "prog.c:1:", "variable-length arrays"),
    ("setjmp", "void test_main(void) { long b[4]; setjmp(b); }", "prog.c:1:", "setjmp/longjmp are not supported"),
    ("inline asm", "void test_main(void) {\n  asm(\"nop\");\n}", "prog.c:2:", "inline assembly is not supported"),
    ("bit-field", "struct s { long a : 3; }; void test_main(void) { }", "prog.c:1:", "bit-fields are not supported"),
    ("thread creation", "void w(void) {} void test_main(void) { pthread_create(0, 0, 0, 0); }", "prog.c:1:",
     "[[threads]] table"),
    ("function pointer", "void f(void) {} void test_main(void) { long p = (long)f; }", "prog.c:1:",
     "function pointers are not supported"),
    ("unknown API", "#include <linux/spinlock.h>\nspinlock_t l; void test_main(void) { spin_lokc(&l); }", "prog.c:2:",
     "did you mean 'spin_lock'"),
    ("undeclared", "long counter; void test_main(void) { countr = 1; }", "prog.c:1:", "did you mean 'counter'"),
    ("unknown field", "struct p { long flags; } pg; void test_main(void) { pg.flag = 1; }", "prog.c:1:",
     "has no field 'flag'; did you mean 'flags'"),
    ("deref non-pointer", "void test_main(void) { long x = 1; *x = 2; }", "prog.c:1:", "cannot dereference"),
    ("arrow on struct", "struct p { long f; } pg; void test_main(void) { pg->f = 1; }", "prog.c:1:", "use '.'"),
    ("dot on pointer", "struct p { long f; } pg; void test_main(void) { struct p *q = &pg; q.f = 1; }", "prog.c:1:",
     "use '->'"),
    ("struct by value", "struct p { long f; }; long g(struct p x) { return 0; } void test_main(void) { }",
     "prog.c:1:", "by value is not supported"),
    ("string literal", "void test_main(void) { long s = \"abc\"; }", "prog.c:1:", "string literals"),
    ("wrong argument count", "long f(long a) { return a; } void test_main(void) { f(1, 2); }", "prog.c:1:",
     "takes 1 argument, got 2"),
    ("break outside loop", "void test_main(void) { break; }", "prog.c:1:", "not within a loop"),
    ("undefined label", "void test_main(void) { goto out; }", "prog.c:1:", "label 'out' used but not defined"),
    ("missing include", "#include <linux/nosuch.h>\nvoid test_main(void) { }", "prog.c:1", "cannot find include file"),
    ("#error", "#error not for this machine\nvoid test_main(void) { }", "prog.c:1", "#error not for this machine"),
    ("unknown type", "u65 x; void test_main(void) { }", "prog.c:1:", "syntax error"),
    ("not assignable", "void test_main(void) { 3 = 4; }", "prog.c:1:", "not assignable"),
    ("void value", "void f(void) {} void test_main(void) { long x = f(); }", "prog.c:1:", "void value"),
    ("undefined function", "void g(void); void test_main(void) { g(); }", "prog.c:1:", "undefined reference to function 'g'"),
    ("undefined extern", "extern long nowhere; void test_main(void) { nowhere = 1; }", "prog.c:1:",
     "undefined reference to 'nowhere'"),
    ("duplicate global", "long x; long x = 2; void test_main(void) { }", "prog.c:1:", "redefinition of 'x'"),
    ("bad port", "void test_main(void) { rt_send(nowhere, 1); }", "prog.c:1:", "expected a port name"),
    ("division by zero constant", "long x = 1 / 0; void test_main(void) { }", "prog.c:1:", "division by zero"),
]


@pytest.mark.parametrize("name,source,where,message", CASES, ids=[c[0] for c in CASES])
def test_refused_with_one_line_error(crun, name, source, where, message):
    with pytest.raises(CError) as e:
        crun(source)
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith(where), text
    assert message in text, text


def test_cli_prints_one_line_and_exits_2(crun):
    folder = crun.scenario("void test_main(void) {\n    long x = 1.5;\n}\n")
    res = CliRunner().invoke(app, ["run", str(folder)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output + res.stderr
    line = res.stderr.strip()
    assert line.count("\n") == 0 and "prog.c:2:" in line and "floating point" in line
