"""The invariant expression language: parsing, templates, evaluation."""

from __future__ import annotations

import re

import numpy as np
import pytest

from queries import QueryError
from queries.invariants import Operand, evaluate_one, expand, parse

W = (1 << 64) - 1


def ev(text: str, **values) -> int:
    inv = parse(text, "t")
    vals = {}
    for op in inv.operands:
        v = values[op.symbol.replace(".", "_")]
        if op.bit is not None:
            v = (v >> int(op.bit)) & 1
        vals[op] = v
    return evaluate_one(inv.tree, vals)


@pytest.mark.parametrize("text, values, want", [
    ("a == 1", {"a": 1}, 1),
    ("a == 1", {"a": 2}, 0),
    ("not (a:0 and b:1)", {"a": 1, "b": 2}, 0),
    ("not (a:0 and b:1)", {"a": 1, "b": 1}, 1),
    ("a & 4 == 4", {"a": 6}, 1),           # & binds tighter than == (as in Python)
    ("a | 1 == 3", {"a": 2}, 1),
    ("a + 1 > a", {"a": W}, 0),            # wraps at 2**64
    ("a - 1 == 0xffffffffffffffff", {"a": 0}, 1),
    ("-1 == ~0", {}, 1),
    ("a < b or b < a", {"a": 3, "b": 3}, 0),
    ("a << 2 == 12 and a >> 1 == 1", {"a": 3}, 1),
    ("a ^ 5 == 0", {"a": 5}, 1),
    ("true and not false", {}, 1),
    ("a and b", {"a": 2, "b": 4}, 1),      # any non-zero value is true
    ("not not a", {"a": 7}, 1),
    ("x.y[3] + 0b11 == 3", {"x_y[3]": 0}, 1),
])
def test_evaluate(text, values, want):
    assert ev(text, **values) == want


def test_operands_are_collected_once():
    inv = parse("page0.flags:PG_dirty and page0.flags:PG_dirty or page0.flags == 3")
    assert inv.operands == [Operand("page0.flags", "PG_dirty"), Operand("page0.flags", None)]


@pytest.mark.parametrize("text, message", [
    ("a ==", "unexpected end"),
    ("(a", "expected ')'"),
    ("a < b < c", "do not chain"),
    ("a $ b", "unexpected character"),
    ("a:", "bit name or number"),
    ("a b", "unexpected 'b'"),
])
def test_parse_errors(text, message):
    with pytest.raises(QueryError, match=re.escape(message)) as err:
        parse(text, "bad")
    assert "invariant 'bad'" in str(err.value) and "col" in str(err.value)


def test_templates():
    assert expand("p", "page{i}.flags == 0", "i in 0..2") == [
        ("p[0]", "page0.flags == 0"), ("p[1]", "page1.flags == 0"), ("p[2]", "page2.flags == 0")]
    assert [n for n, _ in expand("p", "x{i}", "i in 0..<2")] == ["p[0]", "p[1]"]
    assert [t for _, t in expand("p", "x{i}", "i in [3, 7]")] == ["x3", "x7"]
    assert [n for n, _ in expand("p", "x{i}{j}", "i in 0..1, j in [5]")] == ["p[0,5]", "p[1,5]"]
    assert expand("p", "x", None) == [("p", "x")]
    with pytest.raises(QueryError, match="cannot read"):
        expand("p", "x{i}", "i from 1 to 3")
    with pytest.raises(QueryError, match="placeholder"):
        expand("p", "x{j}", "i in 0..1")


def test_vectorised():
    from queries.invariants import evaluate
    inv = parse("a:1 and not b")
    vals = {Operand("a", "1"): np.array([0, 1, 1], dtype=np.uint64),
            Operand("b", None): np.array([0, 0, 5], dtype=np.uint64)}
    assert evaluate(inv.tree, vals, 3).tolist() == [0, 1, 0]
