/* What portico-worker --workflows calls once loaded: registers the example workflows (workflows.h). */
#include "worker.h"
#include "workflows.h"

void portico_register_workflows(portico_worker *worker)
{
	portico_worker_register_workflow(worker, "c.OrderSaga", order_saga_workflow, NULL);
	portico_worker_register_workflow(worker, "c.Approval", approval_workflow, NULL);
	portico_worker_register_workflow(worker, "c.Greeting", greeting_workflow, NULL);
}
