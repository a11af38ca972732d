/* linux/compiler.h: see <revtrace/kernel.h>, which declares the kernel API of revtrace's C subset. */
#ifndef _LINUX_COMPILER_H
#define _LINUX_COMPILER_H
#include <revtrace/kernel.h>
#endif
