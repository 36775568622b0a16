/* The metrics registry: series found again by their labels however many a family holds, rendered
 * in the order they were made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "metrics.h"

#define SERIES 5000

static void test_many_series_are_each_found_again(void **state)
{
	(void)state;
	portico_metrics *metrics = portico_metrics_new();
	portico_metrics_define(metrics, "requests_total", PORTICO_COUNTER, "Requests.", NULL, 0);
	char labels[64];
	for (int round = 1; round <= 3; round++) {
		for (int i = 0; i < SERIES; i++) {
			snprintf(labels, sizeof labels, "route=\"/r%d\"", i);
			portico_metrics_add(metrics, "requests_total", labels, i);
		}
	}
	size_t length;
	char *text = portico_metrics_render(metrics, &length);
	assert_int_equal(strlen(text), length);
	/* One line per series (after the two of HELP and TYPE), in the order they were made. */
	const char *line = strstr(text, "# TYPE requests_total counter\n");
	assert_non_null(line);
	line = strchr(line, '\n') + 1;
	for (int i = 0; i < SERIES; i++) {
		char expected[96];
		int n = snprintf(expected, sizeof expected, "requests_total{route=\"/r%d\"} %d\n", i, 3 * i);
		assert_memory_equal(line, expected, (size_t)n);
		line += n;
	}
	assert_int_equal(*line, '\0');
	free(text);
	portico_metrics_free(metrics);
}

/* Seconds spent adding to each of the first `series` series, `rounds` times over (they exist). */
static double time_lookups(portico_metrics *metrics, int series, int rounds)
{
	int64_t start = portico_monotonic_ns();
	for (int round = 0; round < rounds; round++) {
		for (int i = 0; i < series; i++) {
			char labels[64];
			snprintf(labels, sizeof labels, "route=\"/r%d\"", i);
			portico_metrics_add(metrics, "requests_total", labels, 1);
		}
	}
	return (double)(portico_monotonic_ns() - start) / 1e9;
}

/* The same number of lookups among 1,000 series and among 32,000: a linear search takes about 32
 * times as long for the second, a hash table about as long. Each is timed three times and the
 * fastest kept, and the bound leaves room for caches and a busy machine. */
static void test_lookups_do_not_slow_down_with_more_series(void **state)
{
	(void)state;
	portico_metrics *few = portico_metrics_new(), *many = portico_metrics_new();
	portico_metrics_define(few, "requests_total", PORTICO_COUNTER, "Requests.", NULL, 0);
	portico_metrics_define(many, "requests_total", PORTICO_COUNTER, "Requests.", NULL, 0);
	time_lookups(few, 1000, 1);
	time_lookups(many, 32000, 1);
	double among_few = 1e9, among_many = 1e9;
	for (int run = 0; run < 3; run++) {
		double seconds = time_lookups(few, 1000, 32);
		among_few = seconds < among_few ? seconds : among_few;
		seconds = time_lookups(many, 32000, 1);
		among_many = seconds < among_many ? seconds : among_many;
	}
	assert_true(among_many < 8 * among_few);
	portico_metrics_free(few);
	portico_metrics_free(many);
}

static void test_histograms_and_gauges_keep_their_series(void **state)
{
	(void)state;
	static const double bounds[] = {1, 10};
	portico_metrics *metrics = portico_metrics_new();
	portico_metrics_define(metrics, "size", PORTICO_HISTOGRAM, "Sizes.", bounds, 2);
	portico_metrics_define(metrics, "open", PORTICO_GAUGE, "Open.", NULL, 0);
	for (int i = 0; i < 100; i++) {
		char labels[32];
		snprintf(labels, sizeof labels, "k=\"%d\"", i % 7);
		portico_metrics_observe(metrics, "size", labels, i % 2 ? 5 : 50);
	}
	portico_metrics_set(metrics, "open", "", 3);
	portico_metrics_set(metrics, "open", "", 4);
	portico_metrics_add(metrics, "undefined", "", 1); /* ignored, not fatal */
	size_t length;
	char *text = portico_metrics_render(metrics, &length);
	/* k="0" got i = 0, 7, …, 98: 15 observations, 7 odd (5) and 8 even (50). */
	assert_non_null(strstr(text, "size_bucket{k=\"0\",le=\"1\"} 0\n"));
	assert_non_null(strstr(text, "size_bucket{k=\"0\",le=\"10\"} 7\n"));
	assert_non_null(strstr(text, "size_bucket{k=\"0\",le=\"+Inf\"} 15\n"));
	assert_non_null(strstr(text, "size_sum{k=\"0\"} 435\n"));
	assert_non_null(strstr(text, "open 4\n"));
	assert_null(strstr(text, "undefined"));
	free(text);
	portico_metrics_free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_many_series_are_each_found_again),
	        cmocka_unit_test(test_lookups_do_not_slow_down_with_more_series),
	        cmocka_unit_test(test_histograms_and_gauges_keep_their_series),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
