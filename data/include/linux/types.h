/* linux/types.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H
#include <revtrace/kernel.h>
#endif
