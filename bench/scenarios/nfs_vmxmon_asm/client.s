; client.s: the NFS client host (a RHEL 6-era kernel): the page cache of one mmap-ed NFS file,
; the write-back flusher, and rpciod completing WRITE and COMMIT RPCs.
.include "nfs.inc"

; struct inode of the file: i_lock is the spinlock NFS takes around its request flags
.struct nfs_inode
    .field i_lock
    .field nr_commit         ; statistics: requests ever marked for COMMIT
.ends

; struct address_space: tree_lock is what the generic set_page_dirty path takes
.struct address_space
    .field tree_lock
    .field nrdirty
.ends

.object inode, nfs_inode
.object mapping, address_space
.word vmx_done, 0            ; the VMXMON thread has finished its ioctls

; four pages, dirty at start (the simulators wrote them), each with its NFS request
.object page0, page, flags=(1<<PG_dirty)|(1<<PG_uptodate)|(1<<PG_private), index=0, data=100
.object page1, page, flags=(1<<PG_dirty)|(1<<PG_uptodate)|(1<<PG_private), index=1, data=101
.object page2, page, flags=(1<<PG_dirty)|(1<<PG_uptodate)|(1<<PG_private), index=2, data=102
.object page3, page, flags=(1<<PG_dirty)|(1<<PG_uptodate)|(1<<PG_private), index=3, data=103
.object req0, nfs_page, wb_index=0
.object req1, nfs_page, wb_index=1
.object req2, nfs_page, wb_index=2
.object req3, nfs_page, wb_index=3

.equ PAGE_STRIDE, page1 - page0
.equ REQ_STRIDE, req1 - req0

