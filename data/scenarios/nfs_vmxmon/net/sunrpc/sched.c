/* net/sunrpc/sched.c: rpciod runs the RPC completions as the server's replies arrive. */
#include <linux/nfs_page.h>

void rpciod(void)
{
	for (;;) {
		unsigned long proc, index;

		rt_recv(nfs_reply, &proc, &index);
		if (proc == NFSPROC_COMMIT)
			nfs_commit_done(page_cache[index]);
		else
			nfs_writeback_done(page_cache[index]);
	}
}
