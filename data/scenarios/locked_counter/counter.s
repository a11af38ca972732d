; locked_counter: counter++ under counter_lock, N times, in each of two threads.
.include "kernel.inc"

.word counter_lock, 0
.word counter, 0

worker:
    mov r1, N               ; iterations left
.loop:
    spin_lock [counter_lock]
    ld r2, [counter]
    add r2, 1
    st [counter], r2
    spin_unlock [counter_lock]
    cond_resched
    sub r1, 1
    jnz r1, .loop
    halt
