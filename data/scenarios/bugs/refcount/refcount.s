; Reference count dropped with a plain read-modify-write.
.equ POISON, 0xdead
.word obj_refs, 2
.word obj_data, 5
.word frees, 0

put:
    ld r1, [obj_refs]        ; if (--obj->refs == 0)   <- plain
    sub r1, 1
    st [obj_refs], r1
    jnz r1, .keep
    st [obj_data], POISON    ;     free(obj)
    xadd r2, [frees], 1
.keep:
    ret

user:
    ld r1, [obj_data]        ; use(obj)
    sub r2, r1, POISON
    jnz r2, .ok
    bug "use after free"
.ok:
    call put
    halt