; ---------------------------------------------------------------------------------------------
; The write-back flusher (mm/page-writeback.c: write_cache_pages over the file's mapping).
; Each pass writes every dirty page; when VMXMON is done and a pass found nothing dirty, it
; waits for write-back to end, COMMITs, and exits (like fsync).
flusher:
.pass:
    mov r9, 0                   ; pages written in this pass
    mov r1, 0
.each_page:
    call nfs_writepage          ; r1 = page index
    add r1, 1
    blt r1, NPAGES, .each_page
    ld r2, [vmx_done]
    jz r2, .again
    jz r9, .sync
.again:
    msleep FLUSH_INTERVAL       ; the flusher thread sleeps until its next period
    jmp .pass
.sync:
    call filemap_fdatawait
    call nfs_commit_inode
    halt

; nfs_writepage(r1 = index): lock the page, write it if dirty, unlock it.
; r3 = the page's offset from page0, r4 = its request's offset from req0 (kept by callees)
nfs_writepage:
    mul r3, r1, PAGE_STRIDE
    mul r4, r1, REQ_STRIDE
    lock_page [r3 + page0.flags]
    test_bit r2, PG_dirty, [r3 + page0.flags]
    jz r2, .unlock
    call nfs_page_async_flush
    add r9, 1
.unlock:
    unlock_page [r3 + page0.flags]
    ret

; nfs_page_async_flush (fs/nfs/write.c): the request must not be waiting for a COMMIT while the
; page is dirty: NFS clears PG_CLEAN whenever *it* redirties a page. Checked under the i_lock.
nfs_page_async_flush:
    call nfs_find_and_lock_request                        ; returns holding inode.i_lock
    test_bit r2, PG_CLEAN, [r4 + req0.wb_flags]
    bug_on r2, "kernel BUG at fs/nfs/write.c:297! BUG_ON(test_bit(PG_CLEAN, &req->wb_flags))"
    spin_unlock [inode.i_lock]
    test_and_clear_bit r2, PG_dirty, [r3 + page0.flags]   ; clear_page_dirty_for_io
    set_bit PG_writeback, [r3 + page0.flags]               ; set_page_writeback
    ld r5, [r3 + page0.data]
    ld r6, [r3 + page0.data + 1]
    send nfs_call, NFSPROC_WRITE, r1, r5, r6              ; an UNSTABLE WRITE to the server
    ret

; nfs_find_and_lock_request: under the inode's i_lock, take the request's PG_BUSY; if a WRITE is
; still in flight, drop the lock, sleep until it completes and try again. Returns holding i_lock.
nfs_find_and_lock_request:
.retry:
    spin_lock [inode.i_lock]
    test_and_set_bit r2, PG_BUSY, [r4 + req0.wb_flags]   ; nfs_lock_request
    jz r2, .locked
    spin_unlock [inode.i_lock]
    msleep 20                                           ; nfs_wait_on_request
    jmp .retry
.locked:
    ret

; filemap_fdatawait: sleep until no page is under write-back.
filemap_fdatawait:
    mov r1, 0
.each:
    mul r3, r1, PAGE_STRIDE
.wait:
    test_bit r2, PG_writeback, [r3 + page0.flags]
    jz r2, .next
    msleep 50
    jmp .wait
.next:
    add r1, 1
    blt r1, NPAGES, .each
    ret

; nfs_commit_inode: send a COMMIT for every request awaiting one, then sleep until all are done.
; The requests' flags are read under the inode's i_lock, as nfs_scan_commit does.
nfs_commit_inode:
    mov r1, 0
.each:
    mul r4, r1, REQ_STRIDE
    spin_lock [inode.i_lock]
    test_bit r2, PG_CLEAN, [r4 + req0.wb_flags]
    spin_unlock [inode.i_lock]
    jz r2, .next
    send nfs_call, NFSPROC_COMMIT, r1
.next:
    add r1, 1
    blt r1, NPAGES, .each
    mov r1, 0
.wait:
    mul r4, r1, REQ_STRIDE
    spin_lock [inode.i_lock]
    test_bit r2, PG_CLEAN, [r4 + req0.wb_flags]
    spin_unlock [inode.i_lock]
    jz r2, .committed
    msleep 50
    jmp .wait
.committed:
    add r1, 1
    blt r1, NPAGES, .wait
    ret

; ---------------------------------------------------------------------------------------------
; rpciod (net/sunrpc/sched.c): runs the RPC completions as replies arrive from the server.
rpciod:
.loop:
    recv nfs_reply, r1, r2          ; r1 = procedure, r2 = page index
    mul r3, r2, PAGE_STRIDE
    mul r4, r2, REQ_STRIDE
    beq r1, NFSPROC_COMMIT, .commit
    call nfs_writeback_done
    jmp .loop
.commit:
    call nfs_commit_done
    jmp .loop

; nfs_writeback_done -> nfs_write_completion (fs/nfs/write.c), under the inode's i_lock with
; preemption disabled: if the page was redirtied while the WRITE was in flight, the request will
; be written again; otherwise it now awaits a COMMIT (PG_CLEAN). Then end write-back and unlock
; the request.
nfs_writeback_done:
    spin_lock [inode.i_lock]
    test_bit r5, PG_dirty, [r3 + page0.flags]
    jnz r5, .redirtied
    set_bit PG_CLEAN, [r4 + req0.wb_flags]     ; nfs_mark_request_commit
    ld r6, [inode.nr_commit]
    add r6, 1
    st [inode.nr_commit], r6
.redirtied:
    clear_bit PG_writeback, [r3 + page0.flags]  ; end_page_writeback
    clear_bit PG_BUSY, [r4 + req0.wb_flags]     ; nfs_unlock_request
    spin_unlock [inode.i_lock]
    ret

; nfs_commit_done -> nfs_commit_release: the server's copy is stable; release the request.
nfs_commit_done:
    spin_lock [inode.i_lock]
    clear_bit PG_CLEAN, [r4 + req0.wb_flags]
    spin_unlock [inode.i_lock]
    ret

; ---------------------------------------------------------------------------------------------
; __set_page_dirty_nobuffers (mm/page-writeback.c): the generic way to dirty a page. It takes the
; mapping's tree_lock, NOT the NFS inode's i_lock, so it cannot clear PG_CLEAN atomically with
; rpciod's decision to set it: it only drops a request's PG_CLEAN when no WRITE is in flight,
; trusting the completion to notice PG_dirty otherwise.
__set_page_dirty_nobuffers:
    spin_lock [mapping.tree_lock]
    test_bit r5, PG_BUSY, [r4 + req0.wb_flags]
    jnz r5, .in_flight
    clear_bit PG_CLEAN, [r4 + req0.wb_flags]
.in_flight:
    set_bit PG_dirty, [r3 + page0.flags]
    ld r6, [mapping.nrdirty]
    add r6, 1
    st [mapping.nrdirty], r6
    spin_unlock [mapping.tree_lock]
    ret
