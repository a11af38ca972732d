; server.s: the NFS server machine. nfsd stores each UNSTABLE WRITE into its copy of the file
; and replies; a COMMIT makes the data stable and is acknowledged.
.include "nfs.inc"

.object server_page0, server_page
.object server_page1, server_page
.object server_page2, server_page
.object server_page3, server_page

.equ SERVER_STRIDE, server_page1 - server_page0

nfsd:
.loop:
    recv nfs_call, r1, r2, r3, r4       ; procedure, page index, data words
    beq r1, NFSPROC_COMMIT, .commit
    call nfsd3_proc_write
    jmp .loop
.commit:
    delay COMMIT_COST                   ; nfsd3_proc_commit: fsync on the server's disk
    send nfs_reply, NFSPROC_COMMIT, r2
    jmp .loop

; nfsd3_proc_write: store the data, reply
nfsd3_proc_write:
    mul r5, r2, SERVER_STRIDE
    st [r5 + server_page0.data], r3
    st [r5 + server_page0.data + 1], r4
    delay WRITE_COST
    send nfs_reply, NFSPROC_WRITE, r2
    ret
