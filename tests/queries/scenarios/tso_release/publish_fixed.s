; A plain read of x and then smp_store_release(&flag, 1): the read happens before the consumer's write.
.word flag, 0
.word x, 0
.word seen, 0

producer:
    ld r1, [x]               ; r1 = x: before the release
    st_release [flag], 1     ; smp_store_release(&flag, 1)
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
