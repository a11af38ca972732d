; nonatomic_bitops, fixed: the atomic set_bit.
.include "kernel.inc"
.struct page
    .field flags
.ends
.object page0, page

mark_dirty:
    set_bit PG_dirty, [page0.flags]
    halt

mark_referenced:
    set_bit PG_referenced, [page0.flags]
    halt
