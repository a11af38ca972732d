/* linux/delay.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_DELAY_H
#define _LINUX_DELAY_H
#include <revtrace/kernel.h>
#endif
