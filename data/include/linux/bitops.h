/* linux/bitops.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_BITOPS_H
#define _LINUX_BITOPS_H
#include <revtrace/kernel.h>
#endif
