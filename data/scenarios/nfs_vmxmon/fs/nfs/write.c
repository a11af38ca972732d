/*
 * fs/nfs/write.c: NFS's write path on the client (a RHEL 6-era kernel): one struct nfs_page
 * per page, written with UNSTABLE WRITEs and made stable with a COMMIT.
 */
#include <linux/nfs_page.h>

struct nfs_inode inode;

struct nfs_page req0 = { .wb_index = 0 };
struct nfs_page req1 = { .wb_index = 1 };
struct nfs_page req2 = { .wb_index = 2 };
struct nfs_page req3 = { .wb_index = 3 };

/*
 * nfs_find_and_lock_request(): under the inode's i_lock, take the request's PG_BUSY; if a WRITE
 * is still in flight, drop the lock, sleep until it completes and try again. Returns with the
 * i_lock held.
 */
static struct nfs_page *nfs_find_and_lock_request(struct page *page)
{
	struct nfs_page *req;

	for (;;) {
		spin_lock(&inode.i_lock);
		req = nfs_page_find_request(page);
		if (!test_and_set_bit(PG_BUSY, &req->wb_flags))	/* nfs_lock_request */
			return req;
		spin_unlock(&inode.i_lock);
		msleep(20);					/* nfs_wait_on_request */
	}
}

/*
 * nfs_page_async_flush(): the request must not be waiting for a COMMIT while the page is dirty:
 * NFS clears PG_CLEAN whenever *it* redirties a page. Checked under the i_lock.
 */
static void nfs_page_async_flush(struct page *page)
{
	struct nfs_page *req = nfs_find_and_lock_request(page);

	BUG_ON(test_bit(PG_CLEAN, &req->wb_flags));
	spin_unlock(&inode.i_lock);
	clear_page_dirty_for_io(page);
	set_bit(PG_writeback, &page->flags);		/* set_page_writeback */
	rt_send(nfs_call, NFSPROC_WRITE, page->index, page->data[0], page->data[1]);	/* UNSTABLE */
}

/* nfs_writepage(): lock the page, write it if dirty, unlock it; 1 if it was written */
int nfs_writepage(struct page *page)
{
	int written = 0;

	lock_page(page);
	if (test_bit(PG_dirty, &page->flags)) {
		nfs_page_async_flush(page);
		written = 1;
	}
	unlock_page(page);
	return written;
}

/*
 * nfs_writeback_done() -> nfs_write_completion(), run by rpciod under the inode's i_lock with
 * preemption disabled: if the page was redirtied while the WRITE was in flight, the request will
 * be written again; otherwise it now awaits a COMMIT (PG_CLEAN). Then end write-back and unlock
 * the request.
 */
void nfs_writeback_done(struct page *page)
{
	struct nfs_page *req = nfs_page_find_request(page);

	spin_lock(&inode.i_lock);
	if (!test_bit(PG_dirty, &page->flags)) {
		set_bit(PG_CLEAN, &req->wb_flags);	/* nfs_mark_request_commit */
		inode.nr_commit++;
	}
	clear_bit(PG_writeback, &page->flags);		/* end_page_writeback */
	clear_bit(PG_BUSY, &req->wb_flags);		/* nfs_unlock_request */
	spin_unlock(&inode.i_lock);
}

/* nfs_commit_done() -> nfs_commit_release(): the server's copy is stable; release the request */
void nfs_commit_done(struct page *page)
{
	struct nfs_page *req = nfs_page_find_request(page);

	spin_lock(&inode.i_lock);
	clear_bit(PG_CLEAN, &req->wb_flags);
	spin_unlock(&inode.i_lock);
}

/* is the request waiting for a COMMIT? (the flags are read under the i_lock, as nfs_scan_commit does) */
static int nfs_request_needs_commit(struct nfs_inode *nfsi, struct nfs_page *req)
{
	int clean;

	spin_lock(&nfsi->i_lock);
	clean = test_bit(PG_CLEAN, &req->wb_flags);
	spin_unlock(&nfsi->i_lock);
	return clean;
}

/* nfs_commit_inode(): send a COMMIT for every request awaiting one, then sleep until all are done */
int nfs_commit_inode(struct nfs_inode *nfsi)
{
	pgoff_t index;

	for (index = 0; index < NPAGES; index++)
		if (nfs_request_needs_commit(nfsi, nfs_page_find_request(page_cache[index])))
			rt_send(nfs_call, NFSPROC_COMMIT, index);
	for (index = 0; index < NPAGES; index++)
		while (nfs_request_needs_commit(nfsi, nfs_page_find_request(page_cache[index])))
			msleep(50);
	return 0;
}
