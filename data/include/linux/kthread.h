/* linux/kthread.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_KTHREAD_H
#define _LINUX_KTHREAD_H
#include <revtrace/kernel.h>
#endif
