/* Coroutines on ucontext. Each coroutine keeps two contexts: its own (saved while it is suspended)
 * and its resumer's (saved by coroutine_resume, returned to by coroutine_yield and when its
 * function returns). Keeping the resumer's context in the coroutine, not per thread, is what lets
 * another thread resume it next time.
 *
 * Cost: getcontext and setcontext each save or restore the signal mask, system calls on every
 * switch. That is accepted: a workflow switches a few times per workflow task, not per
 * instruction. */
#include "coroutine.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "alloc.h"

/* gcc says __SANITIZE_ADDRESS__; clang (and gcc from 14) answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define COROUTINE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COROUTINE_ASAN 1
#endif
#endif

#ifdef COROUTINE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#define COROUTINE_MIN_STACK_BYTES (64 * 1024)

struct coroutine {
	ucontext_t context; /* its registers while suspended; where resume goes */
	ucontext_t resumer; /* whoever resumed it last: where yield and the return go */
	coroutine_fn fn;
	void *arg;
	unsigned char *mapping; /* a guard page, then the stack */
	size_t mapping_bytes;
	size_t guard_bytes;
	int finished;
	/* Under ASan: the resumer's stack, told to ASan when switching back to it. */
	const void *resumer_stack;
	size_t resumer_stack_bytes;
};

/* The coroutine running on this thread. Read only before a switch in code that runs on a
 * coroutine's stack: after a yield it may continue on another thread. */
static _Thread_local coroutine *current;

/* ASan tracks one stack per thread; these tell it which stack a switch goes to (start, before it)
 * and where it came from (finish, after it). fake_stack NULL in start means the stack left is
 * never returned to, so ASan frees what it kept for it. */
#ifdef COROUTINE_ASAN
static void switch_start(void **fake_stack, const void *to_stack, size_t to_stack_bytes)
{
	__sanitizer_start_switch_fiber(fake_stack, to_stack, to_stack_bytes);
}

static void switch_finish(void *fake_stack, const void **from_stack, size_t *from_stack_bytes)
{
	__sanitizer_finish_switch_fiber(fake_stack, from_stack, from_stack_bytes);
}

/* A suspended coroutine's frames leave their red zones poisoned; a later mapping at the same
 * addresses must start clean. */
static void stack_unpoison(void *stack, size_t bytes)
{
	ASAN_UNPOISON_MEMORY_REGION(stack, bytes);
}
#else
static void switch_start(void **fake_stack, const void *to_stack, size_t to_stack_bytes)
{
	(void)fake_stack;
	(void)to_stack;
	(void)to_stack_bytes;
}

static void switch_finish(void *fake_stack, const void **from_stack, size_t *from_stack_bytes)
{
	(void)fake_stack;
	(void)from_stack;
	(void)from_stack_bytes;
}

static void stack_unpoison(void *stack, size_t bytes)
{
	(void)stack;
	(void)bytes;
}
#endif

/* Saves the running context in from and continues in to; returns when from is continued.
 * swapcontext does this in one call, but ASan's interceptor of it prints a warning in every
 * process that uses it (it predates the fiber annotations above, which make that warning moot),
 * and the sanitized build is to run this very code, warning-free. */
static void context_switch(ucontext_t *from, const ucontext_t *to)
{
	volatile int leaving = 1; /* volatile: getcontext returns twice */
	getcontext(from);
	if (leaving) {
		leaving = 0;
		setcontext(to);
		abort(); /* setcontext returns only for a context that is not one */
	}
}

/* The first function on a coroutine's stack. makecontext passes only ints, so it takes no
 * arguments and finds its coroutine in `current`, set by coroutine_resume on this thread. */
static void coroutine_main(void)
{
	coroutine *c = current;
	switch_finish(NULL, &c->resumer_stack, &c->resumer_stack_bytes);
	c->fn(c->arg);
	c->finished = 1;
	switch_start(NULL, c->resumer_stack, c->resumer_stack_bytes);
	setcontext(&c->resumer);
	abort(); /* setcontext returns only for a context that is not one */
}

coroutine *coroutine_new(size_t stack_bytes, coroutine_fn fn, void *arg)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (stack_bytes < COROUTINE_MIN_STACK_BYTES)
		stack_bytes = COROUTINE_MIN_STACK_BYTES;
	if (stack_bytes > SIZE_MAX / 2) /* keeps the rounding and the guard page from overflowing */
		return NULL;
	size_t stack = (stack_bytes + page - 1) / page * page;
	/* MAP_NORESERVE: pages never touched cost no memory, nor commit charge. */
	unsigned char *mapping = mmap(NULL, page + stack, PROT_READ | PROT_WRITE,
	                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (mapping == MAP_FAILED)
		return NULL;
	/* The stack grows down: an overflow runs into this page and faults. */
	if (mprotect(mapping, page, PROT_NONE) != 0) {
		munmap(mapping, page + stack);
		return NULL;
	}
	coroutine *c = portico_calloc(1, sizeof *c); /* freed by coroutine_free */
	c->fn = fn;
	c->arg = arg;
	c->mapping = mapping;
	c->mapping_bytes = page + stack;
	c->guard_bytes = page;
	getcontext(&c->context);
	c->context.uc_stack.ss_sp = mapping + page;
	c->context.uc_stack.ss_size = stack;
	c->context.uc_link = NULL; /* coroutine_main never returns: it switches to the resumer */
	makecontext(&c->context, coroutine_main, 0);
	return c;
}

int coroutine_resume(coroutine *c)
{
	if (c->finished)
		return 0;
	coroutine *outer = current;
	void *fake_stack = NULL;
	current = c;
	switch_start(&fake_stack, c->mapping + c->guard_bytes, c->mapping_bytes - c->guard_bytes);
	context_switch(&c->resumer, &c->context);
	switch_finish(fake_stack, NULL, NULL);
	current = outer;
	return !c->finished;
}

void coroutine_yield(void)
{
	coroutine *c = current;
	void *fake_stack = NULL;
	switch_start(&fake_stack, c->resumer_stack, c->resumer_stack_bytes);
	context_switch(&c->context, &c->resumer);
	/* Resumed, perhaps on another thread: that resumer's stack is the one to go back to. */
	switch_finish(fake_stack, &c->resumer_stack, &c->resumer_stack_bytes);
}

coroutine *coroutine_current(void)
{
	return current;
}

int coroutine_finished(const coroutine *c)
{
	return c->finished;
}

void coroutine_free(coroutine *c)
{
	if (!c)
		return;
	stack_unpoison(c->mapping + c->guard_bytes, c->mapping_bytes - c->guard_bytes);
	munmap(c->mapping, c->mapping_bytes);
	free(c);
}
