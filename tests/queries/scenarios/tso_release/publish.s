; smp_store_release(&flag, 1) and then a plain read of x: the read is after the release.
.word flag, 0
.word x, 0
.word seen, 0

producer:
    st_release [flag], 1     ; smp_store_release(&flag, 1)
    ld r1, [x]               ; r1 = x: after the release, unordered with the consumer's write
    st [seen], r1
    halt

consumer:
.wait:
    ld_acquire r1, [flag]    ; while (!smp_load_acquire(&flag))
    jnz r1, .got
    pause
    jmp .wait
.got:
    st [x], 1                ; x = 1
    halt
