/*
 * coro_smoke.c: a standalone sanity check of the coroutine runtime.
 *
 * It needs nothing but libc (and libm), so it also runs where cmocka does
 * not: built statically for aarch64 and run under qemu-aarch64 it is how
 * the aarch64 switch is tested on an x86_64 machine. It prints one line per
 * failed check and exits non-zero if there was any.
 */

#include <errno.h>
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro.h"

#define CORO_SMOKE_STACK	(64 * 1024)

/* Hides a value from the optimiser so it cannot fold checks on it. */
#define CORO_SMOKE_OPAQUE(v)	__asm__ volatile("" : "+r"(v))

#define CORO_SMOKE_CHECK(cond) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		coro_smoke_failures++;					\
	}								\
} while (0)

static int	coro_smoke_failures;

/* Order of switches between main and three coroutines. */

static int	coro_smoke_log[32];
static int	coro_smoke_nlog;

static void
coro_smoke_player(void *arg)
{
	int	id = *(int *)arg, s;

	for (s = 1; s <= id; s++) {
		coro_smoke_log[coro_smoke_nlog++] = id * 10 + s;
		coro_yield();
	}
	coro_smoke_log[coro_smoke_nlog++] = id * 10 + 9;
}

static void
coro_smoke_order(struct coro_pool *pool)
{
	static const int	 expect[] = { 1, 11, 21, 31, 2, 19, 22, 32,
	    3, 29, 33, 4, 39 };
	static int		 ids[3] = { 1, 2, 3 };
	struct coro		*c[3];
	int			 i, round = 0, alive = 3;

	for (i = 0; i < 3; i++)
		CORO_SMOKE_CHECK(coro_create(&c[i], pool, coro_smoke_player,
		    &ids[i]) == 0);
	while (alive > 0) {
		coro_smoke_log[coro_smoke_nlog++] = ++round;
		for (i = 0; i < 3; i++)
			if (!coro_done(c[i]) && !coro_resume(c[i]))
				alive--;
	}
	CORO_SMOKE_CHECK(coro_smoke_nlog == (int)(sizeof expect /
	    sizeof expect[0]));
	CORO_SMOKE_CHECK(memcmp(coro_smoke_log, expect, sizeof expect) == 0);
	for (i = 0; i < 3; i++)
		coro_free(c[i]);
}

/* Integers and doubles live in callee-saved registers across switches. */

struct coro_smoke_mix {
	uint64_t	ints;
	double		fp;
};

static void
coro_smoke_mix_run(void (*pause)(void), unsigned int seed,
    struct coro_smoke_mix *out)
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
coro_smoke_nop(void)
{
}

static struct coro	*coro_smoke_partner;

static void
coro_smoke_resume_partner(void)
{
	coro_resume(coro_smoke_partner);
}

static void
coro_smoke_mix_fn(void *arg)
{
	coro_smoke_mix_run(coro_yield, 2, arg);
}

static void
coro_smoke_registers(struct coro_pool *pool)
{
	struct coro_smoke_mix	want_main, want_coro, got_main, got_coro;

	coro_smoke_mix_run(coro_smoke_nop, 1, &want_main);
	coro_smoke_mix_run(coro_smoke_nop, 2, &want_coro);
	CORO_SMOKE_CHECK(coro_create(&coro_smoke_partner, pool,
	    coro_smoke_mix_fn, &got_coro) == 0);
	coro_smoke_mix_run(coro_smoke_resume_partner, 1, &got_main);
	CORO_SMOKE_CHECK(!coro_resume(coro_smoke_partner));
	CORO_SMOKE_CHECK(got_main.ints == want_main.ints);
	CORO_SMOKE_CHECK(got_coro.ints == want_coro.ints);
	CORO_SMOKE_CHECK(memcmp(&got_main.fp, &want_main.fp,
	    sizeof(double)) == 0);
	CORO_SMOKE_CHECK(memcmp(&got_coro.fp, &want_coro.fp,
	    sizeof(double)) == 0);
	coro_free(coro_smoke_partner);
}

/* ~32 KiB of frames, suspended at the bottom. */

static uint64_t __attribute__((noinline))
coro_smoke_recurse(int depth, int yield)
{
	volatile unsigned char	buf[1024];
	uint64_t		sum = 0;
	size_t			i;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(depth * 31 + i);
	if (depth > 0)
		sum = coro_smoke_recurse(depth - 1, yield);
	else if (yield)
		coro_yield();
	for (i = 0; i < sizeof buf; i++)
		sum = sum * 33 + buf[i];
	return (sum);
}

static void
coro_smoke_deep_fn(void *arg)
{
	*(uint64_t *)arg = coro_smoke_recurse(32, 1);
}

static void
coro_smoke_deep(struct coro_pool *pool)
{
	struct coro	*c;
	uint64_t	 want = coro_smoke_recurse(32, 0), got = 0;

	CORO_SMOKE_CHECK(coro_create(&c, pool, coro_smoke_deep_fn, &got) == 0);
	CORO_SMOKE_CHECK(coro_resume(c));
	CORO_SMOKE_CHECK(coro_smoke_recurse(32, 0) == want);
	CORO_SMOKE_CHECK(!coro_resume(c));
	CORO_SMOKE_CHECK(got == want);
	coro_free(c);
}

/* The FP environment belongs to each context; printf works inside. */

