; twostage (SCTBench CS/twostage_bad): two locked stages that are not atomic together.
.word t1_lock, 0
.word t2_lock, 0
.word data1, 0
.word data2, 0

funcA:
    spin_lock [t1_lock]
    st [data1], 1
    spin_unlock [t1_lock]
    spin_lock [t2_lock]
    ld r1, [data1]
    add r1, 1
    st [data2], r1
    spin_unlock [t2_lock]
    halt

funcB:
    spin_lock [t1_lock]
    ld r1, [data1]
    spin_unlock [t1_lock]
    jz r1, .out
    spin_lock [t2_lock]
    ld r2, [data2]
    spin_unlock [t2_lock]
    add r1, 1
    sub r3, r2, r1
    bug_on r3, "twostage: data2 != data1 + 1"
.out:
    halt
