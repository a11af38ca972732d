/*
 * revtrace/kernel.h: the kernel API of revtrace's C subset, in one header.
 *
 * Every scalar is one 64-bit word and sizeof counts words. The functions declared here are
 * built into the compiler (sim/c/kernel_api.py): each call becomes the instruction with the
 * kernel's semantics (spin_lock takes the lock word and disables preemption, set_bit is a locked
 * read-modify-write, READ_ONCE is a marked load, ...). The static inline functions at the end are
 * ordinary C built on them. The linux/ headers include this one, so kernel code keeps its
 * #include lines.
 */
#ifndef _REVTRACE_KERNEL_H
#define _REVTRACE_KERNEL_H

/* ---- types (include/linux/types.h) ---- */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long s64;
typedef unsigned long size_t;
typedef long ssize_t;
typedef long loff_t;
typedef long pid_t;
typedef unsigned long uintptr_t;
typedef long intptr_t;
typedef long ptrdiff_t;
typedef _Bool bool;
typedef unsigned long pgoff_t;
typedef unsigned int gfp_t;
#define true 1
#define false 0
#define NULL ((void *)0)

/* ---- compiler.h ---- */
#define likely(x) (x)
#define unlikely(x) (x)
#define __always_inline inline
#define noinline
#define __must_check
#define __init
#define __exit
#define __user
#define __iomem
#define __rcu
#define __read_mostly
#define __maybe_unused
#define BITS_PER_LONG 64
#define BIT(nr) (1UL << (nr))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
/* printk and friends print nothing here; their arguments are not evaluated */
#define printk(...) do { } while (0)
#define pr_info(...) do { } while (0)
#define pr_err(...) do { } while (0)
#define pr_warn(...) do { } while (0)
#define pr_debug(...) do { } while (0)
#define dev_err(...) do { } while (0)

/* ---- marked accesses and barriers (compiler.h, asm/barrier.h) ---- */
/* READ_ONCE(x), WRITE_ONCE(x, v): one marked access to x (an lvalue, as in the kernel) */
void barrier(void);
void smp_mb(void);
void smp_rmb(void);
void smp_wmb(void);
void mb(void);
void rmb(void);
void wmb(void);
void smp_mb__before_atomic(void);
void smp_mb__after_atomic(void);
/* smp_load_acquire(p), smp_store_release(p, v): acquire load / release store of *p */

/* ---- spinlocks and preemption (spinlock.h, preempt.h) ---- */
typedef long spinlock_t;           /* 0: unlocked, 1: locked */
typedef long raw_spinlock_t;
#define DEFINE_SPINLOCK(x) spinlock_t x = 0
#define __SPIN_LOCK_UNLOCKED(x) 0
void spin_lock_init(spinlock_t *lock);
void spin_lock(spinlock_t *lock);          /* preempt_disable, then spin until taken (acquire) */
void spin_unlock(spinlock_t *lock);        /* release, then preempt_enable */
int spin_trylock(spinlock_t *lock);        /* 1 and held, or 0 */
void spin_lock_bh(spinlock_t *lock);
void spin_unlock_bh(spinlock_t *lock);
void spin_lock_irq(spinlock_t *lock);
void spin_unlock_irq(spinlock_t *lock);
void raw_spin_lock(raw_spinlock_t *lock);
void raw_spin_unlock(raw_spinlock_t *lock);
/* spin_lock_irqsave(lock, flags) and spin_unlock_irqrestore(lock, flags): flags is an lvalue
 * (interrupts are not modelled; flags is set to 0) */
void preempt_disable(void);
void preempt_enable(void);
void local_irq_disable(void);              /* interrupts are not modelled: preempt_disable */
void local_irq_enable(void);

/* ---- bit operations (bitops.h) ---- */
int test_bit(long nr, const volatile unsigned long *addr);    /* a plain read */
void set_bit(long nr, volatile unsigned long *addr);          /* atomic */
void clear_bit(long nr, volatile unsigned long *addr);        /* atomic */
int test_and_set_bit(long nr, volatile unsigned long *addr);  /* atomic */
int test_and_clear_bit(long nr, volatile unsigned long *addr);
int test_and_set_bit_lock(long nr, volatile unsigned long *addr);  /* acquire when it takes the bit */
void clear_bit_unlock(long nr, volatile unsigned long *addr);      /* release */
void __set_bit(long nr, volatile unsigned long *addr);        /* plain load and store: NOT atomic */
void __clear_bit(long nr, volatile unsigned long *addr);
void __change_bit(long nr, volatile unsigned long *addr);

