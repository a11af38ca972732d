/*
 * include/linux/nfs_page.h: the shapes shared by the NFS client and server of this scenario:
 * struct nfs_page (NFS's write request for one page) and its flag bits, the client's inode and
 * address_space, the RPC procedures on the wire.
 */
#ifndef _LINUX_NFS_PAGE_H
#define _LINUX_NFS_PAGE_H

#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/spinlock.h>

/* wb_flags bits. Numbered apart from the page flags, so that a changed bit of any flags word
 * decodes to exactly one name. */
#define PG_BUSY		8	/* nfs_lock_request(): the request is locked, a WRITE is in flight */
#define PG_CLEAN	9	/* the WRITE is done (UNSTABLE); the request awaits a COMMIT */

/* RPC procedures */
#define NFSPROC_WRITE	1
#define NFSPROC_COMMIT	2

#define NPAGES		4	/* pages of the shared, mmap-ed file */

struct nfs_page {
	unsigned long wb_flags;
	pgoff_t wb_index;
};

struct nfs_inode {
	spinlock_t i_lock;		/* protects the requests' wb_flags */
	unsigned long nr_commit;	/* statistics: requests ever marked for COMMIT */
};

struct address_space {
	spinlock_t tree_lock;		/* what the generic set_page_dirty path takes */
	unsigned long nrdirty;
};

/* the client's page cache of the file (mm/page-writeback.c) and NFS's state (fs/nfs/write.c) */
extern struct page *page_cache[NPAGES];
extern struct address_space mapping;
extern struct nfs_inode inode;
extern long vmx_done;

/* mm/page-writeback.c */
int __set_page_dirty_nobuffers(struct page *page);
int clear_page_dirty_for_io(struct page *page);
void filemap_fdatawait(struct address_space *mapping);

/* fs/nfs/write.c */
int nfs_writepage(struct page *page);
int nfs_commit_inode(struct nfs_inode *nfsi);
void nfs_writeback_done(struct page *page);
void nfs_commit_done(struct page *page);

/* the request of a page with PG_private set (as nfs_page_find_request_locked finds it) */
#define page_private(page)		((page)->private)
#define nfs_page_find_request(page)	((struct nfs_page *)page_private(page))

#endif
