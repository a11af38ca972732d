; bluetooth_driver, fixed: the flag is tested and the count taken under one lock.
.word lock, 0
.word pendingIo, 1
.word stoppingFlag, 0
.word stoppingEvent, 0
.word stopped, 0

io_increment:
    spin_lock [lock]
    ld r1, [stoppingFlag]
    jnz r1, .refuse
    ld r1, [pendingIo]
    add r1, 1
    st [pendingIo], r1
    spin_unlock [lock]
    mov r0, 0
    ret
.refuse:
    spin_unlock [lock]
    mov r0, 1
    ret

io_decrement:
    spin_lock [lock]
    ld r1, [pendingIo]
    sub r1, 1
    st [pendingIo], r1
    spin_unlock [lock]
    jnz r1, .done
    st [stoppingEvent], 1
.done:
    ret

adder:
    call io_increment
    jnz r0, .out
    ld r2, [stopped]
    bug_on r2, "bluetooth: I/O on a stopped device"
    call io_decrement
.out:
    halt

stopper:
    spin_lock [lock]
    st [stoppingFlag], 1
    spin_unlock [lock]
    call io_decrement
.wait:
    ld r1, [stoppingEvent]
    jnz r1, .go
    pause
    jmp .wait
.go:
    st [stopped], 1
    halt
