/*
 * test_coro.c: unit tests for the coroutine runtime (daemon/coro.c).
 *
 * The same file tests both backends: build coro.c with or without
 * -DCORO_UCONTEXT. Tests that must crash run in a forked child, which is
 * safe here because the test program has a single thread.
 */

#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coro.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_CORO_ASAN 1
#endif
#endif
#ifndef TEST_CORO_ASAN
#define TEST_CORO_ASAN 0
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TEST_CORO_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef TEST_CORO_VALGRIND
#define TEST_CORO_VALGRIND() 0
#endif

/* Big enough for every test body, including the 32 KiB recursion. */
#define TEST_CORO_STACK		(64 * 1024)

/* Frame size of the recursive helpers: 32 levels make ~32 KiB. */
#define TEST_CORO_FRAME		1024

/* Hides a value from the optimiser so it cannot fold checks on it. */
#define TEST_CORO_OPAQUE(v)	__asm__ volatile("" : "+r"(v))

static struct coro_pool *
test_coro_pool(size_t stack_size, size_t max_cached)
{
	struct coro_pool	*pool = NULL;

	assert_int_equal(coro_pool_create(&pool, stack_size, max_cached), 0);
	assert_non_null(pool);
	return (pool);
}

static struct coro *
test_coro_new(struct coro_pool *pool, coro_fn fn, void *arg)
{
	struct coro	*c = NULL;

	assert_int_equal(coro_create(&c, pool, fn, arg), 0);
	assert_non_null(c);
	return (c);
}

/*
 * Runs fn in a forked child and returns its wait status. quiet sends the
 * child's stderr to /dev/null (for the expected assertion messages).
 */
