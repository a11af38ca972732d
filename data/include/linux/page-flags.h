/*
 * linux/page-flags.h: the page flag bits of page->flags. The numbering is this model's (the
 * kernel's enum pageflags orders them differently); each is one bit of the flags word and a named
 * bit in every query.
 */
#ifndef _LINUX_PAGE_FLAGS_H
#define _LINUX_PAGE_FLAGS_H
#include <revtrace/kernel.h>

enum pageflags {
	PG_locked,	/* page is locked: lock_page() holds it for I/O and truncation */
	PG_uptodate,	/* page contents are valid */
	PG_dirty,	/* page has been written to and must be written back */
	PG_writeback,	/* page is under writeback I/O */
	PG_private,	/* page->private is used by the filesystem */
	PG_referenced,	/* page was accessed recently */
	PG_lru,		/* page is on an LRU list */
	PG_error,	/* an I/O error occurred on this page */
};

#endif
