/* Version 4 UUIDs: the text form, no repeats across pool refills and threads, and a forked child
 * that does not give out its parent's next ids. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "uuid.h"

#define MANY 200 /* several pools' worth */

static void assert_uuid_form(const char *id)
{
	assert_int_equal(strlen(id), PORTICO_UUID_LENGTH);
	for (size_t i = 0; i < PORTICO_UUID_LENGTH; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(id[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", id[i]));
	}
	assert_int_equal(id[14], '4');           /* version 4 */
	assert_non_null(strchr("89ab", id[19])); /* RFC 4122 variant */
}

static int compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void assert_all_different(char (*ids)[PORTICO_UUID_LENGTH + 1], size_t count)
{
	qsort(ids, count, sizeof ids[0], compare);
	for (size_t i = 1; i < count; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
}

static void test_form_and_no_repeats(void **state)
{
	(void)state;
	static char ids[MANY][PORTICO_UUID_LENGTH + 1];
	for (size_t i = 0; i < MANY; i++) {
		portico_uuid_v4(ids[i]);
		assert_uuid_form(ids[i]);
	}
	assert_all_different(ids, MANY);
}

static void *make_ids(void *arg)
{
	char(*ids)[PORTICO_UUID_LENGTH + 1] = arg;
	for (size_t i = 0; i < MANY; i++)
		portico_uuid_v4(ids[i]);
	return NULL;
}

static void test_threads_draw_different_ids(void **state)
{
	(void)state;
	static char ids[2 * MANY][PORTICO_UUID_LENGTH + 1];
	pthread_t other;
	assert_int_equal(pthread_create(&other, NULL, make_ids, ids[MANY]), 0);
	make_ids(ids);
	pthread_join(other, NULL);
	assert_all_different(ids, 2 * MANY);
}

static void test_forked_child_does_not_repeat_its_parent(void **state)
{
	(void)state;
	char first[PORTICO_UUID_LENGTH + 1], parent[PORTICO_UUID_LENGTH + 1], child[PORTICO_UUID_LENGTH + 1];
	portico_uuid_v4(first); /* the pool holds the next ones now */
	int pipe_fds[2];
	assert_int_equal(pipe(pipe_fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		portico_uuid_v4(child);
		_exit(write(pipe_fds[1], child, sizeof child) == sizeof child ? 0 : 1);
	}
	portico_uuid_v4(parent);
	assert_int_equal(read(pipe_fds[0], child, sizeof child), (ssize_t)sizeof child);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	assert_uuid_form(child);
	assert_string_not_equal(parent, child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_form_and_no_repeats),
	        cmocka_unit_test(test_threads_draw_different_ids),
	        cmocka_unit_test(test_forked_child_does_not_repeat_its_parent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