static int
test_coro_child(void (*fn)(void), int quiet)
{
	pid_t	pid;
	int	status, fd;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		if (quiet && (fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, STDERR_FILENO);
		/* cmocka catches SIGSEGV; the child must die of it. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		fn();
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	return (status);
}

/* Ping-pong. */

struct test_coro_log {
	int	ev[64];
	size_t	n;
};

struct test_coro_player {
	struct test_coro_log	*log;
	int			 id;	/* player k takes k turns */
};

static void
test_coro_log_add(struct test_coro_log *log, int ev)
{
	assert_true(log->n < sizeof log->ev / sizeof log->ev[0]);
	log->ev[log->n++] = ev;
}

static void
test_coro_player_fn(void *arg)
{
	struct test_coro_player	*p = arg;
	int			 s;

	for (s = 1; s <= p->id; s++) {
		test_coro_log_add(p->log, p->id * 10 + s);
		coro_yield();
	}
	test_coro_log_add(p->log, p->id * 10 + 9);
}

static void
test_coro_pingpong_order(void **state)
{
	static const int	 expect[] = {
		1, 11, 21, 31,
		2, 19, 22, 32,
		3, 29, 33,
		4, 39,
		99
	};
	struct test_coro_log	 log = { .n = 0 };
	struct test_coro_player	 p[3];
	struct coro		*c[3];
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 4);
	int			 i, round = 0, alive = 3;

	(void)state;
	for (i = 0; i < 3; i++) {
		p[i].log = &log;
		p[i].id = i + 1;
		c[i] = test_coro_new(pool, test_coro_player_fn, &p[i]);
	}
	while (alive > 0) {
		test_coro_log_add(&log, ++round);
		for (i = 0; i < 3; i++) {
			if (coro_done(c[i]))
				continue;
			if (!coro_resume(c[i]))
				alive--;
		}
	}
	test_coro_log_add(&log, 99);

	assert_int_equal(log.n, sizeof expect / sizeof expect[0]);
	assert_memory_equal(log.ev, expect, sizeof expect);
	for (i = 0; i < 3; i++)
		coro_free(c[i]);
	coro_pool_free(pool);
}

/* A shared struct as a channel. */

struct test_coro_chan {
	long	value;
	char	text[32];
	int	rounds;
};

static void
test_coro_chan_fn(void *arg)
{
	struct test_coro_chan	*ch = arg;
	int			 i;

	for (i = 0; i < 100; i++) {
		/* Main put i in value; answer 3i + 1 and a label. */
		ch->value = ch->value * 3 + 1;
		snprintf(ch->text, sizeof ch->text, "reply %d", i);
		ch->rounds++;
		coro_yield();
	}
}

static void
test_coro_shared_struct(void **state)
{
	struct test_coro_chan	 ch;
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c;
	char			 want[32];
	int			 i;

	(void)state;
	memset(&ch, 0, sizeof ch);
	c = test_coro_new(pool, test_coro_chan_fn, &ch);
	for (i = 0; i < 100; i++) {
		ch.value = i;
		assert_true(coro_resume(c));
		assert_int_equal(ch.value, 3 * i + 1);
		snprintf(want, sizeof want, "reply %d", i);
		assert_string_equal(ch.text, want);
		assert_int_equal(ch.rounds, i + 1);
	}
	assert_false(coro_resume(c));
	assert_true(coro_done(c));
	coro_free(c);
	coro_pool_free(pool);
}

/* Callee-saved registers and floating point. */

struct test_coro_mix {
	uint64_t	ints;
	double		fp;
};

/*
 * Keeps many integers and doubles live across calls to pause(), so that
 * at -O2 they sit in callee-saved registers (and, for the doubles on
 * x86_64, in stack slots) while another context runs and clobbers them.
 */
static void
test_coro_mix_run(void (*pause)(void), unsigned int seed,
    struct test_coro_mix *out)
{
	uint64_t	a = seed, b = 2, c = 3, d = 5, e = 7, f = 11, g = 13;
	double		x = 0.5 + seed, y = 1.25, z = -3.0, w = 0.125;
	int		i;

	for (i = 0; i < 64; i++) {
		a = a * 6364136223846793005ULL + 1442695040888963407ULL;
		b ^= a >> 7;
		c += b * 3;
		d = (d << 1) ^ c;
		e += d;
		f ^= e * 5;
		g += f;
		x = x * 1.0001 + y;
		y = y * 0.999 - z * 0.001;
		z = z + x * 1e-6;
		w = w / 1.5 + z;
		pause();
	}
	out->ints = a ^ b ^ c ^ d ^ e ^ f ^ g;
	out->fp = x + y + z + w;
}

static void
test_coro_nop(void)
{
}

static struct coro	*test_coro_partner;

static void
test_coro_resume_partner(void)
{
	assert_true(coro_resume(test_coro_partner));
}

static void
test_coro_mix_fn(void *arg)
{
	test_coro_mix_run(coro_yield, 2, arg);
}

static void
test_coro_registers_survive(void **state)
{
	struct test_coro_mix	 want_main, want_coro, got_main, got_coro;
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);

	(void)state;
	test_coro_mix_run(test_coro_nop, 1, &want_main);
	test_coro_mix_run(test_coro_nop, 2, &want_coro);
	/* Different seeds: a register leaking across would show. */
	assert_true(want_main.ints != want_coro.ints);

	test_coro_partner = test_coro_new(pool, test_coro_mix_fn, &got_coro);
	test_coro_mix_run(test_coro_resume_partner, 1, &got_main);
	assert_false(coro_resume(test_coro_partner));

	assert_true(got_main.ints == want_main.ints);
	assert_true(got_coro.ints == want_coro.ints);
	assert_memory_equal(&got_main.fp, &want_main.fp, sizeof(double));
	assert_memory_equal(&got_coro.fp, &want_coro.fp, sizeof(double));
	coro_free(test_coro_partner);
	test_coro_partner = NULL;
	coro_pool_free(pool);
}

/* Deep recursion: about 32 KiB of frames, suspended at the bottom. */

struct test_coro_deep {
	uintptr_t	top, bottom;	/* frame addresses */
	uint64_t	sum;
	int		yield;
};

static uint64_t __attribute__((noinline))
test_coro_recurse(struct test_coro_deep *d, int depth)
{
	volatile unsigned char	buf[TEST_CORO_FRAME];
	uint64_t		sum = 0;
	size_t			i;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(depth * 31 + i);
	if (depth > 0)
		sum = test_coro_recurse(d, depth - 1);
	else {
		d->bottom = (uintptr_t)__builtin_frame_address(0);
		if (d->yield)
			coro_yield();
	}
	/* Read the buffer back after the switch: it must be intact. */
	for (i = 0; i < sizeof buf; i++)
		sum = sum * 33 + buf[i];
	return (sum);
}

