/* Allocation that never returns NULL: out of memory aborts the process with a message,
 * so callers never check (as Redis' zmalloc does). Memory from these functions is freed
 * with free(). */
#ifndef PORTICO_ALLOC_H
#define PORTICO_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *portico_malloc(size_t size);
void *portico_calloc(size_t count, size_t size);
void *portico_realloc(void *ptr, size_t size);
/* Returns a copy of s, or NULL when s is NULL. */
char *portico_strdup(const char *s);
char *portico_strndup(const char *s, size_t n);
/* Returns a newly formatted string. */
char *portico_sprintf(const char *format, ...) __attribute__((format(printf, 1, 2)));
char *portico_vsprintf(const char *format, va_list args);

#endif
