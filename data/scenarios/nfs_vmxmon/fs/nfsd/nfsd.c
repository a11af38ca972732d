/*
 * fs/nfsd/nfsd.c: the NFS server machine. nfsd stores each UNSTABLE WRITE into its copy of the
 * file and replies; a COMMIT makes the data stable (an fsync on the server's disk) and is
 * acknowledged.
 */
#include <linux/nfs_page.h>

struct server_page {
	unsigned long data[PAGE_WORDS];
};

struct server_page server_page0, server_page1, server_page2, server_page3;
struct server_page *server_pages[NPAGES] = { &server_page0, &server_page1, &server_page2, &server_page3 };

/* nfsd3_proc_write(): store the data, reply */
static void nfsd3_proc_write(unsigned long index, unsigned long d0, unsigned long d1)
{
	struct server_page *sp = server_pages[index];

	sp->data[0] = d0;
	sp->data[1] = d1;
	udelay(WRITE_COST);
	rt_send(nfs_reply, NFSPROC_WRITE, index);
}

void nfsd(void)
{
	for (;;) {
		unsigned long proc, index, d0, d1;

		rt_recv(nfs_call, &proc, &index, &d0, &d1);
		if (proc == NFSPROC_COMMIT) {
			udelay(COMMIT_COST);	/* nfsd3_proc_commit: fsync on the server's disk */
			rt_send(nfs_reply, NFSPROC_COMMIT, index);
		} else {
			nfsd3_proc_write(index, d0, d1);
		}
	}
}