static void
test_coro_deep_fn(void *arg)
{
	struct test_coro_deep	*d = arg;

	d->top = (uintptr_t)__builtin_frame_address(0);
	d->sum = test_coro_recurse(d, 32);
}

static void
test_coro_deep_recursion(void **state)
{
	struct test_coro_deep	 want = { .yield = 0 }, got = { .yield = 1 };
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c;

	(void)state;
	want.sum = test_coro_recurse(&want, 32);

	c = test_coro_new(pool, test_coro_deep_fn, &got);
	assert_true(coro_resume(c));
	/* Main recurses as deep on its own stack while c is suspended. */
	assert_true(test_coro_recurse(&want, 32) == want.sum);
	assert_false(coro_resume(c));
	assert_true(got.sum == want.sum);
	if (!TEST_CORO_ASAN) {
		/* ASan's fake stacks would move the frames elsewhere. */
		assert_true(got.top - got.bottom >= 32 * TEST_CORO_FRAME);
		assert_true(got.top - got.bottom < TEST_CORO_STACK);
	}
	coro_free(c);
	coro_pool_free(pool);
}

/* The FP environment (MXCSR/x87 or FPCR) belongs to each context. */

struct test_coro_fenv {
	int	mode_at_start;
	int	mode_after_yield;
	double	third_after_yield;
};

/*
 * Not inlined: compilers assume the default FP environment unless told
 * otherwise, and would otherwise move the division across fesetround().
 */
static double __attribute__((noinline))
test_coro_third(void)
{
	volatile double	one = 1.0, three = 3.0;
	volatile double	r;

	r = one / three;
	return (r);
}

static void
test_coro_fenv_fn(void *arg)
{
	struct test_coro_fenv	*f = arg;

	f->mode_at_start = fegetround();
	fesetround(FE_UPWARD);
	coro_yield();
	f->mode_after_yield = fegetround();
	f->third_after_yield = test_coro_third();
	/* Return with FE_UPWARD still set: main must not see it. */
}

static void
test_coro_fenv_per_context(void **state)
{
	struct test_coro_fenv	 f;
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c;
	double			 nearest, upward;

	(void)state;
	memset(&f, 0, sizeof f);
	assert_int_equal(fegetround(), FE_TONEAREST);
	nearest = test_coro_third();
	fesetround(FE_UPWARD);
	upward = test_coro_third();
	fesetround(FE_TONEAREST);
	/*
	 * Valgrind keeps the modes but rounds SSE arithmetic to nearest
	 * whatever MXCSR says; there only the modes can be checked.
	 */
	if (TEST_CORO_VALGRIND())
		upward = nearest;
	else
		assert_true(upward > nearest);

	c = test_coro_new(pool, test_coro_fenv_fn, &f);
	assert_true(coro_resume(c));
	assert_int_equal(f.mode_at_start, FE_TONEAREST);
	assert_int_equal(fegetround(), FE_TONEAREST);
	assert_true(test_coro_third() == nearest);
	assert_false(coro_resume(c));
	assert_int_equal(f.mode_after_yield, FE_UPWARD);
	assert_true(f.third_after_yield == upward);
	assert_int_equal(fegetround(), FE_TONEAREST);
	assert_true(test_coro_third() == nearest);
	coro_free(c);
	coro_pool_free(pool);
}

/* SSE-heavy libc code and stack alignment inside a coroutine. */

struct test_coro_sse {
	char	buf[2][64];
	int	aligned[2];
};

/* Is a 16-byte aligned local really aligned (rsp/sp per the ABI)? */
static int __attribute__((noinline))
test_coro_aligned(void)
{
	_Alignas(16) volatile char	b[16];
	uintptr_t			p = (uintptr_t)b;

	b[0] = 0;
	TEST_CORO_OPAQUE(p);
	return ((p & 15) == 0);
}

