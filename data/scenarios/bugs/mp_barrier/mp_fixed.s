; Message passing with smp_wmb / smp_rmb: the producer's data happens before the consumer's read.
.word data, 0
.word flag, 0
.word seen, 0

producer:
    st [data], 42            ; data = 42
    wmb                      ; smp_wmb()
    st_once [flag], 1        ; WRITE_ONCE(flag, 1)
    halt

consumer:
.wait:
    ld_once r1, [flag]       ; while (!READ_ONCE(flag))
    jnz r1, .got
    pause
    jmp .wait
.got:
    rmb                      ; smp_rmb()
    ld r2, [data]
    st [seen], r2
    sub r3, r2, 42
    bug_on r3, "consumer saw the flag but stale data"
    halt
