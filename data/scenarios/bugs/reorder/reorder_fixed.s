; reorder, fixed: setters and the checker take `lock` around the pair.
.word a, 0
.word b, 0
.word lock, 0

setter:
    spin_lock [lock]
    st [a], 1
    st [b], -1
    spin_unlock [lock]
    halt

checker:
    spin_lock [lock]
    ld r1, [a]
    ld r2, [b]
    spin_unlock [lock]
    bne r1, 0, .one
    bne r2, 0, .bad
    halt
.one:
    bne r2, -1, .bad
    halt
.bad:
    bug "reorder: the checker saw only one of a setter's two writes"
