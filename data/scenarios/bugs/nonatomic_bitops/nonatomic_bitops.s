; nonatomic_bitops: __set_bit on a shared flags word loses a concurrent update.
.include "kernel.inc"
.struct page
    .field flags
.ends
.object page0, page

mark_dirty:
    __set_bit PG_dirty, [page0.flags]
    halt

mark_referenced:
    __set_bit PG_referenced, [page0.flags]
    halt
