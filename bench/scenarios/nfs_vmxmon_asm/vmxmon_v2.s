; vmxmon_v2.s (v2): the VMXMON ioctl after the one-line change: it marks the page dirty while it
; holds the page lock, so the data reaches the server, but through the generic
; __set_page_dirty_nobuffers, which does not take NFS's i_lock.
.include "nfs.inc"

vmx_user:
    mov r8, 0                       ; round
.round:
    mov r1, 0
.each_page:
    call vmx_ioctl_write            ; r1 = page index, r8 = round
    msleep VMX_INTERVAL
    add r1, 1
    blt r1, NPAGES, .each_page
    add r8, 1
    blt r8, ROUNDS, .round
    st [vmx_done], 1
    halt

; the ioctl: r1 = page index; writes 1000 * (round + 1) + index into the page's data words
vmx_ioctl_write:
    kernel_enter
    mul r3, r1, PAGE_STRIDE
    mul r4, r1, REQ_STRIDE
    lock_page [r3 + page0.flags]        ; get_user_pages + lock_page
    add r7, r8, 1
    mul r7, r7, 1000
    add r7, r7, r1
    st [r3 + page0.data], r7
    st [r3 + page0.data + 1], r7
    call __set_page_dirty_nobuffers
    unlock_page [r3 + page0.flags]
    kernel_exit
    ret
