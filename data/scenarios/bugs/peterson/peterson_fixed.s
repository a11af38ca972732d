; Peterson's lock with smp_mb between announcing and looking, after the wait (acquire) and
; before leaving (release).
.word flag0, 0
.word flag1, 0
.word turn, 0
.word counter, 0

t0:
    mov r9, N
.loop:
    st_once [flag0], 1       ; flag[0] = 1
    st_once [turn], 1        ; turn = 1
    fence                    ; smp_mb(): the store must be visible before we look
.wait:
    ld_once r1, [flag1]      ; while (flag[1] && turn == 1)
    jz r1, .enter
    ld_once r2, [turn]
    jnz r2, .spin            ; turn == 1: wait (cpu_relax)
    jmp .enter
.spin:
    pause
    jmp .wait
.enter:
    fence                    ; smp_mb(): acquire
    ld r3, [counter]         ; critical section
    add r3, 1
    st [counter], r3
    fence                    ; smp_mb(): the critical section before leaving (and before the
    st_once [flag0], 0       ; next round's flag and turn stores, which the other thread may read)
    sub r9, 1
    jnz r9, .loop
    halt

t1:
    mov r9, N
.loop:
    st_once [flag1], 1
    st_once [turn], 0
    fence
.wait:
    ld_once r1, [flag0]
    jz r1, .enter
    ld_once r2, [turn]
    jz r2, .spin
    jmp .enter
.spin:
    pause
    jmp .wait
.enter:
    fence
    ld r3, [counter]
    add r3, 1
    st [counter], r3
    fence
    st_once [flag1], 0
    sub r9, 1
    jnz r9, .loop
    halt
