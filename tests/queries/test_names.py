"""Flag bits are named in one place: the query answers and diff agree, named or not."""

from __future__ import annotations

from queries.diff import _Run
from queries.names import bit_names, decode_bits, is_flags_name


def test_unnamed_bits_read_alike_everywhere():
    names = bit_names([("PG_dirty", 2), ("PG_CLEAN", 9), ("PG_uptodate", 2)])
    assert names == {2: "PG_dirty/PG_uptodate", 9: "PG_CLEAN"}
    assert decode_bits(0b1000000101, names) == ["bit0", "PG_dirty/PG_uptodate", "PG_CLEAN"]
    run = _Run(path=None, meta={}, events=None, sites=[], symbol_of={}, bit_names=names, thread_names={})
    assert run.bits_changed("page0.flags", 0b100, 0b1001) == "+bit0 +bit3 -PG_dirty/PG_uptodate"
    assert run.bits_changed("counter", 1, 2) == "value"


def test_only_flags_words_have_bits():
    assert is_flags_name("page0.flags") and is_flags_name("req3.wb_flags") and is_flags_name("pages[2].flags")
    assert not is_flags_name("counter") and not is_flags_name("page0.data[1]") and not is_flags_name(None)
