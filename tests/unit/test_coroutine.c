/* Coroutines: switches happen in the order the scheduler asks, state crosses yields, a finished
 * one says so, one moves to another thread between yields, a deep stack works, and a thousand
 * large stacks cost only the pages touched and are all unmapped by coroutine_free. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coroutine.h"

#define STACK_BYTES (256 * 1024)

typedef struct trace {
	char seen[64];
	size_t count;
} trace;

static void note(trace *t, char what)
{
	if (t->count + 1 < sizeof t->seen)
		t->seen[t->count++] = what;
	t->seen[t->count] = '\0';
}

typedef struct player {
	trace *trace;
	char name;
	int turns;
} player;

static void play(void *arg)
{
	player *p = arg;
	for (int i = 0; i < p->turns; i++) {
		note(p->trace, p->name);
		coroutine_yield();
	}
}

static void test_ping_pong_follows_the_scheduler(void **state)
{
	(void)state;
	trace t = {0};
	player a = {&t, 'a', 2}, b = {&t, 'b', 3};
	coroutine *ca = coroutine_new(STACK_BYTES, play, &a);
	coroutine *cb = coroutine_new(STACK_BYTES, play, &b);
	assert_non_null(ca);
	assert_non_null(cb);
	int a_runs = 1, b_runs = 1;
	while (a_runs || b_runs) {
		note(&t, '.');
		if (a_runs)
			a_runs = coroutine_resume(ca);
		if (b_runs)
			b_runs = coroutine_resume(cb);
	}
	/* a's third resume returns from play: no note, and resume says 0. */
	assert_string_equal(t.seen, ".ab.ab.b.");
	assert_true(coroutine_finished(ca));
	assert_true(coroutine_finished(cb));
	coroutine_free(ca);
	coroutine_free(cb);
}

/* The scheduler puts a number in, the coroutine answers its running sum; its locals live on. */
typedef struct exchange {
	int in;
	int out;
} exchange;

static void accumulate(void *arg)
{
	exchange *x = arg;
	int sum = 0;
	while (x->in != 0) {
		sum += x->in;
		x->out = sum;
		coroutine_yield();
	}
	x->out = -sum;
}

static void test_values_cross_yields(void **state)
{
	(void)state;
	exchange x = {0};
	coroutine *c = coroutine_new(STACK_BYTES, accumulate, &x);
	assert_false(coroutine_finished(c));
	const int inputs[] = {5, 7, 30};
	int sum = 0;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		x.in = inputs[i];
		sum += inputs[i];
		assert_int_equal(coroutine_resume(c), 1);
		assert_int_equal(x.out, sum);
		assert_false(coroutine_finished(c));
	}
	x.in = 0;
	assert_int_equal(coroutine_resume(c), 0);
	assert_int_equal(x.out, -42);
	assert_true(coroutine_finished(c));
	coroutine_free(c);
}

static void record_current(void *arg)
{
	coroutine **seen = arg;
	seen[0] = coroutine_current();
	coroutine_yield();
	seen[1] = coroutine_current();
}

static void test_current_inside_and_outside(void **state)
{
	(void)state;
	coroutine *seen[2] = {NULL, NULL};
	assert_null(coroutine_current());
	coroutine *c = coroutine_new(STACK_BYTES, record_current, seen);
	assert_int_equal(coroutine_resume(c), 1);
	assert_ptr_equal(seen[0], c);
	assert_null(coroutine_current());
	assert_int_equal(coroutine_resume(c), 0);
	assert_ptr_equal(seen[1], c);
	assert_null(coroutine_current());
	coroutine_free(c);
	coroutine_free(NULL);
}

typedef struct travel {
	pthread_t ran_on[2];
	coroutine *current_on[2];
	coroutine *c;
	int resumed;
	coroutine *current_after;
} travel;

/* glibc declares pthread_self const, so the compiler may reuse its first answer after the yield,
 * though the coroutine has moved: called through a volatile pointer, it is asked again. */
