; dev_open: the first-open test and the increment are not atomic.
.struct device
    .field lock
    .field open_count
    .field buf
.ends
.object dev, device

dev_open:
    ld r1, [dev.open_count]
    jnz r1, .counted
    ld r2, [dev.buf]
    bug_on r2, "dev_open: device initialised twice (buffer already allocated)"
    st [dev.buf], 1         ; allocate the buffer
.counted:
    ld r1, [dev.open_count]
    add r1, 1
    st [dev.open_count], r1
    halt
