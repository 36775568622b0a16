/* The flow interpreter: the workflow function that runs a flow (README.md, "The contract of a
 * run") from its input, task by task, through the workflow API (sdk/workflow.h): every decision is
 * deterministic (expressions are, and time is the workflow's), so a run replays like any C
 * workflow, and a worker restarted halfway goes on from history. */
#ifndef PORTICO_FLOW_INTERPRETER_H
#define PORTICO_FLOW_INTERPRETER_H

#include "definition.h"
#include "worker.h"
#include "workflow.h"

/* The workflow function. user_data is the flow_catalog (may be NULL) that resolves `run: workflow`
 * children: the lookup is recorded as a side effect, so a replay uses the definition the first run
 * found even if the directory has changed since. An input that is not a flow's fails the workflow
 * task, as an unknown workflow type does in Temporal's SDKs (the run waits for a worker that has
 * its type); a definition that does not validate fails the workflow (the problem names the path). */
int flow_workflow(portico_workflow *wf, void *catalog);

/* Registers flow_workflow as worker's dynamic workflow (catalog borrowed; it must outlive the
 * worker). */
void flow_register(portico_worker *worker, const flow_catalog *catalog);

#endif
