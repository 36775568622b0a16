/* Updates that outlive the server's long poll: UpdateWorkflowExecution gives up after about 20 s
 * with stage ACCEPTED; the gateway keeps polling PollWorkflowExecutionUpdate until the update
 * completes or the request's own timeout passes, then answers as the update call would have. */
#ifndef GATEWAY_UPDATE_H
#define GATEWAY_UPDATE_H

#include <stdint.h>

#include "exchange.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define UPDATE_DEFAULT_TIMEOUT_MS 60000

/* Answers exchange with response when the update completed or deadline_ms (monotonic) has
 * passed; otherwise polls on. Takes ownership of response. */
void update_wait(gateway_exchange *exchange, const char *namespace_name,
                 Temporal__Api__Workflowservice__V1__UpdateWorkflowExecutionResponse *response, int64_t deadline_ms);

#endif
