/*
 * coro.c: stackful coroutines on pooled, guarded mmap'd stacks.
 *
 * Design notes
 *
 * Each stack is one private anonymous mapping: a PROT_NONE guard page at the
 * bottom, then pool->stack_size usable bytes. The coroutine's own struct
 * lives at the very top of that mapping, above the first frame, so a
 * coroutine costs exactly one mmap and no malloc, and a cached stack is
 * simply a cached struct coro on the pool's free list. The stack grows down
 * from just below the struct towards the guard page, so an overflow faults
 * instead of corrupting a neighbour.
 *
 *	base                                                   base + len
 *	| guard page | stack, grows down <------ | struct coro |
 *	             ^ stack_lo                  ^ stack_lo + stack_len
 *
 * Only the main context resumes a coroutine and a coroutine only yields back
 * to it, so each struct coro holds both sides of its switch: its own saved
 * state and that of the main context that resumed it. The one piece of
 * global state is coro_running, the coroutine on the CPU (NULL in main).
 *
 * Backends. On x86_64 and aarch64 the switch is coro_switch() from
 * coro_switch_<arch>.S: it pushes the callee-saved registers (and the FP
 * control state) on the current stack, stores the stack pointer, loads the
 * other one and pops. A new coroutine gets a hand-made frame from
 * coro_switch_make() whose "return address" is the trampoline
 * coro_switch_start, which calls coro_entry(c). With -DCORO_UCONTEXT, or on
 * any other architecture, glibc's makecontext/swapcontext do the same job
 * at the cost of a sigprocmask system call per switch.
 *
 * Tools. AddressSanitizer keeps its own idea of the current stack, so every
 * switch is bracketed by __sanitizer_start_switch_fiber() on the old stack
 * and __sanitizer_finish_switch_fiber() on the new one, including the first
 * entry (in coro_entry) and the last exit of a finished coroutine (with a
 * NULL fake-stack slot, so ASan frees that fiber's fake stack). A coroutine
 * freed while suspended leaves poisoned redzones behind, so a stack is
 * unpoisoned whenever it is handed out again and before it is unmapped.
 * Valgrind is told about each stack with VALGRIND_STACK_REGISTER so it can
 * tell a switch from a huge stack frame.
 *
 * Thread context: the loop thread only; nothing here is locked.
 */

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro.h"

#if !defined(CORO_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define CORO_UCONTEXT
#endif

#ifdef CORO_UCONTEXT
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && \
    __has_include(<valgrind/memcheck.h>)
#define CORO_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif
#endif

/*
 * Smallest stack handed out. Below this a few libc calls (printf with
 * floating point needs several KiB) overflow into the guard page.
 */
#define CORO_STACK_MIN		(16 * 1024)

/*
 * Largest stack accepted. Far more than any coroutine should need, and it
 * keeps stack_size plus the guard page well clear of SIZE_MAX.
 */
#define CORO_STACK_MAX		((size_t)1 << 30)

/*
 * The struct at the top of each stack is padded to a cache line, which also
 * keeps the first frame below it 16-byte aligned as both ABIs require.
 */
#define CORO_HDR_ALIGN		64

enum coro_state {
	CORO_NEW,		/* created, never resumed */
	CORO_RUNNING,		/* on the CPU: coro_running points to it */
	CORO_SUSPENDED,		/* inside coro_yield() */
	CORO_DONE		/* its function has returned */
};

struct coro {
#ifdef CORO_UCONTEXT
	ucontext_t		 ctx;		/* ours, while suspended */
	ucontext_t		 caller;	/* main's, while we run */
#else
	void			*sp;		/* ours, while suspended */
	void			*caller_sp;	/* main's, while we run */
#endif
	enum coro_state		 state;
	coro_fn			 fn;
	void			*arg;

	struct coro_pool	*pool;
	char			*base;		/* the mapping, guard first */
	char			*stack_lo;	/* lowest usable stack byte */
	size_t			 stack_len;	/* usable bytes below us */
	struct coro		*next;		/* pool free list, if cached */
#ifdef CORO_VALGRIND
	unsigned		 vg_id;		/* VALGRIND_STACK_REGISTER */
#endif
#ifdef CORO_ASAN
	/* main's stack as ASan reported it when we were entered. */
	const void		*asan_main_lo;
	size_t			 asan_main_len;
#endif
};

struct coro_pool {
	size_t			 stack_size;	/* mapped bytes above guard */
	size_t			 page;
	size_t			 max_cached;
	size_t			 live;
	size_t			 cached;
	struct coro		*free;		/* cached stacks, LIFO */
};

/* Bytes taken from the top of each stack for its struct coro. */
#define CORO_HDR_SIZE \
	((sizeof(struct coro) + CORO_HDR_ALIGN - 1) & \
	    ~(size_t)(CORO_HDR_ALIGN - 1))

