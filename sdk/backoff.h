/* Retry pacing shared by every loop that talks to Temporal: 200 ms doubling to 10 s, with
 * jitter so that many clients retrying together do not stay in step. */
#ifndef PORTICO_BACKOFF_H
#define PORTICO_BACKOFF_H

#include <stdint.h>

#define PORTICO_BACKOFF_INITIAL_MS 200
#define PORTICO_BACKOFF_MAX_MS     10000

/* Delay before retry number `attempt` (1 for the first retry): the doubled base, less a random
 * share of up to 20%. */
int64_t portico_backoff_delay_ms(unsigned attempt);

#endif