static double __attribute__((noinline))
coro_smoke_third(void)
{
	volatile double	one = 1.0, three = 3.0;
	volatile double	r;

	r = one / three;
	return (r);
}

struct coro_smoke_fp {
	int	mode;
	double	third;
	char	text[64];
	int	aligned;
};

static void
coro_smoke_fp_fn(void *arg)
{
	struct coro_smoke_fp	*f = arg;
	_Alignas(16) char	 b[16];
	uintptr_t		 p = (uintptr_t)b;

	CORO_SMOKE_OPAQUE(p);
	f->aligned = (p & 15) == 0;
	fesetround(FE_UPWARD);
	coro_yield();
	f->mode = fegetround();
	f->third = coro_smoke_third();
	snprintf(f->text, sizeof f->text, "%f|%.3e|%Lf", 3.14159, 2.5e10,
	    1.5L);
}

static void
coro_smoke_fp(struct coro_pool *pool)
{
	struct coro_smoke_fp	 f;
	struct coro		*c;
	double			 nearest, upward;

	memset(&f, 0, sizeof f);
	nearest = coro_smoke_third();
	fesetround(FE_UPWARD);
	upward = coro_smoke_third();
	fesetround(FE_TONEAREST);
	CORO_SMOKE_CHECK(upward > nearest);

	CORO_SMOKE_CHECK(coro_create(&c, pool, coro_smoke_fp_fn, &f) == 0);
	CORO_SMOKE_CHECK(coro_resume(c));
	CORO_SMOKE_CHECK(fegetround() == FE_TONEAREST);
	CORO_SMOKE_CHECK(coro_smoke_third() == nearest);
	CORO_SMOKE_CHECK(!coro_resume(c));
	CORO_SMOKE_CHECK(f.mode == FE_UPWARD);
	CORO_SMOKE_CHECK(f.third == upward);
	CORO_SMOKE_CHECK(fegetround() == FE_TONEAREST);
	CORO_SMOKE_CHECK(strcmp(f.text, "3.141590|2.500e+10|1.500000") == 0);
	CORO_SMOKE_CHECK(f.aligned);
	coro_free(c);
}

/* Pool accounting, many coroutines, and current/done. */

static void
coro_smoke_count_fn(void *arg)
{
	CORO_SMOKE_CHECK(coro_current() != NULL);
	coro_yield();
	(*(int *)arg)++;
}

static void
coro_smoke_many(void)
{
	static struct coro	*c[1000];
	struct coro_pool	*pool;
	int			 i, count = 0;

	CORO_SMOKE_CHECK(coro_pool_create(&pool, 16384, 8) == 0);
	for (i = 0; i < 1000; i++)
		CORO_SMOKE_CHECK(coro_create(&c[i], pool, coro_smoke_count_fn,
		    &count) == 0);
	CORO_SMOKE_CHECK(coro_pool_live(pool) == 1000);
	for (i = 0; i < 1000; i++)
		CORO_SMOKE_CHECK(coro_resume(c[i]));
	for (i = 0; i < 1000; i++)
		CORO_SMOKE_CHECK(!coro_resume(c[i]) && coro_done(c[i]));
	CORO_SMOKE_CHECK(count == 1000);
	CORO_SMOKE_CHECK(coro_current() == NULL);
	for (i = 0; i < 1000; i++)
		coro_free(c[i]);
	CORO_SMOKE_CHECK(coro_pool_live(pool) == 0);
	CORO_SMOKE_CHECK(coro_pool_cached(pool) == 8);
	coro_pool_free(pool);
}

/* A stack overflow hits the guard page (in a child process). */

static int __attribute__((noinline))
coro_smoke_overflow(int depth)
{
	volatile char	buf[1024];

	buf[0] = (char)depth;
	if (depth > 0)
		return (coro_smoke_overflow(depth - 1) + buf[0]);
	return (buf[0]);
}

static void
coro_smoke_overflow_fn(void *arg)
{
	*(int *)arg = coro_smoke_overflow(1024);
}

static void
coro_smoke_guard(void)
{
	struct coro_pool	*pool;
	struct coro		*c;
	pid_t			 pid;
	int			 status, result;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (coro_pool_create(&pool, 16384, 0) != 0)
			_exit(10);
		if (coro_create(&c, pool, coro_smoke_overflow_fn,
		    &result) != 0)
			_exit(10);
		coro_resume(c);
		_exit(11);
	}
	CORO_SMOKE_CHECK(pid != -1);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	CORO_SMOKE_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}

int
main(void)
{
	struct coro_pool	*pool, *bad;

	CORO_SMOKE_CHECK(coro_pool_create(&bad, 0, 1) == EINVAL);
	CORO_SMOKE_CHECK(coro_pool_create(&pool, CORO_SMOKE_STACK, 4) == 0);
	CORO_SMOKE_CHECK(coro_current() == NULL);
	coro_smoke_order(pool);
	coro_smoke_registers(pool);
	coro_smoke_deep(pool);
	coro_smoke_fp(pool);
	CORO_SMOKE_CHECK(coro_pool_live(pool) == 0);
	CORO_SMOKE_CHECK(coro_pool_cached(pool) == 3);
	coro_pool_free(pool);
	coro_smoke_many();
	coro_smoke_guard();

	if (coro_smoke_failures != 0) {
		fprintf(stderr, "coro_smoke: %d check(s) failed\n",
		    coro_smoke_failures);
		return (1);
	}
	printf("coro_smoke: all checks passed\n");
	return (0);
}
