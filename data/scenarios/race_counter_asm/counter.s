; race_counter: counter++ without a lock, N times, in each of two threads.
.include "kernel.inc"

.word counter, 0

worker:
    mov r1, N               ; iterations left
.loop:
    ld r2, [counter]        ; the load ...
    add r2, 1
    st [counter], r2        ; ... and the store: another core may write in between
    cond_resched
    sub r1, 1
    jnz r1, .loop
    halt
