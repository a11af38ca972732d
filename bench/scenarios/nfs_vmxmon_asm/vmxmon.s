; vmxmon.s (v1): the VMXMON kernel module's ioctl, entered by a simulator's user thread. It
; pins a page of the shared file and writes the guest's data into it, ROUNDS times over every
; page. v1 never marks the page dirty: its data never reaches the server.
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
    unlock_page [r3 + page0.flags]
    kernel_exit
    ret
