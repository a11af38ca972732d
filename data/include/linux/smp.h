/* linux/smp.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_SMP_H
#define _LINUX_SMP_H
#include <revtrace/kernel.h>
#endif
