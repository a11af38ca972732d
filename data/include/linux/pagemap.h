/* linux/pagemap.h: page locking; lock_page and unlock_page are defined by the code under test
 * (mm/filemap.c), as in the kernel. */
#ifndef _LINUX_PAGEMAP_H
#define _LINUX_PAGEMAP_H
#include <linux/mm.h>

void lock_page(struct page *page);
int trylock_page(struct page *page);
void unlock_page(struct page *page);
#endif
