/* linux/completion.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_COMPLETION_H
#define _LINUX_COMPLETION_H
#include <revtrace/kernel.h>
#endif
