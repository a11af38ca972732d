; Lost wake-up: no full barrier between announcing and checking.
.word waiting, 0
.word cond, 0
.word data, 0
.word got, 0

sleeper:
    st_once [waiting], 1     ; set_current_state(TASK_UNINTERRUPTIBLE), without its smp_mb
    ld_once r1, [cond]       ; if (!READ_ONCE(cond))
    jnz r1, .go
    sleep                    ;     schedule()
.go:
    st_once [waiting], 0
    rmb                      ; smp_rmb(): cond before data
    ld r2, [data]
    st [got], r2
    halt

waker:
    st [data], 7
    wmb                      ; smp_wmb(): data before cond
    st_once [cond], 1        ; WRITE_ONCE(cond, 1), without smp_mb after it
    ld_once r1, [waiting]    ; if (READ_ONCE(waiting))
    jz r1, .done
    wake sleeper             ;     wake_up_process(sleeper)
.done:
    halt
