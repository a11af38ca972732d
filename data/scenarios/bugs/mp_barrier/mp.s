; Message passing without barriers: a data race on `data`.
.word data, 0
.word flag, 0
.word seen, 0

producer:
    ; data = 42; WRITE_ONCE(flag, 1); without smp_wmb the two stores may become visible in either
    ; order (the compiler may reorder a plain store, and so may a weakly ordered CPU; x86-TSO does
    ; not): this is the order the consumer can observe
    st_once [flag], 1        ; WRITE_ONCE(flag, 1)   (no smp_wmb before it)
    st [data], 42            ; data = 42
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