static void
test_coro_sse_fn(void *arg)
{
	struct test_coro_sse	*s = arg;

	s->aligned[0] = test_coro_aligned();
	snprintf(s->buf[0], sizeof s->buf[0], "%f|%.3e|%Lf", 3.14159,
	    2.5e10, 1.5L);
	coro_yield();
	s->aligned[1] = test_coro_aligned();
	snprintf(s->buf[1], sizeof s->buf[1], "%.2f|%g", -0.125, 1e-5);
}

static void
test_coro_sse_snprintf(void **state)
{
	struct test_coro_sse	 s;
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c;

	(void)state;
	memset(&s, 0, sizeof s);
	c = test_coro_new(pool, test_coro_sse_fn, &s);
	assert_true(coro_resume(c));
	assert_string_equal(s.buf[0], "3.141590|2.500e+10|1.500000");
	assert_false(coro_resume(c));
	assert_string_equal(s.buf[1], "-0.12|1e-05");
	assert_true(s.aligned[0]);
	assert_true(s.aligned[1]);
	coro_free(c);
	coro_pool_free(pool);
}

/* setjmp/longjmp within one coroutine's stack, across a yield. */

struct test_coro_jmp {
	jmp_buf	env;
	int	jumps;
};

static void __attribute__((noinline))
test_coro_jmp_deep(struct test_coro_jmp *j, int depth)
{
	volatile char	buf[256];

	buf[0] = (char)depth;
	if (depth > 0)
		test_coro_jmp_deep(j, depth - 1);
	else {
		coro_yield();
		if (j->jumps == 0)	/* always; but GCC sees an exit */
			longjmp(j->env, 1);
	}
	j->jumps = 100 + buf[0];	/* not reached: the longjmp skips it */
}

static void
test_coro_jmp_fn(void *arg)
{
	struct test_coro_jmp	*j = arg;

	if (setjmp(j->env) == 0)
		test_coro_jmp_deep(j, 8);
	j->jumps++;
	coro_yield();
	j->jumps++;
}

static void
test_coro_longjmp_inside(void **state)
{
	struct test_coro_jmp	 j;
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c;

	(void)state;
	memset(&j, 0, sizeof j);
	c = test_coro_new(pool, test_coro_jmp_fn, &j);
	assert_true(coro_resume(c));		/* yielded at depth 0 */
	assert_int_equal(j.jumps, 0);
	assert_true(coro_resume(c));		/* jumped out, yielded */
	assert_int_equal(j.jumps, 1);
	assert_false(coro_resume(c));
	assert_int_equal(j.jumps, 2);
	coro_free(c);
	coro_pool_free(pool);
}

/* coro_current() and coro_done(). */

struct test_coro_self {
	struct coro	*seen[3];
};

static void
test_coro_self_fn(void *arg)
{
	struct test_coro_self	*s = arg;

	s->seen[0] = coro_current();
	coro_yield();
	s->seen[1] = coro_current();
	coro_yield();
	s->seen[2] = coro_current();
}

static void
test_coro_current(void **state)
{
	struct test_coro_self	 s1, s2;
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 2);
	struct coro		*c1, *c2;
	int			 i;

	(void)state;
	memset(&s1, 0, sizeof s1);
	memset(&s2, 0, sizeof s2);
	assert_null(coro_current());
	c1 = test_coro_new(pool, test_coro_self_fn, &s1);
	c2 = test_coro_new(pool, test_coro_self_fn, &s2);
	assert_null(coro_current());
	for (i = 0; i < 3; i++) {
		coro_resume(c1);
		assert_null(coro_current());
		coro_resume(c2);
		assert_null(coro_current());
	}
	for (i = 0; i < 3; i++) {
		assert_ptr_equal(s1.seen[i], c1);
		assert_ptr_equal(s2.seen[i], c2);
	}
	coro_free(c1);
	coro_free(c2);
	coro_pool_free(pool);
}

static void
test_coro_twice_fn(void *arg)
{
	int	*steps = arg;

	(*steps)++;
	coro_yield();
	(*steps)++;
	coro_yield();
	(*steps)++;
}

