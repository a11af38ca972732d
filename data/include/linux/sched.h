/* linux/sched.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H
#include <revtrace/kernel.h>
#endif
