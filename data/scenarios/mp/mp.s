; MP: the message-passing litmus test.
.word x, 0
.word flag, 0
.word res0, 0
.word res1, 0

p0:
    st [x], 1
    st [flag], 1
    halt

p1:
    ld r1, [flag]
    ld r2, [x]
    st [res0], r1
    st [res1], r2
    halt
