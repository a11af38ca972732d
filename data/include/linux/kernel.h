/* linux/kernel.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H
#include <revtrace/kernel.h>
#endif
