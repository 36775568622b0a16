/* Stackful coroutines for workflow code: each runs a function on a stack of its own (mmap'd, with
 * a guard page below it, so an overflow faults instead of corrupting memory) and switches only
 * where it says, with coroutine_yield. A scheduler (workflow_run.c) resumes one at a time.
 * Built on ucontext; under AddressSanitizer every switch is announced to it
 * (__sanitizer_start_switch_fiber), so its reports stay right.
 *
 * Not thread-safe per coroutine: a coroutine may be resumed from any thread, but by one at a time,
 * and never while it runs. */
#ifndef PORTICO_COROUTINE_H
#define PORTICO_COROUTINE_H

#include <stddef.h>

typedef struct coroutine coroutine;
typedef void (*coroutine_fn)(void *arg);

/* A coroutine that will run fn(arg) on a stack of stack_bytes (rounded up to pages; at least
 * 64 KiB) when first resumed. Returns NULL when the stack cannot be mapped. Free with
 * coroutine_free. */
coroutine *coroutine_new(size_t stack_bytes, coroutine_fn fn, void *arg);

/* Runs c until it yields or its function returns. Returns 1 while c can be resumed again, 0 once
 * its function has returned. Never call it from inside c itself. */
int coroutine_resume(coroutine *c);

/* Inside a coroutine: suspends it and returns to whoever resumed it. */
void coroutine_yield(void);

/* The coroutine running on this thread, or NULL outside any. */
coroutine *coroutine_current(void);

/* True once c's function has returned. */
int coroutine_finished(const coroutine *c);

/* Unmaps c's stack. c must have finished or never started: a suspended coroutine's stack frames
 * are discarded without running (its owner makes it return first). NULL is fine. */
void coroutine_free(coroutine *c);

#endif
