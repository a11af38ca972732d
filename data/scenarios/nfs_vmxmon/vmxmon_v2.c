/*
 * vmxmon.c: the VMXMON kernel module's ioctl, entered by a simulator's user thread. It pins a
 * page of the shared file and writes the guest's data into it, ROUNDS times over every page.
 * v1 never marks the page dirty: its data never reaches the server. v2 (vmxmon_v2.c) adds one
 * line that marks it dirty while it holds the page lock, through the generic
 * __set_page_dirty_nobuffers, which does not take NFS's i_lock.
 */
#include <linux/nfs_page.h>

/* the ioctl: writes 1000 * (round + 1) + index into the page's data words */
void vmx_ioctl_write(struct page *page, long round)
{
	unsigned long value = 1000 * (round + 1) + page->index;

	lock_page(page);			/* get_user_pages + lock_page */
	page->data[0] = value;
	page->data[1] = value;
	__set_page_dirty_nobuffers(page);
	unlock_page(page);
}

/* the simulator's user thread: one ioctl per page and round */
void vmx_user(void)
{
	long round;
	pgoff_t index;

	for (round = 0; round < ROUNDS; round++) {
		for (index = 0; index < NPAGES; index++) {
			rt_kernel_enter();		/* ioctl(fd, VMX_WRITE, ...) */
			vmx_ioctl_write(page_cache[index], round);
			rt_kernel_exit();
			msleep(VMX_INTERVAL);
		}
	}
	WRITE_ONCE(vmx_done, 1);
}
