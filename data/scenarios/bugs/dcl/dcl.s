; Double-checked locking with plain accesses to `ready`.
.word lock, 0
.word ready, 0
.word obj_val, 0
.word inits, 0

user:
    ld r1, [ready]           ; if (!ready) {       <- unlocked, plain
    jnz r1, .use
    spin_lock [lock]
    ld r1, [ready]           ;     if (!ready) {   (under the lock)
    jnz r1, .unlock
    ld r4, [inits]
    add r4, 1
    st [inits], r4
    ; obj_val = 42; ready = 1; with plain stores: the compiler (and a weakly ordered CPU) may
    ; make them visible in either order; this is the order that breaks the unlocked check
    st [ready], 1            ;         ready = 1   <- plain
    st [obj_val], 42         ;         obj_val = 42
.unlock:
    spin_unlock [lock]
.use:
    ld r2, [obj_val]         ; use(obj)
    sub r3, r2, 42
    bug_on r3, "used the object before it was built"
    halt
