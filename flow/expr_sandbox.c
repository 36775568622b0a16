/* The sandbox processes of runtime expressions (expr_sandbox.h). */
#include "expr_sandbox.h"

#include "expr.h"

int flow_expr_start(const flow_expr_options *options, portico_error *err)
{
	(void)options;
	(void)err;
	return 0;
}

void flow_sandbox_stop(void)
{
}

int flow_expr_sandbox_main(void)
{
	return 2;
}

int flow_sandbox_call(const char *program, const json_t *names, const json_t *data, const json_t *vars, json_t **value,
                      portico_error *err)
{
	(void)program, (void)names, (void)data, (void)vars, (void)value, (void)err;
	return FLOW_SANDBOX_OFF;
}