#ifndef CORO_UCONTEXT
/*
 * In coro_switch_<arch>.S. coro_switch_make() builds the first frame of a
 * coroutine below top (it aligns top down itself) so that coro_switch()
 * into it "returns" into a trampoline that calls fn(arg); it returns the
 * stack pointer to switch to. coro_switch() saves the callee-saved state on
 * the current stack, stores the stack pointer in *save_sp, and resumes the
 * context whose stack pointer is load_sp.
 */
void	*coro_switch_make(void *top, void (*fn)(void *), void *arg);
void	 coro_switch(void **save_sp, void *load_sp);
#endif

/* The coroutine on the CPU, or NULL when the main context runs. */
static struct coro	*coro_running;

/* Tell the tools that c's stack holds nothing live any more. */
static void
coro_stack_reset(struct coro *c)
{
#ifdef CORO_ASAN
	ASAN_UNPOISON_MEMORY_REGION(c->stack_lo, c->stack_len);
#endif
#ifdef CORO_VALGRIND
	/*
	 * Memcheck marks popped frames inaccessible, and a stack abandoned
	 * mid-run is in some unknown state: start the next owner from plain
	 * undefined memory, as if freshly mapped.
	 */
	VALGRIND_MAKE_MEM_UNDEFINED(c->stack_lo, c->stack_len);
#endif
	(void)c;
}

