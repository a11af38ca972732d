; Seqlock reader that does not wait for an even sequence, with plain data loads.
.word seq, 0
.word val_lo, 0
.word val_hi, 0
.word torn, 0

writer:
    mov r9, ROUNDS
.loop:
    ld r1, [seq]
    add r1, 1
    st_once [seq], r1        ; write_seqcount_begin: odd
    wmb
    add r2, r9, 100
    st [val_lo], r2
    st [val_hi], r2
    wmb
    add r1, 1
    st_once [seq], r1        ; write_seqcount_end: even
    sub r9, 1
    jnz r9, .loop
    halt

reader:
    mov r9, ROUNDS
.loop:
    ld_once r1, [seq]        ; read_seqbegin, without waiting for an even value
    rmb
    ld r2, [val_lo]          ; <- plain
    ld r3, [val_hi]
    rmb
    ld_once r4, [seq]        ; read_seqretry
    bne r1, r4, .loop
    beq r2, r3, .ok
    st [torn], 1
.ok:
    sub r9, 1
    jnz r9, .loop
    halt
