/* The smallest C activity, loaded with
 *   build/portico-worker --activities build/examples/libecho.so
 *
 * example.echo <any JSON>: returns its argument. On the thread pool; the benchmarks use it as
 * the no-op activity. */
#include "worker.h"

static int echo(portico_activity *activity, void *user_data)
{
	(void)user_data;
	json_t *input = portico_activity_input_json(activity, 0);
	return portico_activity_set_result_json(activity, input ? input : json_null());
}

void portico_register_activities(portico_worker *worker)
{
	portico_worker_register(worker, "example.echo", echo, NULL);
}
