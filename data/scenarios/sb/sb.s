; SB: the store-buffering litmus test.
.word x, 0
.word y, 0
.word res0, 0
.word res1, 0
.word done0, 0
.word done1, 0

p0:
    st [x], 1
    ld r1, [y]
    st [res0], r1
    st [done0], 1
    halt

p1:
    st [y], 1
    ld r1, [x]
    st [res1], r1
    st [done1], 1
    halt
