; double_fetch: the pointer is tested and used through two separate loads.
.include "kernel.inc"
.word real_ops, 42
.struct device
    .field ops
.ends
.object dev, device, ops=real_ops

caller:
    mov r5, 3
.loop:
    ld r1, [dev.ops]
    jz r1, .next
    ld r2, [dev.ops]        ; fetched again: may be NULL by now
    bne r2, 0, .call
    bug "double_fetch: NULL pointer dereference through dev.ops"
.call:
    ld r4, [r2]
.next:
    sub r5, 1
    jnz r5, .loop
    halt

unregister:
    st [dev.ops], 0
    halt
