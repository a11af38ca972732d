/* linux/preempt.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_PREEMPT_H
#define _LINUX_PREEMPT_H
#include <revtrace/kernel.h>
#endif
