/* Metrics in Prometheus' text format (version 0.0.4): counters, gauges and histograms, each a
 * family of series told apart by labels. Thread-safe; families and series are made on first
 * use and live as long as the registry.
 *
 * Labels are given rendered, `route="/x",status="200"`; portico_metrics_label escapes a value. */
#ifndef PORTICO_METRICS_H
#define PORTICO_METRICS_H

#include <stddef.h>

typedef struct portico_metrics portico_metrics;

typedef enum { PORTICO_COUNTER, PORTICO_GAUGE, PORTICO_HISTOGRAM } portico_metric_type;

portico_metrics *portico_metrics_new(void);
void portico_metrics_free(portico_metrics *metrics);

/* Declares a family before its first use: its type, help text and, for a histogram, its bucket
 * upper bounds (ascending; +Inf is implied). The strings must outlive the registry. */
void portico_metrics_define(portico_metrics *metrics, const char *name, portico_metric_type type, const char *help,
                            const double *buckets, size_t bucket_count);

/* Adds to a counter, sets a gauge, or observes a value in a histogram (labels may be ""). */
void portico_metrics_add(portico_metrics *metrics, const char *name, const char *labels, double value);
void portico_metrics_set(portico_metrics *metrics, const char *name, const char *labels, double value);
void portico_metrics_observe(portico_metrics *metrics, const char *name, const char *labels, double value);

/* Writes `key="value"` (value escaped) to out, within size; returns out. */
char *portico_metrics_label(char *out, size_t size, const char *key, const char *value);

/* The whole registry as Prometheus text; the caller frees it. */
char *portico_metrics_render(portico_metrics *metrics, size_t *length);

/* Buckets for durations in seconds (1 ms to 30 s) and sizes in bytes (1 KiB to 4 MiB). */
extern const double portico_metrics_seconds[];
extern const size_t portico_metrics_seconds_count;
extern const double portico_metrics_bytes[];
extern const size_t portico_metrics_bytes_count;

#endif
