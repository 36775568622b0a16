/* The nesting depth of a JSON value, walked with a stack of its own (json_depth.h). */
#include "json_depth.h"

#include <stdlib.h>

#include "alloc.h"

/* A container being walked: arrays by index, objects by iterator. */
typedef struct frame {
	const json_t *container;
	size_t index;
	void *iter;
} frame;

/* The next member of f's container to walk into, or NULL when f is finished. */
static const json_t *next_member(frame *f)
{
	if (json_is_array(f->container))
		return f->index < json_array_size(f->container) ? json_array_get(f->container, f->index++) : NULL;
	if (!f->iter)
		return NULL;
	const json_t *member = json_object_iter_value(f->iter);
	f->iter = json_object_iter_next((json_t *)f->container, f->iter);
	return member;
}

static void enter(frame *f, const json_t *container)
{
	*f = (frame){.container = container,
	             .iter = json_is_object(container) ? json_object_iter((json_t *)container) : NULL};
}

int flow_json_deeper_than(const json_t *value, size_t max)
{
	if (!json_is_array(value) && !json_is_object(value))
		return 0;
	if (max == 0)
		return 1;
	frame *stack = portico_malloc(max * sizeof *stack); /* freed below */
	size_t depth = 1;
	enter(&stack[0], value);
	int deeper = 0;
	while (depth && !deeper) {
		const json_t *member = next_member(&stack[depth - 1]);
		if (!member)
			depth--;
		else if (json_is_array(member) || json_is_object(member)) {
			if (depth == max)
				deeper = 1;
			else
				enter(&stack[depth++], member);
		}
	}
	free(stack);
	return deeper;
}
