/* linux/mm.h: struct page and its flags; set_page_dirty and friends are the filesystem's. */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H
#include <revtrace/kernel.h>
#include <linux/mm_types.h>
#include <linux/page-flags.h>
#endif
