/* The event loop: timers in deadline order, repeating and freed from their own callback; watches
 * removed from their own callback; callbacks posted from another thread, in order. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

typedef struct trace {
	portico_loop *loop;
	char seen[32];
	size_t count;
	int repeats;
	portico_loop_timer *repeating;
	portico_loop_watch *watch;
} trace;

static void note(trace *t, char what)
{
	if (t->count + 1 < sizeof t->seen)
		t->seen[t->count++] = what;
}

static void on_a(void *arg)
{
	note(arg, 'a');
}

static void on_b(void *arg)
{
	note(arg, 'b');
}

static void on_stop(void *arg)
{
	trace *t = arg;
	note(t, '.');
	portico_loop_stop(t->loop);
}

static void on_repeat(void *arg)
{
	trace *t = arg;
	if (++t->repeats == 3) { /* the third time: free it from inside */
		portico_loop_timer_free(t->repeating);
		t->repeating = NULL;
	}
}

static portico_loop *new_loop(void)
{
	portico_error err = PORTICO_ERROR_INIT;
	portico_loop *loop = portico_loop_new(&err);
	assert_non_null(loop);
	return loop;
}

static void test_timers_fire_in_deadline_order(void **state)
{
	(void)state;
	trace t = {.loop = new_loop()};
	portico_loop_timer *late = portico_loop_timer_new(t.loop, on_b, &t);
	portico_loop_timer *early = portico_loop_timer_new(t.loop, on_a, &t);
	portico_loop_timer *stop = portico_loop_timer_new(t.loop, on_stop, &t);
	portico_loop_timer *never = portico_loop_timer_new(t.loop, on_b, &t);
	portico_loop_timer_start(late, 40, 0);
	portico_loop_timer_start(early, 10, 0);
	portico_loop_timer_start(never, 20, 0);
	portico_loop_timer_stop(never);
	t.repeating = portico_loop_timer_new(t.loop, on_repeat, &t);
	portico_loop_timer_start(t.repeating, 1, 1);
	portico_loop_timer_start(stop, 80, 0);
	portico_loop_run(t.loop);
	t.seen[t.count] = '\0';
	assert_string_equal(t.seen, "ab.");
	assert_int_equal(t.repeats, 3);
	portico_loop_timer_free(late);
	portico_loop_timer_free(early);
	portico_loop_timer_free(stop);
	portico_loop_timer_free(never);
	portico_loop_free(t.loop);
}

static void on_readable(void *arg, int fd, unsigned events)
{
	trace *t = arg;
	char byte;
	assert_true(events & PORTICO_LOOP_READABLE);
	assert_int_equal(read(fd, &byte, 1), 1);
	note(t, byte);
	portico_loop_watch_remove(t->watch); /* from its own callback */
	portico_loop_stop(t->loop);
}

static void test_a_watch_sees_its_fd_and_can_remove_itself(void **state)
{
	(void)state;
	trace t = {.loop = new_loop()};
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	portico_error err = PORTICO_ERROR_INIT;
	t.watch = portico_loop_watch_add(t.loop, fds[0], PORTICO_LOOP_READABLE, on_readable, &t, &err);
	assert_non_null(t.watch);
	assert_int_equal(write(fds[1], "x", 1), 1);
	portico_loop_run(t.loop);
	assert_int_equal(t.count, 1);
	assert_int_equal(t.seen[0], 'x');
	close(fds[0]);
	close(fds[1]);
	portico_loop_free(t.loop);
}

static void *post_from_a_thread(void *arg)
{
	trace *t = arg;
	usleep(20000); /* the loop is asleep in epoll_wait by now */
	portico_loop_post(t->loop, on_a, t);
	portico_loop_post(t->loop, on_b, t);
	portico_loop_post(t->loop, on_stop, t);
	return NULL;
}

static void test_posts_from_another_thread_run_in_order(void **state)
{
	(void)state;
	trace t = {.loop = new_loop()};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, post_from_a_thread, &t), 0);
	portico_loop_run(t.loop);
	pthread_join(thread, NULL);
	t.seen[t.count] = '\0';
	assert_string_equal(t.seen, "ab.");

	/* A stop asked while the loop is not running ends the next run at once, and only that one. */
	portico_loop_stop(t.loop);
	portico_loop_run(t.loop);
	portico_loop_post(t.loop, on_stop, &t);
	portico_loop_run(t.loop);
	t.seen[t.count] = '\0';
	assert_string_equal(t.seen, "ab..");
	portico_loop_free(t.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_timers_fire_in_deadline_order),
	        cmocka_unit_test(test_a_watch_sees_its_fd_and_can_remove_itself),
	        cmocka_unit_test(test_posts_from_another_thread_run_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