/* Maps a new guarded stack with a struct coro at its top. */
static int
coro_stack_map(struct coro_pool *pool, struct coro **out)
{
	struct coro	*c;
	char		*base;
	size_t		 len = pool->stack_size + pool->page;

	/*
	 * MAP_NORESERVE: stacks are mostly untouched, so don't charge their
	 * full size against overcommit. The kernel may say EAGAIN or ENOMEM
	 * (for example past vm.max_map_count); both mean "no stack".
	 */
	base = mmap(NULL, len, PROT_READ|PROT_WRITE,
	    MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return (ENOMEM);
	if (mprotect(base, pool->page, PROT_NONE) == -1) {
		munmap(base, len);
		return (ENOMEM);
	}

	c = (struct coro *)(base + len - CORO_HDR_SIZE);
	c->pool = pool;
	c->base = base;
	c->stack_lo = base + pool->page;
	c->stack_len = pool->stack_size - CORO_HDR_SIZE;
#ifdef CORO_VALGRIND
	c->vg_id = VALGRIND_STACK_REGISTER(c->stack_lo,
	    c->stack_lo + c->stack_len);
#endif
	*out = c;
	return (0);
}

/* Unmaps c's stack, and c with it. */
static void
coro_stack_unmap(struct coro *c)
{
	/* Leave no stale shadow for whatever is mapped here next. */
	coro_stack_reset(c);
#ifdef CORO_VALGRIND
	VALGRIND_STACK_DEREGISTER(c->vg_id);
#endif
	munmap(c->base, c->pool->stack_size + c->pool->page);
}

/*
 * Creates a pool. Besides ENOMEM, returns EINVAL if out is NULL, if
 * stack_size is 0 (almost surely an unset setting rather than a request
 * for the minimum), or if it is above CORO_STACK_MAX.
 */
int
coro_pool_create(struct coro_pool **out, size_t stack_size,
    size_t max_cached)
{
	struct coro_pool	*pool;
	long			 page;

	if (out == NULL || stack_size == 0 || stack_size > CORO_STACK_MAX)
		return (EINVAL);
	if ((page = sysconf(_SC_PAGESIZE)) <= 0)
		page = 4096;

	if (stack_size < CORO_STACK_MIN)
		stack_size = CORO_STACK_MIN;
	stack_size = (stack_size + (size_t)page - 1) & ~((size_t)page - 1);

	if ((pool = calloc(1, sizeof *pool)) == NULL)
		return (ENOMEM);
	pool->stack_size = stack_size;
	pool->page = (size_t)page;
	pool->max_cached = max_cached;
	*out = pool;
	return (0);
}

/* Frees a pool and unmaps its cached stacks. */
void
coro_pool_free(struct coro_pool *pool)
{
	struct coro	*c;

	if (pool == NULL)
		return;
	assert(pool->live == 0);
	while ((c = pool->free) != NULL) {
		pool->free = c->next;
		coro_stack_unmap(c);
	}
	free(pool);
}

size_t
coro_pool_live(const struct coro_pool *pool)
{
	return (pool->live);
}

size_t
coro_pool_cached(const struct coro_pool *pool)
{
	return (pool->cached);
}

size_t
coro_pool_stack_size(const struct coro_pool *pool)
{
	return (pool->stack_size);
}

/*
 * First code run on a new coroutine's stack, and the last: it runs the
 * function, then leaves for good.
 */
static void
coro_entry(void *arg)
{
	struct coro	*c = arg;

#ifdef CORO_ASAN
	/* No fake stack to restore yet; remember main's stack bounds. */
	__sanitizer_finish_switch_fiber(NULL, &c->asan_main_lo,
	    &c->asan_main_len);
#endif
	c->fn(c->arg);
	c->state = CORO_DONE;

#ifdef CORO_ASAN
	/* NULL: we never come back, so ASan frees our fake stack. */
	__sanitizer_start_switch_fiber(NULL, c->asan_main_lo,
	    c->asan_main_len);
#endif
#ifdef CORO_UCONTEXT
	setcontext(&c->caller);
#else
	coro_switch(&c->sp, c->caller_sp);
#endif
	/* Only reached if a finished coroutine is resumed with NDEBUG. */
	abort();
}

#ifdef CORO_UCONTEXT
/*
 * getcontext() is returns_twice, like setjmp(), which makes the compiler
 * distrust every local live across it; keep it out of coro_create(). The
 * context it fills is only ever entered through makecontext(), so it does
 * in fact return once. It copies the signal mask and FP environment.
 */
static void __attribute__((noinline))
coro_uc_get(ucontext_t *uc)
{
	/* It can only fail for bad arguments. */
	if (getcontext(uc) != 0)
		abort();
}

/* makecontext passes only ints, so the pointer comes in two halves. */
static void
coro_uc_entry(unsigned int hi, unsigned int lo)
{
	uintptr_t	p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;

	coro_entry((void *)p);
}
#endif

int
coro_create(struct coro **out, struct coro_pool *pool, coro_fn fn,
    void *arg)
{
	struct coro	*c;
	int		 error;

	assert(fn != NULL);
	if ((c = pool->free) != NULL) {
		pool->free = c->next;
		pool->cached--;
		coro_stack_reset(c);
	} else if ((error = coro_stack_map(pool, &c)) != 0)
		return (error);

	c->state = CORO_NEW;
	c->fn = fn;
	c->arg = arg;
	c->next = NULL;
#ifdef CORO_UCONTEXT
	{
		uintptr_t	p = (uintptr_t)c;

		coro_uc_get(&c->ctx);
		c->ctx.uc_stack.ss_sp = c->stack_lo;
		c->ctx.uc_stack.ss_size = c->stack_len;
		c->ctx.uc_link = NULL;
		makecontext(&c->ctx, (void (*)(void))coro_uc_entry, 2,
		    (unsigned int)(p >> 16 >> 16), (unsigned int)p);
	}
#else
	c->sp = coro_switch_make(c->stack_lo + c->stack_len, coro_entry, c);
#endif
	pool->live++;
	*out = c;
	return (0);
}

bool
coro_resume(struct coro *c)
{
#ifdef CORO_ASAN
	void	*fake;
#endif

	assert(coro_running == NULL);	/* resumed from inside a coroutine */
	assert(c->state == CORO_NEW || c->state == CORO_SUSPENDED);

	c->state = CORO_RUNNING;
	coro_running = c;
#ifdef CORO_ASAN
	__sanitizer_start_switch_fiber(&fake, c->stack_lo, c->stack_len);
#endif
#ifdef CORO_UCONTEXT
	if (swapcontext(&c->caller, &c->ctx) != 0)
		abort();
#else
	coro_switch(&c->caller_sp, c->sp);
#endif
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	coro_running = NULL;
	return (c->state != CORO_DONE);
}

void
coro_yield(void)
{
	struct coro	*c = coro_running;
#ifdef CORO_ASAN
	void		*fake;
#endif

	assert(c != NULL);		/* yield in the main context */

	c->state = CORO_SUSPENDED;
#ifdef CORO_ASAN
	__sanitizer_start_switch_fiber(&fake, c->asan_main_lo,
	    c->asan_main_len);
#endif
#ifdef CORO_UCONTEXT
	if (swapcontext(&c->ctx, &c->caller) != 0)
		abort();
#else
	coro_switch(&c->sp, c->caller_sp);
#endif
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(fake, &c->asan_main_lo,
	    &c->asan_main_len);
#endif
	/* coro_resume() has set CORO_RUNNING and coro_running again. */
}

struct coro *
coro_current(void)
{
	return (coro_running);
}

bool
coro_done(const struct coro *c)
{
	return (c->state == CORO_DONE);
}

/*
 * Gives c's stack back to the pool. A suspended coroutine is dropped
 * without unwinding: its frames are simply forgotten.
 */
void
coro_free(struct coro *c)
{
	struct coro_pool	*pool;

	if (c == NULL)
		return;
	assert(coro_running == NULL);	/* freed from inside a coroutine */
	assert(c->state != CORO_RUNNING);

	pool = c->pool;
	assert(pool->live > 0);
	pool->live--;
	if (pool->cached < pool->max_cached) {
		c->next = pool->free;
		pool->free = c;
		pool->cached++;
	} else
		coro_stack_unmap(c);
}
