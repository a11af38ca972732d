/* locked_counter: counter++ under counter_lock, N times, in each of two threads. */
#include <linux/spinlock.h>
#include <linux/sched.h>

DEFINE_SPINLOCK(counter_lock);
long counter;

void worker(void)
{
	long i;

	for (i = 0; i < N; i++) {
		spin_lock(&counter_lock);
		counter++;
		spin_unlock(&counter_lock);
		cond_resched();
	}
}
