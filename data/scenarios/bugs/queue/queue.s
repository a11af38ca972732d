; queue (SCTBench CS/queue_bad): dequeue tests `count` and takes the item in two steps.
.struct queue
    .field lock
    .field count
    .field taken
.ends
.object q, queue

producer:
    spin_lock [q.lock]
    ld r1, [q.count]
    add r1, 1
    st [q.count], r1
    spin_unlock [q.lock]
    halt

consumer:
.retry:
    ld r1, [q.count]        ; is there an item?
    jnz r1, .take
    pause
    ld r2, [q.taken]
    jz r2, .retry
    halt
.take:
    spin_lock [q.lock]
    ld r1, [q.count]
    sub r1, 1
    st [q.count], r1
    xadd r3, [q.taken], 1
    spin_unlock [q.lock]
    shr r1, r1, 63
    bug_on r1, "queue: dequeued from an empty queue (count < 0)"
    halt