/* ---- atomics (atomic.h); atomic_long_* and atomic64_* are the same operations ---- */
typedef long atomic_t;
typedef long atomic_long_t;
typedef long atomic64_t;
#define ATOMIC_INIT(i) (i)
#define ATOMIC_LONG_INIT(i) (i)
long atomic_read(const atomic_t *v);       /* a marked load */
void atomic_set(atomic_t *v, long i);      /* a marked store */
void atomic_inc(atomic_t *v);
void atomic_dec(atomic_t *v);
void atomic_add(long i, atomic_t *v);
void atomic_sub(long i, atomic_t *v);
long atomic_add_return(long i, atomic_t *v);
long atomic_sub_return(long i, atomic_t *v);
long atomic_inc_return(atomic_t *v);
long atomic_dec_return(atomic_t *v);
long atomic_fetch_add(long i, atomic_t *v);
long atomic_fetch_sub(long i, atomic_t *v);
int atomic_dec_and_test(atomic_t *v);
int atomic_inc_and_test(atomic_t *v);
int atomic_sub_and_test(long i, atomic_t *v);
long atomic_cmpxchg(atomic_t *v, long old, long new);
long atomic_xchg(atomic_t *v, long new);
/* cmpxchg(ptr, old, new) and xchg(ptr, new) work on any word */

/* ---- sleeping locks, waits and scheduling (mutex.h, wait.h, completion.h, sched.h, delay.h) ---- */
struct mutex { unsigned long owner; };      /* bit 0: held */
#define DEFINE_MUTEX(m) struct mutex m = { 0 }
void mutex_init(struct mutex *lock);
void mutex_lock(struct mutex *lock);       /* sleeps (msleep(1) and retry) while another holds it */
int mutex_trylock(struct mutex *lock);
void mutex_unlock(struct mutex *lock);

typedef unsigned long wait_queue_head_t;   /* bit t: thread t waits */
#define DECLARE_WAIT_QUEUE_HEAD(w) wait_queue_head_t w = 0
void init_waitqueue_head(wait_queue_head_t *wq);

void cpu_relax(void);                      /* the spin-wait hint (pause) */
void cond_resched(void);                   /* a voluntary preemption point */
void schedule(void);                       /* sleep until woken (a wake-up already sent counts) */
void wake_up_process(long thread);
void msleep(unsigned long ticks);          /* sleep: the thread frees its core */
void schedule_timeout(unsigned long ticks);
void udelay(unsigned long cycles);         /* busy-wait: the core stays busy */
void ndelay(unsigned long cycles);
void mdelay(unsigned long cycles);
long rt_current(void);                     /* this thread's id */
#define current rt_current()
long smp_processor_id(void);               /* this core's number on its machine */
long raw_smp_processor_id(void);
void might_sleep(void);

/* ---- assertions (bug.h) ---- */
/* BUG_ON(cond): panic the machine with "kernel BUG at file:line! BUG_ON(cond)" if cond.
 * BUG(): panic. WARN_ON(cond): if cond, count one warning in the machine's `<machine>_warnings`
 * word (recorded, not fatal); its value is cond. assert(cond): BUG unless cond. */

/* ---- revtrace: threads, user mode, messages between machines ---- */
void rt_spawn(long thread);                /* start a thread declared with start = false */
void rt_exit(void);                        /* this thread exits (also: returning from its entry) */
void rt_kernel_enter(void);                /* a user thread enters the kernel (syscall, ioctl) */
void rt_kernel_exit(void);
/* rt_send(port, up to 4 words); rt_recv(port, up to 4 pointers): block until a message arrives */

/* ---- wait queues and completions, in C on top of the above ---- */
#define wait_event(wq, condition)                                   \
	do {                                                            \
		for (;;) {                                              \
			set_bit(current, &(wq));                        \
			if (condition)                                  \
				break;                                  \
			schedule();                                     \
		}                                                       \
		clear_bit(current, &(wq));                              \
	} while (0)
#define wait_event_interruptible(wq, condition) wait_event(wq, condition)

/* wake every thread waiting on wq (each re-checks its condition) */
static inline void wake_up(wait_queue_head_t *wq)
{
	unsigned long waiters = READ_ONCE(*wq);
	long t;

	for (t = 0; waiters; t++, waiters >>= 1)
		if (waiters & 1)
			wake_up_process(t);
}
#define wake_up_all(wq) wake_up(wq)
#define wake_up_interruptible(wq) wake_up(wq)

struct completion {
	unsigned long done;
	wait_queue_head_t wait;
};
#define DECLARE_COMPLETION(c) struct completion c = { 0, 0 }

static inline void init_completion(struct completion *x)
{
	WRITE_ONCE(x->done, 0);
	init_waitqueue_head(&x->wait);
}

static inline void complete(struct completion *x)
{
	atomic_inc(&x->done);
	wake_up(&x->wait);
}

static inline void complete_all(struct completion *x)
{
	atomic_set(&x->done, 1L << 40);
	wake_up(&x->wait);
}

/* take one completion if there is one (the kernel does this under the wait queue's lock) */
static inline long try_wait_for_completion(struct completion *x)
{
	long done = READ_ONCE(x->done);

	while (done > 0) {
		long seen = cmpxchg(&x->done, done, done - 1);
		if (seen == done)
			return 1;
		done = seen;
	}
	return 0;
}

/* sleep until complete() (a join when the other thread completes as it exits) */
static inline void wait_for_completion(struct completion *x)
{
	wait_event(x->wait, try_wait_for_completion(x));
}

#endif /* _REVTRACE_KERNEL_H */
