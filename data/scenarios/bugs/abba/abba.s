; ABBA: two lock orders.
.word acct_a_lock, 0
.word acct_a_balance, 60
.word acct_b_lock, 0
.word acct_b_balance, 40
.word audits, 0
.word total, 0

lock_both_ab:
    spin_lock [acct_a_lock]
    spin_lock [acct_b_lock]
    ret

transfer:
    call lock_both_ab
    ld r1, [acct_a_balance]
    sub r1, 10
    st [acct_a_balance], r1
    ld r2, [acct_b_balance]
    add r2, 10
    st [acct_b_balance], r2
    spin_unlock [acct_b_lock]
    spin_unlock [acct_a_lock]
    halt

audit:
    spin_lock [acct_b_lock]      ; the other order
    spin_lock [acct_a_lock]
    ld r1, [acct_a_balance]
    ld r2, [acct_b_balance]
    add r1, r2
    st [total], r1
    ld r3, [audits]
    add r3, 1
    st [audits], r3
    spin_unlock [acct_a_lock]
    spin_unlock [acct_b_lock]
    halt
