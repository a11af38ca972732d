/* linux/atomic.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_ATOMIC_H
#define _LINUX_ATOMIC_H
#include <revtrace/kernel.h>
#endif
