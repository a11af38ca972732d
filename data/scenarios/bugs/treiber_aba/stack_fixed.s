; Treiber stack, fixed: `top` = node | tag << 32, every successful cmpxchg bumps the tag; `next`
; is READ_ONCE / WRITE_ONCE.
.equ PTR, 0xffffffff
.word pad, 0                 ; (no node at address 0: 0 is NULL)
.word n0, n1                 ; n0->next = n1
.word n1, n2
.word n2, 0
.word top, n0
.word done, 0
.word counted, 0

pop:                         ; r1 = popped node or 0
.retry:
    ld_acquire r4, [top]     ; r4 = tagged top
    and r1, r4, PTR
    jz r1, .empty
    ld_once r2, [r1]         ; next = READ_ONCE(node->next)
    shr r5, r4, 32
    add r5, 1
    shl r5, 32
    or r2, r5                ; next | (tag + 1) << 32
    cas r3, [top], r4, r2
    bne r3, r4, .retry
.empty:
    ret

push:                        ; r1 = node
.retry:
    ld_acquire r4, [top]
    and r2, r4, PTR
    st_once [r1], r2         ; WRITE_ONCE(node->next, top)
    shr r5, r4, 32
    add r5, 1
    shl r5, 32
    or r5, r1                ; node | (tag + 1) << 32
    cas r3, [top], r4, r5
    bne r3, r4, .retry
    ret

worker:
    mov r9, ROUNDS
.loop:
    call pop
    jz r1, .next
    yield
    call push
.next:
    sub r9, 1
    jnz r9, .loop
    jmp finish

worker2:
    mov r9, ROUNDS
.loop:
    call pop
    mov r7, r1
    call pop
    mov r8, r1
    mov r1, r7
    jz r1, .one
    call push
.one:
    mov r1, r8
    jz r1, .next
    call push
.next:
    sub r9, 1
    jnz r9, .loop
    jmp finish

finish:
    xadd r1, [done], 1
    bne r1, 2, .out
    mov r5, 0
    ld_acquire r1, [top]
    and r1, r1, PTR
.walk:
    jz r1, .counted
    add r5, 1
    beq r5, 10, .counted
    ld_once r1, [r1]
    jmp .walk
.counted:
    st [counted], r5
.out:
    halt
