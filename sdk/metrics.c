/* One mutex over the registry: a gateway has a dozen families, searched in order, and each
 * family finds its series by hashing their labels, so that a request costs the same whether a
 * family holds ten series or ten thousand. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

const double portico_metrics_seconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const size_t portico_metrics_seconds_count = sizeof portico_metrics_seconds / sizeof portico_metrics_seconds[0];
const double portico_metrics_bytes[] = {1024, 16384, 65536, 262144, 524288, 1048576, 2097152, 4194304};
const size_t portico_metrics_bytes_count = sizeof portico_metrics_bytes / sizeof portico_metrics_bytes[0];

typedef struct series {
	char *labels;
	size_t hash;
	double value;             /* counter or gauge; a histogram's sum */
	unsigned long long count; /* a histogram's observations */
	unsigned long long *buckets;
	struct series *next;      /* in the order of creation, for rendering */
	struct series *same_slot; /* the next one in this series' hash slot */
} series;

typedef struct family {
	const char *name, *help;
	portico_metric_type type;
	const double *bounds;
	size_t bound_count;
	series *series, *last;
	series **slots; /* slot_count heads of same_slot chains, grown to keep them short */
	size_t slot_count, series_count;
	struct family *next;
} family;

struct portico_metrics {
	pthread_mutex_t lock;
	family *families, *last;
};

portico_metrics *portico_metrics_new(void)
{
	portico_metrics *metrics = portico_calloc(1, sizeof *metrics);
	pthread_mutex_init(&metrics->lock, NULL);
	return metrics;
}

void portico_metrics_free(portico_metrics *metrics)
{
	if (!metrics)
		return;
	for (family *f = metrics->families, *next_family; f; f = next_family) {
		next_family = f->next;
		for (series *s = f->series, *next; s; s = next) {
			next = s->next;
			free(s->labels);
			free(s->buckets);
			free(s);
		}
		free(f->slots);
		free(f);
	}
	pthread_mutex_destroy(&metrics->lock);
	free(metrics);
}

