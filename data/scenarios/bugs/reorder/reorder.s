; reorder (SCTBench CS/reorder_bad): a checker may see a setter's first write without its second.
.word a, 0
.word b, 0
.word lock, 0

setter:
    st [a], 1
    st [b], -1
    halt

checker:
    ld r1, [a]
    ld r2, [b]
    bne r1, 0, .one
    bne r2, 0, .bad         ; a = 0 but b = -1
    halt
.one:
    bne r2, -1, .bad        ; a = 1 but b = 0
    halt
.bad:
    bug "reorder: the checker saw only one of a setter's two writes"
