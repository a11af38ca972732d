/* linux/mutex.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_MUTEX_H
#define _LINUX_MUTEX_H
#include <revtrace/kernel.h>
#endif
