; Seqlock done right: wait for an even sequence, smp_rmb, READ_ONCE data, retry on change.
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
    st_once [val_lo], r2     ; WRITE_ONCE
    st_once [val_hi], r2
    wmb
    add r1, 1
    st_once [seq], r1        ; write_seqcount_end: even
    sub r9, 1
    jnz r9, .loop
    halt

reader:
    mov r9, ROUNDS
.loop:
    ld_once r1, [seq]        ; read_seqbegin: wait while odd
    and r5, r1, 1
    jz r5, .even
    pause
    jmp .loop
.even:
    rmb
    ld_once r2, [val_lo]     ; READ_ONCE
    ld_once r3, [val_hi]
    rmb
    ld_once r4, [seq]        ; read_seqretry
    bne r1, r4, .loop
    beq r2, r3, .ok
    st [torn], 1
.ok:
    sub r9, 1
    jnz r9, .loop
    halt
