; Reference count dropped with atomic_dec_and_test().
.equ POISON, 0xdead
.word obj_refs, 2
.word obj_data, 5
.word frees, 0

put:
    xadd r1, [obj_refs], -1  ; if (atomic_dec_and_test(&obj->refs))
    bne r1, 1, .keep
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