static pthread_t (*volatile thread_self)(void) = pthread_self;

static void move_between_threads(void *arg)
{
	travel *t = arg;
	t->ran_on[0] = thread_self();
	t->current_on[0] = coroutine_current();
	coroutine_yield();
	t->ran_on[1] = thread_self();
	t->current_on[1] = coroutine_current();
}

static void *resume_elsewhere(void *arg)
{
	travel *t = arg;
	t->resumed = coroutine_resume(t->c);
	t->current_after = coroutine_current();
	return NULL;
}

static void test_resumed_from_another_thread(void **state)
{
	(void)state;
	travel t = {0};
	t.c = coroutine_new(STACK_BYTES, move_between_threads, &t);
	assert_int_equal(coroutine_resume(t.c), 1);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, resume_elsewhere, &t), 0);
	pthread_join(thread, NULL);
	assert_int_equal(t.resumed, 0);
	assert_true(pthread_equal(t.ran_on[0], pthread_self()));
	assert_true(pthread_equal(t.ran_on[1], thread));
	assert_ptr_equal(t.current_on[0], t.c);
	assert_ptr_equal(t.current_on[1], t.c);
	assert_null(t.current_after);
	assert_null(coroutine_current());
	coroutine_free(t.c);
}

/* 100 frames of a little over 1 KiB each: about 100 KiB of the 256 KiB stack. */
static unsigned recurse(unsigned depth)
{
	volatile unsigned char frame[1024];
	for (size_t i = 0; i < sizeof frame; i++)
		frame[i] = (unsigned char)(depth + i);
	unsigned below = depth ? recurse(depth - 1) : 0;
	return below + frame[depth % sizeof frame];
}

static void recurse_deep(void *arg)
{
	*(unsigned *)arg = recurse(99);
}

static void test_deep_recursion_fits(void **state)
{
	(void)state;
	unsigned got = 0;
	coroutine *c = coroutine_new(STACK_BYTES, recurse_deep, &got);
	assert_int_equal(coroutine_resume(c), 0);
	unsigned want = 0;
	for (unsigned depth = 0; depth < 100; depth++)
		want += (unsigned char)(depth + depth);
	assert_int_equal(got, want);
	coroutine_free(c);
}

/* A field of /proc/self/status, in KiB. */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	char line[256];
	long kib = -1;
	size_t len = strlen(field);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			kib = strtol(line + len + 1, NULL, 10);
	fclose(f);
	assert_true(kib >= 0);
	return kib;
}

#define MANY       1000
#define MANY_STACK (1024 * 1024)

static void wait_forever(void *arg)
{
	(void)arg;
	for (;;)
		coroutine_yield();
}

static void test_many_suspended_cost_little_and_unmap(void **state)
{
	(void)state;
	static coroutine *many[MANY];
	long size_before = status_kib("VmSize"), rss_before = status_kib("VmRSS");
	for (size_t i = 0; i < MANY; i++) {
		many[i] = coroutine_new(MANY_STACK, wait_forever, NULL);
		assert_non_null(many[i]);
		assert_int_equal(coroutine_resume(many[i]), 1);
	}
	long size_during = status_kib("VmSize"), rss_during = status_kib("VmRSS");
	/* A GiB of stacks mapped, of which each touched only its top pages. */
	assert_true(size_during - size_before >= MANY * (MANY_STACK / 1024));
	assert_true(rss_during - rss_before < MANY * (MANY_STACK / 1024) / 8);
	for (size_t i = 0; i < MANY; i++)
		coroutine_free(many[i]);
	assert_true(size_during - status_kib("VmSize") >= MANY * (MANY_STACK / 1024));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ping_pong_follows_the_scheduler),
	        cmocka_unit_test(test_values_cross_yields),
	        cmocka_unit_test(test_current_inside_and_outside),
	        cmocka_unit_test(test_resumed_from_another_thread),
	        cmocka_unit_test(test_deep_recursion_fits),
	        cmocka_unit_test(test_many_suspended_cost_little_and_unmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
