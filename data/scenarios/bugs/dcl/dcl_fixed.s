; Double-checked locking done right: acquire outside the lock, release after construction.
.word lock, 0
.word ready, 0
.word obj_val, 0
.word inits, 0

user:
    ld_acquire r1, [ready]   ; if (!smp_load_acquire(&ready)) {
    jnz r1, .use
    spin_lock [lock]
    ld r1, [ready]           ;     if (!ready) {   (under the lock)
    jnz r1, .unlock
    st [obj_val], 42         ;         obj_val = 42
    ld r4, [inits]
    add r4, 1
    st [inits], r4
    st_release [ready], 1    ;         smp_store_release(&ready, 1)
.unlock:
    spin_unlock [lock]
.use:
    ld r2, [obj_val]         ; use(obj)
    sub r3, r2, 42
    bug_on r3, "used the object before it was built"
    halt
