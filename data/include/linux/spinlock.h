/* linux/spinlock.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_SPINLOCK_H
#define _LINUX_SPINLOCK_H
#include <revtrace/kernel.h>
#endif
