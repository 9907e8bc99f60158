/*
 * coro.h: stackful coroutines for the loop thread.
 *
 * A coroutine runs a C function on its own mmap'd stack (guard page below
 * it) and can suspend itself with coro_yield(), returning control to the
 * code that called coro_resume(). Stacks come from a pool and are handed
 * out only to coroutines that exist, so queued work costs no stack.
 *
 * Thread context: every function here is for one thread only (the loop
 * thread). Coroutines never switch to one another directly: only the
 * "main" context (plain thread stack) resumes a coroutine, and a coroutine
 * only yields back to it. Resuming from inside a coroutine is a bug.
 *
 * The switch is a hand-written register swap on x86_64 and aarch64
 * (~10 ns); build with -DCORO_UCONTEXT to use glibc's swapcontext instead
 * (portable, but it makes a sigprocmask syscall per switch).
 */
#ifndef CORO_H
#define CORO_H

#include <stdbool.h>
#include <stddef.h>

struct coro;
struct coro_pool;

/* The body of a coroutine; when it returns, the coroutine is done. */
typedef void (*coro_fn)(void *arg);

/*
 * Creates a stack pool. stack_size is rounded up to whole pages (minimum
 * 16 KiB) and excludes the guard page; max_cached freed stacks are kept for
 * reuse, more are unmapped. Returns 0 or ENOMEM/EINVAL.
 */
int	coro_pool_create(struct coro_pool **out, size_t stack_size,
	    size_t max_cached);
/* Frees a pool; every coroutine created from it must be freed first. */
void	coro_pool_free(struct coro_pool *pool);
/* Stacks currently handed to coroutines (live), and cached (idle). */
size_t	coro_pool_live(const struct coro_pool *pool);
size_t	coro_pool_cached(const struct coro_pool *pool);
size_t	coro_pool_stack_size(const struct coro_pool *pool);

/*
 * Creates a coroutine that will run fn(arg) on a stack from the pool. It
 * does not start until the first coro_resume(). Returns 0, or ENOMEM when
 * no stack can be mapped (for example past vm.max_map_count).
 */
int	coro_create(struct coro **out, struct coro_pool *pool, coro_fn fn,
	    void *arg);
/*
 * Runs c until it yields or its function returns. Main context only.
 * Returns true if c is still alive (it yielded), false if it finished.
 * Resuming a finished coroutine is a bug (asserts).
 */
bool	coro_resume(struct coro *c);
/* Suspends the running coroutine; returns when it is next resumed. */
void	coro_yield(void);
/* The running coroutine, or NULL in the main context. */
struct coro *coro_current(void);
/* True once the coroutine's function has returned. */
bool	coro_done(const struct coro *c);
/*
 * Frees a coroutine that is done or was never resumed, and gives its stack
 * back to the pool. Freeing a suspended coroutine is allowed too: its stack
 * is discarded without unwinding, so the caller must know nothing on it
 * owns memory. Main context only.
 */
void	coro_free(struct coro *c);

#endif /* CORO_H */