static void
test_coro_done_transitions(void **state)
{
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c;
	int			 steps = 0;

	(void)state;
	c = test_coro_new(pool, test_coro_twice_fn, &steps);
	assert_false(coro_done(c));
	assert_int_equal(steps, 0);		/* not started by create */
	assert_true(coro_resume(c));
	assert_false(coro_done(c));
	assert_int_equal(steps, 1);
	assert_true(coro_resume(c));
	assert_false(coro_done(c));
	assert_int_equal(steps, 2);
	assert_false(coro_resume(c));
	assert_true(coro_done(c));
	assert_int_equal(steps, 3);
	coro_free(c);
	coro_pool_free(pool);
}

/* The pool. */

static void
test_coro_count_fn(void *arg)
{
	(*(int *)arg)++;
}

static void
test_coro_pool_reuse(void **state)
{
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 2);
	struct coro		*a, *b, *c, *d, *e, *f;
	int			 runs = 0;

	(void)state;
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 0);
	a = test_coro_new(pool, test_coro_count_fn, &runs);
	b = test_coro_new(pool, test_coro_count_fn, &runs);
	c = test_coro_new(pool, test_coro_count_fn, &runs);
	assert_int_equal(coro_pool_live(pool), 3);
	assert_int_equal(coro_pool_cached(pool), 0);
	assert_false(coro_resume(a));

	coro_free(a);
	assert_int_equal(coro_pool_live(pool), 2);
	assert_int_equal(coro_pool_cached(pool), 1);
	coro_free(b);
	assert_int_equal(coro_pool_live(pool), 1);
	assert_int_equal(coro_pool_cached(pool), 2);
	coro_free(c);			/* past max_cached: unmapped */
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 2);

	/* The cache hands back the most recently freed stack first. */
	d = test_coro_new(pool, test_coro_count_fn, &runs);
	assert_ptr_equal(d, b);
	assert_int_equal(coro_pool_live(pool), 1);
	assert_int_equal(coro_pool_cached(pool), 1);
	e = test_coro_new(pool, test_coro_count_fn, &runs);
	assert_ptr_equal(e, a);
	assert_int_equal(coro_pool_live(pool), 2);
	assert_int_equal(coro_pool_cached(pool), 0);
	f = test_coro_new(pool, test_coro_count_fn, &runs);
	assert_int_equal(coro_pool_live(pool), 3);
	assert_int_equal(coro_pool_cached(pool), 0);

	/* A reused stack runs like a new one, even the one already run. */
	assert_false(coro_done(e));
	assert_false(coro_resume(d));
	assert_false(coro_resume(e));
	assert_false(coro_resume(f));
	assert_int_equal(runs, 4);

	coro_free(d);
	coro_free(e);
	coro_free(f);
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 2);
	coro_pool_free(pool);
}

static void
test_coro_pool_no_cache(void **state)
{
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 0);
	struct coro		*c;
	int			 runs = 0, i;

	(void)state;
	for (i = 0; i < 3; i++) {
		c = test_coro_new(pool, test_coro_count_fn, &runs);
		assert_int_equal(coro_pool_live(pool), 1);
		assert_false(coro_resume(c));
		coro_free(c);
		assert_int_equal(coro_pool_live(pool), 0);
		assert_int_equal(coro_pool_cached(pool), 0);
	}
	assert_int_equal(runs, 3);
	coro_pool_free(pool);
}

static void
test_coro_pool_stack_size(void **state)
{
	struct coro_pool	*pool;
	size_t			 page = (size_t)sysconf(_SC_PAGESIZE);
	size_t			 min;

	(void)state;
	/* 16 KiB minimum, rounded up to whole pages. */
	min = (16384 + page - 1) / page * page;
	pool = test_coro_pool(1, 0);
	assert_int_equal(coro_pool_stack_size(pool), min);
	coro_pool_free(pool);

	pool = test_coro_pool(min + 1, 0);
	assert_int_equal(coro_pool_stack_size(pool), min + page);
	coro_pool_free(pool);

	pool = test_coro_pool(8 * page, 0);
	assert_int_equal(coro_pool_stack_size(pool),
	    8 * page < min ? min : 8 * page);
	coro_pool_free(pool);
}

