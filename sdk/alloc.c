#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not portico_log, which allocates. */
static void out_of_memory(size_t size)
{
	fprintf(stderr, "portico: out of memory allocating %zu bytes\n", size);
	abort();
}

void *portico_malloc(size_t size)
{
	void *ptr = malloc(size ? size : 1);
	if (!ptr)
		out_of_memory(size);
	return ptr;
}

void *portico_calloc(size_t count, size_t size)
{
	void *ptr = calloc(count ? count : 1, size ? size : 1);
	if (!ptr)
		out_of_memory(count * size);
	return ptr;
}

void *portico_realloc(void *ptr, size_t size)
{
	void *grown = realloc(ptr, size ? size : 1);
	if (!grown)
		out_of_memory(size);
	return grown;
}

char *portico_strdup(const char *s)
{
	return s ? portico_strndup(s, strlen(s)) : NULL;
}

char *portico_strndup(const char *s, size_t n)
{
	char *copy = portico_malloc(n + 1);
	memcpy(copy, s, n);
	copy[n] = '\0';
	return copy;
}

char *portico_vsprintf(const char *format, va_list args)
{
	va_list measure;
	va_copy(measure, args);
	int length = vsnprintf(NULL, 0, format, measure);
	va_end(measure);
	if (length < 0)
		length = 0;
	char *out = portico_malloc((size_t)length + 1);
	vsnprintf(out, (size_t)length + 1, format, args);
	return out;
}

char *portico_sprintf(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *out = portico_vsprintf(format, args);
	va_end(args);
	return out;
}
