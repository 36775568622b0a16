/* Runtime expressions (expr.h). Scaffolding: libjq and the sandbox land with the expressions work. */
#include "expr.h"

#include <ctype.h>
#include <string.h>

int flow_expr_start(const flow_expr_options *options, portico_error *err)
{
	(void)options;
	(void)err;
	return 0;
}

void flow_expr_stop(void)
{
}

int flow_expr_sandbox_main(void)
{
	return 2;
}

int flow_expr_is(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return n >= 3 && s[0] == '$' && s[1] == '{' && s[n - 1] == '}';
}

int flow_expr_check(const char *s, portico_error *err)
{
	(void)s;
	(void)err;
	return 0;
}

json_t *flow_expr_eval(const char *s, const json_t *data, const json_t *vars, portico_error *err)
{
	(void)s;
	(void)data;
	(void)vars;
	portico_error_set(err, PORTICO_UNIMPLEMENTED, "runtime expressions are not built yet");
	return NULL;
}

json_t *flow_expr_eval_tree(const json_t *value, const json_t *data, const json_t *vars, portico_error *err)
{
	return flow_expr_eval(json_string_value(value), data, vars, err);
}
