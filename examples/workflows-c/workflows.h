/* The example workflows written in C (sdk/workflow.h), built into one shared object,
 * build/examples/libworkflows.so, and run by Portico's worker on its own task queue with
 *   build/portico-worker --workflows build/examples/libworkflows.so
 * which calls the portico_register_workflows that workflows.c defines.
 *
 *   c.OrderSaga  order_saga.c  examples/workflows/order_saga.py in C (examples/saga)
 *   c.Approval   approval.c    examples/workflows/approval.py in C (examples/approval)
 *   c.Greeting   greeting.c    a C workflow calling an activity of another SDK's worker */
#ifndef PORTICO_EXAMPLE_WORKFLOWS_H
#define PORTICO_EXAMPLE_WORKFLOWS_H

#include "workflow.h"

int order_saga_workflow(portico_workflow *wf, void *user_data);
int approval_workflow(portico_workflow *wf, void *user_data);
int greeting_workflow(portico_workflow *wf, void *user_data);

#endif
