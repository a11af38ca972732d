; Treiber stack, buggy: a bare pointer in `top` (ABA) and plain accesses to `next`.
.word pad, 0                 ; (no node at address 0: 0 is NULL)
.word n0, n1                 ; n0->next = n1
.word n1, n2
.word n2, 0
.word top, n0
.word done, 0
.word counted, 0

pop:                         ; r1 = popped node or 0
.retry:
    ld_acquire r1, [top]
    jz r1, .empty
    ld r2, [r1]              ; next = node->next    <- plain
    cas r3, [top], r1, r2    ; cmpxchg(&top, node, next)
    bne r3, r1, .retry
.empty:
    ret

push:                        ; r1 = node
.retry:
    ld_acquire r2, [top]
    st [r1], r2              ; node->next = top     <- plain
    cas r3, [top], r2, r1
    bne r3, r2, .retry
    ret

worker:                      ; pop one node and push it back, ROUNDS times
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

worker2:                     ; pop two nodes, push the first back, then the second
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

finish:                      ; the last thread to finish counts the nodes (at most 10 steps)
    xadd r1, [done], 1
    bne r1, 2, .out
    mov r5, 0
    ld_acquire r1, [top]
.walk:
    jz r1, .counted
    add r5, 1
    beq r5, 10, .counted
    ld r1, [r1]
    jmp .walk
.counted:
    st [counted], r5
.out:
    halt
