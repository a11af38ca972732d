/*
 * linux/mm_types.h: struct page. The model keeps a page's contents in the page itself
 * (PAGE_WORDS words of data, 2 unless defined before this header) instead of behind kmap().
 */
#ifndef _LINUX_MM_TYPES_H
#define _LINUX_MM_TYPES_H
#include <revtrace/kernel.h>

#ifndef PAGE_WORDS
#define PAGE_WORDS 2
#endif

struct page {
	unsigned long flags;		/* PG_* bits, see page-flags.h */
	pgoff_t index;			/* our offset within the file */
	unsigned long private;		/* the filesystem's: NFS keeps its struct nfs_page here */
	unsigned long data[PAGE_WORDS];	/* the page's contents */
};

#endif