static void
test_coro_pool_create_einval(void **state)
{
	struct coro_pool	*pool = NULL;

	(void)state;
	assert_int_equal(coro_pool_create(NULL, TEST_CORO_STACK, 1), EINVAL);
	assert_int_equal(coro_pool_create(&pool, 0, 1), EINVAL);
	assert_null(pool);
	assert_int_equal(coro_pool_create(&pool, SIZE_MAX, 1), EINVAL);
	assert_null(pool);
	/* Would overflow when rounded up to a page plus the guard. */
	assert_int_equal(coro_pool_create(&pool, SIZE_MAX - 100, 1), EINVAL);
	assert_null(pool);
	assert_int_equal(coro_pool_create(&pool, (size_t)1 << 40, 1),
	    EINVAL);
	assert_null(pool);
}

/* 10,000 coroutines alive at once, each run to completion. */

#define TEST_CORO_MANY		10000

static void
test_coro_many_fn(void *arg)
{
	int	*count = arg;

	coro_yield();
	(*count)++;
}

static void
test_coro_many(void **state)
{
	struct coro_pool	 *pool = test_coro_pool(16384, 64);
	struct coro		**c;
	int			  count = 0, i;

	(void)state;
	c = calloc(TEST_CORO_MANY, sizeof *c);
	assert_non_null(c);
	for (i = 0; i < TEST_CORO_MANY; i++)
		c[i] = test_coro_new(pool, test_coro_many_fn, &count);
	assert_int_equal(coro_pool_live(pool), TEST_CORO_MANY);
	for (i = 0; i < TEST_CORO_MANY; i++)
		assert_true(coro_resume(c[i]));
	assert_int_equal(count, 0);
	for (i = 0; i < TEST_CORO_MANY; i++) {
		assert_false(coro_resume(c[i]));
		assert_true(coro_done(c[i]));
	}
	assert_int_equal(count, TEST_CORO_MANY);
	for (i = 0; i < TEST_CORO_MANY; i++)
		coro_free(c[i]);
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 64);
	free(c);
	coro_pool_free(pool);
}

/* Freeing coroutines that never ran, or are suspended. */

static void
test_coro_free_never_started(void **state)
{
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct coro		*c, *d;
	int			 runs = 0;

	(void)state;
	c = test_coro_new(pool, test_coro_count_fn, &runs);
	d = test_coro_new(pool, test_coro_count_fn, &runs);
	coro_free(c);
	coro_free(d);
	assert_int_equal(runs, 0);
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 1);
	coro_pool_free(pool);
}

static void
test_coro_free_suspended(void **state)
{
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct test_coro_deep	 deep = { .yield = 1 }, again = { .yield = 0 };
	struct test_coro_deep	 want = { .yield = 0 };
	struct coro		*c, *d;
	int			 steps = 0;

	(void)state;
	/* Suspend c at the bottom of a deep recursion, then drop it. */
	c = test_coro_new(pool, test_coro_deep_fn, &deep);
	assert_true(coro_resume(c));
	assert_false(coro_done(c));
	coro_free(c);
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 1);

	/*
	 * The next coroutine gets the same stack, full of abandoned frames
	 * (and, under ASan, of their poisoned redzones): it must run cleanly
	 * over all of it.
	 */
	d = test_coro_new(pool, test_coro_deep_fn, &again);
	assert_ptr_equal(d, c);
	assert_false(coro_resume(d));
	assert_true(again.sum == test_coro_recurse(&want, 32));
	coro_free(d);

	/* A suspended coroutine past max_cached is unmapped instead. */
	c = test_coro_new(pool, test_coro_twice_fn, &steps);
	d = test_coro_new(pool, test_coro_twice_fn, &steps);
	assert_true(coro_resume(c));
	assert_true(coro_resume(d));
	coro_free(c);
	coro_free(d);
	assert_int_equal(steps, 2);
	assert_int_equal(coro_pool_live(pool), 0);
	assert_int_equal(coro_pool_cached(pool), 1);
	coro_pool_free(pool);
}

/*
 * A signal handler runs on whatever stack is current. Its siginfo is put
 * there by the kernel, not by instrumented code, so on a reused stack only
 * coro.c's unpoisoning keeps ASan from seeing stale redzones in it.
 */

