/* race_counter: counter++ without a lock, N times, in each of two threads. */
#include <linux/sched.h>

long counter;

void worker(void)
{
	long i;

	for (i = 0; i < N; i++) {
		counter++;		/* a load and a store: another core may write in between */
		cond_resched();
	}
}
