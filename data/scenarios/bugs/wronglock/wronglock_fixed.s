; wronglock, fixed: funcB takes dataLock too.
.word dataLock, 0
.word thisLock, 0
.word dataValue, 0

funcA:
    spin_lock [dataLock]
    ld r1, [dataValue]
    add r2, r1, 1
    st [dataValue], r2
    ld r3, [dataValue]
    sub r4, r3, r2
    bug_on r4, "wronglock: dataValue != x + 1 under dataLock"
    spin_unlock [dataLock]
    halt

funcB:
    spin_lock [dataLock]
    ld r1, [dataValue]
    add r1, 1
    st [dataValue], r1
    spin_unlock [dataLock]
    halt
