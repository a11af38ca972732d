/* linux/wait.h: wait queues (wait_event, wake_up) live in <revtrace/kernel.h>. */
#ifndef _LINUX_WAIT_H
#define _LINUX_WAIT_H
#include <revtrace/kernel.h>
#endif