static volatile sig_atomic_t	test_coro_signo;
static volatile uintptr_t	test_coro_sigaddr;

/* Leaves a stack that is mostly ASan redzones if abandoned at depth 0. */
static int __attribute__((noinline))
test_coro_redzones(int depth)
{
	volatile char	a[1], b[1], c[1], d[1], e[1], f[1], g[1], h[1];
	volatile char	*p[8] = { a, b, c, d, e, f, g, h };
	int		 i, sum = 0;

	for (i = 0; i < 8; i++) {
		TEST_CORO_OPAQUE(p[i]);
		p[i][0] = (char)(depth + i);
	}
	if (depth > 0)
		sum = test_coro_redzones(depth - 1);
	else
		coro_yield();
	for (i = 0; i < 8; i++)
		sum += p[i][0];
	return (sum);
}

static void
test_coro_redzones_fn(void *arg)
{
	*(int *)arg = test_coro_redzones(64);
}

static void
test_coro_sig_handler(int signo, siginfo_t *info, void *uctx)
{
	const unsigned char	*p = (const unsigned char *)info;
	unsigned int		 sum = 0;
	size_t			 i;

	(void)uctx;
	/* Instrumented reads of every byte the kernel wrote. */
	for (i = 0; i < sizeof *info; i++)
		sum += p[i];
	test_coro_signo = info->si_signo == signo && sum != 0 ? signo : -1;
	test_coro_sigaddr = (uintptr_t)info;
}

static void
test_coro_sig_fn(void *arg)
{
	uintptr_t	*where = arg;

	where[0] = (uintptr_t)__builtin_frame_address(0);
	raise(SIGUSR1);
	where[1] = test_coro_sigaddr;
}

static void
test_coro_signal_on_reused_stack(void **state)
{
	struct coro_pool	*pool = test_coro_pool(TEST_CORO_STACK, 1);
	struct sigaction	 sa, old;
	struct coro		*c;
	uintptr_t		 where[2] = { 0, 0 };
	int			 sum = 0;

	(void)state;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = test_coro_sig_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

	c = test_coro_new(pool, test_coro_redzones_fn, &sum);
	assert_true(coro_resume(c));
	coro_free(c);

	test_coro_signo = 0;
	c = test_coro_new(pool, test_coro_sig_fn, where);
	assert_false(coro_resume(c));
	assert_int_equal(test_coro_signo, SIGUSR1);
	/* The handler ran on the coroutine's stack, below its frame. */
	if (!TEST_CORO_ASAN) {
		assert_true(where[1] < where[0]);
		assert_true(where[0] - where[1] < TEST_CORO_STACK);
	}
	coro_free(c);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	coro_pool_free(pool);
}

/* Failure paths. */

static void
test_coro_enomem_child(void)
{
	struct coro_pool	*pool;
	struct coro		*a, *b = NULL;
	struct rlimit		 rl;
	unsigned long		 pages;
	FILE			*f;
	int			 runs = 0;

	/* 64 MiB stacks; one cached before the address space is capped. */
	if (coro_pool_create(&pool, 64 << 20, 1) != 0)
		_exit(10);
	if (coro_create(&a, pool, test_coro_count_fn, &runs) != 0)
		_exit(11);
	coro_free(a);

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		_exit(12);
	if (fscanf(f, "%lu", &pages) != 1)
		_exit(13);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * (rlim_t)sysconf(_SC_PAGESIZE) +
	    (8 << 20);
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		_exit(14);

	/* The cached stack needs no mmap; a second one cannot be mapped. */
	if (coro_create(&a, pool, test_coro_count_fn, &runs) != 0)
		_exit(15);
	if (coro_create(&b, pool, test_coro_count_fn, &runs) != ENOMEM)
		_exit(16);
	if (b != NULL || coro_pool_live(pool) != 1 ||
	    coro_pool_cached(pool) != 0)
		_exit(17);
	if (coro_resume(a) || runs != 1)
		_exit(18);
	coro_free(a);
	coro_pool_free(pool);
	_exit(0);
}

