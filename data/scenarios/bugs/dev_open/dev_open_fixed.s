; dev_open, fixed: open() runs under the device's lock.
.struct device
    .field lock
    .field open_count
    .field buf
.ends
.object dev, device

dev_open:
    spin_lock [dev.lock]
    ld r1, [dev.open_count]
    jnz r1, .counted
    ld r2, [dev.buf]
    bug_on r2, "dev_open: device initialised twice (buffer already allocated)"
    st [dev.buf], 1
.counted:
    ld r1, [dev.open_count]
    add r1, 1
    st [dev.open_count], r1
    spin_unlock [dev.lock]
    halt
