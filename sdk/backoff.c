#include "backoff.h"

#include <stdlib.h>

int64_t portico_backoff_delay_ms(unsigned attempt)
{
	int64_t delay = PORTICO_BACKOFF_INITIAL_MS;
	for (unsigned i = 1; i < attempt && delay < PORTICO_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > PORTICO_BACKOFF_MAX_MS)
		delay = PORTICO_BACKOFF_MAX_MS;
	/* rand() is enough: jitter needs spread, not secrecy. */
	return delay - (delay / 5) * (rand() % 1000) / 1000;
}