/* With the lock held. */
static family *find_family(portico_metrics *metrics, const char *name)
{
	for (family *f = metrics->families; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

void portico_metrics_define(portico_metrics *metrics, const char *name, portico_metric_type type, const char *help,
                            const double *buckets, size_t bucket_count)
{
	pthread_mutex_lock(&metrics->lock);
	if (!find_family(metrics, name)) {
		family *f = portico_calloc(1, sizeof *f);
		*f = (family){.name = name, .help = help, .type = type, .bounds = buckets, .bound_count = bucket_count};
		if (metrics->last)
			metrics->last->next = f;
		else
			metrics->families = f;
		metrics->last = f;
	}
	pthread_mutex_unlock(&metrics->lock);
}

/* FNV-1a: label sets are short, and this spreads them well enough for chains of one or two. */
static size_t hash_labels(const char *labels)
{
	size_t hash = (size_t)14695981039346656037ull;
	for (const unsigned char *c = (const unsigned char *)labels; *c; c++)
		hash = (hash ^ *c) * (size_t)1099511628211ull;
	return hash;
}

/* Doubles the slots of f (from 16) and links every series into its new slot. */
static void grow_slots(family *f)
{
	f->slot_count = f->slot_count ? f->slot_count * 2 : 16;
	free(f->slots);
	f->slots = portico_calloc(f->slot_count, sizeof *f->slots);
	for (series *s = f->series; s; s = s->next) {
		series **slot = &f->slots[s->hash & (f->slot_count - 1)];
		s->same_slot = *slot;
		*slot = s;
	}
}

/* With the lock held; NULL for an undefined family, which is a programming error left silent
 * rather than fatal: metrics never take a request down. */
static series *find_series(portico_metrics *metrics, const char *name, const char *labels)
{
	family *f = find_family(metrics, name);
	if (!f)
		return NULL;
	size_t hash = hash_labels(labels);
	for (series *s = f->slot_count ? f->slots[hash & (f->slot_count - 1)] : NULL; s; s = s->same_slot)
		if (s->hash == hash && !strcmp(s->labels, labels))
			return s;
	series *s = portico_calloc(1, sizeof *s);
	s->labels = portico_strdup(labels);
	s->hash = hash;
	if (f->type == PORTICO_HISTOGRAM)
		s->buckets = portico_calloc(f->bound_count, sizeof *s->buckets);
	if (f->last)
		f->last->next = s;
	else
		f->series = s;
	f->last = s;
	if (++f->series_count > f->slot_count) {
		grow_slots(f); /* links s too */
	} else {
		series **slot = &f->slots[hash & (f->slot_count - 1)];
		s->same_slot = *slot;
		*slot = s;
	}
	return s;
}

void portico_metrics_add(portico_metrics *metrics, const char *name, const char *labels, double value)
{
	pthread_mutex_lock(&metrics->lock);
	series *s = find_series(metrics, name, labels);
	if (s)
		s->value += value;
	pthread_mutex_unlock(&metrics->lock);
}

void portico_metrics_set(portico_metrics *metrics, const char *name, const char *labels, double value)
{
	pthread_mutex_lock(&metrics->lock);
	series *s = find_series(metrics, name, labels);
	if (s)
		s->value = value;
	pthread_mutex_unlock(&metrics->lock);
}

void portico_metrics_observe(portico_metrics *metrics, const char *name, const char *labels, double value)
{
	pthread_mutex_lock(&metrics->lock);
	family *f = find_family(metrics, name);
	series *s = f && f->type == PORTICO_HISTOGRAM ? find_series(metrics, name, labels) : NULL;
	if (s) {
		for (size_t i = 0; i < f->bound_count; i++)
			if (value <= f->bounds[i])
				s->buckets[i]++;
		s->count++;
		s->value += value;
	}
	pthread_mutex_unlock(&metrics->lock);
}

char *portico_metrics_label(char *out, size_t size, const char *key, const char *value)
{
	/* Without snprintf: a request's metrics label a route and a method with this. */
	size_t key_length = strlen(key), used = key_length + 2 < size ? key_length + 2 : 0;
	if (used) {
		memcpy(out, key, key_length);
		memcpy(out + key_length, "=\"", 2);
	}
	for (const char *c = value; *c && used + 3 < size; c++) {
		if (*c == '"' || *c == '\\' || *c == '\n') {
			out[used++] = '\\';
			out[used++] = *c == '\n' ? 'n' : *c;
		} else {
			out[used++] = *c;
		}
	}
	if (used + 1 < size)
		out[used++] = '"';
	out[used < size ? used : size - 1] = '\0';
	return out;
}

typedef struct text {
	char *data;
	size_t length, capacity;
} text;

static void appendf(text *t, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void appendf(text *t, const char *format, ...)
{
	va_list args;
	for (;;) {
		va_start(args, format);
		int written = vsnprintf(t->data + t->length, t->capacity - t->length, format, args);
		va_end(args);
		if (written >= 0 && (size_t)written < t->capacity - t->length) {
			t->length += (size_t)written;
			return;
		}
		t->capacity = t->capacity * 2 + (size_t)(written > 0 ? written : 0) + 256;
		t->data = portico_realloc(t->data, t->capacity);
	}
}

static void write_number(text *t, double value)
{
	if (isinf(value))
		appendf(t, value > 0 ? "+Inf" : "-Inf");
	else if (value == (double)(long long)value && fabs(value) < 1e15)
		appendf(t, "%lld", (long long)value);
	else
		appendf(t, "%.17g", value);
}

/* `name{labels,extra}` with the braces left out when both are empty. */
static void write_name(text *t, const char *name, const char *suffix, const char *labels, const char *extra)
{
	appendf(t, "%s%s", name, suffix);
	if (*labels || *extra)
		appendf(t, "{%s%s%s}", labels, *labels && *extra ? "," : "", extra);
	appendf(t, " ");
}

char *portico_metrics_render(portico_metrics *metrics, size_t *length)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	text t = {portico_malloc(4096), 0, 4096};
	t.data[0] = '\0';
	pthread_mutex_lock(&metrics->lock);
	for (family *f = metrics->families; f; f = f->next) {
		appendf(&t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
		for (series *s = f->series; s; s = s->next) {
			if (f->type != PORTICO_HISTOGRAM) {
				write_name(&t, f->name, "", s->labels, "");
				write_number(&t, s->value);
				appendf(&t, "\n");
				continue;
			}
			for (size_t i = 0; i < f->bound_count; i++) {
				char bound[48];
				snprintf(bound, sizeof bound, "le=\"%g\"", f->bounds[i]);
				write_name(&t, f->name, "_bucket", s->labels, bound);
				appendf(&t, "%llu\n", s->buckets[i]);
			}
			write_name(&t, f->name, "_bucket", s->labels, "le=\"+Inf\"");
			appendf(&t, "%llu\n", s->count);
			write_name(&t, f->name, "_sum", s->labels, "");
			write_number(&t, s->value);
			appendf(&t, "\n");
			write_name(&t, f->name, "_count", s->labels, "");
			appendf(&t, "%llu\n", s->count);
		}
	}
	pthread_mutex_unlock(&metrics->lock);
	*length = t.length;
	return t.data;
}
