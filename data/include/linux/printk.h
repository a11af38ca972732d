/* linux/printk.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_PRINTK_H
#define _LINUX_PRINTK_H
#include <revtrace/kernel.h>
#endif
