/*
 * mm/page-writeback.c (and mm/filemap.c): the page cache of one mmap-ed NFS file, four pages
 * dirty at start (the simulators wrote them), page locking, dirtying, and the write-back
 * flusher thread that walks the mapping.
 */
#include <linux/nfs_page.h>

struct address_space mapping;
long vmx_done;			/* the VMXMON thread has finished its ioctls */

#define DIRTY_AT_START ((1UL << PG_dirty) | (1UL << PG_uptodate) | (1UL << PG_private))

extern struct nfs_page req0, req1, req2, req3;

struct page page0 = { .flags = DIRTY_AT_START, .index = 0, .private = (unsigned long)&req0, .data = { 100, 100 } };
struct page page1 = { .flags = DIRTY_AT_START, .index = 1, .private = (unsigned long)&req1, .data = { 101, 101 } };
struct page page2 = { .flags = DIRTY_AT_START, .index = 2, .private = (unsigned long)&req2, .data = { 102, 102 } };
struct page page3 = { .flags = DIRTY_AT_START, .index = 3, .private = (unsigned long)&req3, .data = { 103, 103 } };

struct page *page_cache[NPAGES] = { &page0, &page1, &page2, &page3 };

/* lock_page(): take PG_locked, sleeping while someone else holds it. Like the kernel's, it must
 * not be called with a spinlock held: the sleep would panic with "scheduling while atomic". */
void lock_page(struct page *page)
{
	while (test_and_set_bit_lock(PG_locked, &page->flags))
		msleep(1);
}

void unlock_page(struct page *page)
{
	clear_bit_unlock(PG_locked, &page->flags);
}

/*
 * __set_page_dirty_nobuffers(): the generic way to dirty a page. It takes the mapping's
 * tree_lock, NOT the NFS inode's i_lock, so it cannot clear PG_CLEAN atomically with rpciod's
 * decision to set it: it only drops a request's PG_CLEAN when no WRITE is in flight, trusting
 * the completion to notice PG_dirty otherwise.
 */
int __set_page_dirty_nobuffers(struct page *page)
{
	struct nfs_page *req = nfs_page_find_request(page);

	spin_lock(&mapping.tree_lock);
	if (!test_bit(PG_BUSY, &req->wb_flags))
		clear_bit(PG_CLEAN, &req->wb_flags);
	set_bit(PG_dirty, &page->flags);
	mapping.nrdirty++;
	spin_unlock(&mapping.tree_lock);
	return 1;
}

int clear_page_dirty_for_io(struct page *page)
{
	return test_and_clear_bit(PG_dirty, &page->flags);
}

/* filemap_fdatawait(): sleep until no page is under write-back. */
void filemap_fdatawait(struct address_space *mapping)
{
	pgoff_t index;

	for (index = 0; index < NPAGES; index++)
		while (test_bit(PG_writeback, &page_cache[index]->flags))
			msleep(50);
}

/*
 * The flusher thread (write_cache_pages over the file's mapping). Each pass writes every dirty
 * page; when VMXMON is done and a pass found nothing dirty, it waits for write-back to end,
 * COMMITs, and exits (like fsync).
 */
void flusher(void)
{
	for (;;) {
		long written = 0;
		pgoff_t index;

		for (index = 0; index < NPAGES; index++)
			written += nfs_writepage(page_cache[index]);
		if (READ_ONCE(vmx_done) && !written)
			break;
		msleep(FLUSH_INTERVAL);	/* the flusher sleeps until its next period */
	}
	filemap_fdatawait(&mapping);
	nfs_commit_inode(&inode);
}
