; mixed: a kernel-style worker loop, the simulator-speed benchmark's workload.
.include "kernel.inc"

.array table, 256, 1
.word stats_lock, 0
.word stats, 0

; r10 = first index of this thread's 64-element slice
worker:
    mov r1, ROUNDS
.round:
    mov r2, 0                   ; i
    mov r5, 0                   ; sum
.elem:
    add r3, r10, r2
    ld r4, [r3 + table]
    call mix
    add r5, r5, r4
    st [r3 + table], r4
    add r2, 1
    blt r2, 64, .elem
    spin_lock [stats_lock]
    ld r6, [stats]
    add r6, r6, r5
    st [stats], r6
    spin_unlock [stats_lock]
    sub r1, 1
    jnz r1, .round
    halt

; r4 = (r4 * 5 + 3) & 0xffff, with a branch
mix:
    mul r4, r4, 5
    add r4, 3
    and r4, 0xffff
    bne r4, 0, .done
    mov r4, 1
.done:
    ret
