; Message passing without barriers: a data race on `data`.
.word data, 0
.word flag, 0
.word seen, 0

producer:
    st [data], 42            ; data = 42
    st_once [flag], 1        ; WRITE_ONCE(flag, 1)   (no smp_wmb before it)
    halt

consumer:
.wait:
    ld_once r1, [flag]       ; while (!READ_ONCE(flag))
    jnz r1, .got
    pause
    jmp .wait
.got:
    ld r2, [data]            ; (no smp_rmb before it)
    st [seen], r2
    sub r3, r2, 42
    bug_on r3, "consumer saw the flag but stale data"
    halt
