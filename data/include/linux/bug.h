/* linux/bug.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_BUG_H
#define _LINUX_BUG_H
#include <revtrace/kernel.h>
#endif
