; deadlock01 (SCTBench CS/deadlock01_bad): ABBA lock order.
.word a, 0
.word b, 0
.word counter, 0

thread1:
    spin_lock [a]
    spin_lock [b]
    ld r1, [counter]
    add r1, 1
    st [counter], r1
    spin_unlock [b]
    spin_unlock [a]
    halt

thread2:
    spin_lock [b]
    spin_lock [a]
    ld r1, [counter]
    add r1, 1
    st [counter], r1
    spin_unlock [a]
    spin_unlock [b]
    halt