static void
test_coro_create_enomem(void **state)
{
	int	status;

	(void)state;
	/* ASan reserves terabytes; valgrind ignores RLIMIT_AS. */
	if (TEST_CORO_ASAN || TEST_CORO_VALGRIND())
		skip();
	status = test_coro_child(test_coro_enomem_child, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int __attribute__((noinline))
test_coro_overflow(int depth)
{
	volatile char	buf[TEST_CORO_FRAME];

	buf[0] = (char)depth;
	buf[sizeof buf - 1] = (char)depth;
	if (depth > 0)
		return (test_coro_overflow(depth - 1) + buf[0]);
	return (buf[sizeof buf - 1]);
}

static void
test_coro_overflow_fn(void *arg)
{
	/* 1 MiB of frames on a 16 KiB stack. */
	*(int *)arg = test_coro_overflow(1024);
}

static void
test_coro_guard_child(void)
{
	struct coro_pool	*pool;
	struct coro		*c;
	int			 result = 0;

	if (coro_pool_create(&pool, 16384, 0) != 0)
		_exit(10);
	if (coro_create(&c, pool, test_coro_overflow_fn, &result) != 0)
		_exit(11);
	coro_resume(c);
	_exit(12);			/* survived the overflow */
}

static void
test_coro_guard_page_segv(void **state)
{
	int	status;

	(void)state;
	/* ASan catches the SEGV itself and reports a stack overflow. */
	if (TEST_CORO_ASAN)
		skip();
	status = test_coro_child(test_coro_guard_child, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
}

/* Misuse is a bug and must assert. */

#ifndef NDEBUG
static void
test_coro_inner_fn(void *arg)
{
	coro_resume(arg);		/* not allowed: we are not main */
}

static void
test_coro_resume_inside_child(void)
{
	struct coro_pool	*pool;
	struct coro		*outer, *inner;
	int			 runs = 0;

	if (coro_pool_create(&pool, TEST_CORO_STACK, 0) != 0)
		_exit(10);
	if (coro_create(&inner, pool, test_coro_count_fn, &runs) != 0 ||
	    coro_create(&outer, pool, test_coro_inner_fn, inner) != 0)
		_exit(11);
	coro_resume(outer);
	_exit(12);
}

static void
test_coro_yield_main_child(void)
{
	coro_yield();
	_exit(12);
}

static void
test_coro_resume_done_child(void)
{
	struct coro_pool	*pool;
	struct coro		*c;
	int			 runs = 0;

	if (coro_pool_create(&pool, TEST_CORO_STACK, 0) != 0 ||
	    coro_create(&c, pool, test_coro_count_fn, &runs) != 0)
		_exit(10);
	if (coro_resume(c))
		_exit(11);
	coro_resume(c);
	_exit(12);
}
#endif

static void
test_coro_misuse_asserts(void **state)
{
#ifdef NDEBUG
	(void)state;
	skip();
#else
	int	status;

	(void)state;
	status = test_coro_child(test_coro_resume_inside_child, 1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	status = test_coro_child(test_coro_yield_main_child, 1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	status = test_coro_child(test_coro_resume_done_child, 1);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
#endif
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_coro_pingpong_order),
		cmocka_unit_test(test_coro_shared_struct),
		cmocka_unit_test(test_coro_registers_survive),
		cmocka_unit_test(test_coro_deep_recursion),
		cmocka_unit_test(test_coro_fenv_per_context),
		cmocka_unit_test(test_coro_sse_snprintf),
		cmocka_unit_test(test_coro_longjmp_inside),
		cmocka_unit_test(test_coro_current),
		cmocka_unit_test(test_coro_done_transitions),
		cmocka_unit_test(test_coro_pool_reuse),
		cmocka_unit_test(test_coro_pool_no_cache),
		cmocka_unit_test(test_coro_pool_stack_size),
		cmocka_unit_test(test_coro_pool_create_einval),
		cmocka_unit_test(test_coro_many),
		cmocka_unit_test(test_coro_free_never_started),
		cmocka_unit_test(test_coro_free_suspended),
		cmocka_unit_test(test_coro_signal_on_reused_stack),
		cmocka_unit_test(test_coro_create_enomem),
		cmocka_unit_test(test_coro_guard_page_segv),
		cmocka_unit_test(test_coro_misuse_asserts),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
