; account (SCTBench CS/account_bad): withdraw updates the balance without the lock.
.word m, 0
.word balance, INITIAL

deposit:
    mov r5, ROUNDS
.loop:
    spin_lock [m]
    ld r1, [balance]
    add r1, DEPOSIT
    st [balance], r1
    spin_unlock [m]
    sub r5, 1
    jnz r5, .loop
    halt

withdraw:
    mov r5, ROUNDS
.loop:
    ld r1, [balance]
    sub r1, WITHDRAW
    st [balance], r1
    sub r5, 1
    jnz r5, .loop
    halt
