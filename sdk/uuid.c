#include "uuid.h"

#include <pthread.h>
#include <stdint.h>

#include "crypto.h"

/* Each thread draws its UUIDs' bytes from its own block of CSPRNG output, refilled once used up:
 * one RAND_bytes call (a DRBG round, its locks and parameter look-ups) serves POOL_UUIDS ids
 * instead of one, for every request id. The bytes are as unguessable as before; the block lives
 * in the thread's memory until used, as each id's bytes did. */
#define POOL_UUIDS 32

typedef struct uuid_pool {
	uint8_t bytes[16 * POOL_UUIDS];
	size_t left; /* bytes not given out yet, at the block's end; 0 in a new thread's */
} uuid_pool;

static _Thread_local uuid_pool pool;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* A forked child starts with its parent's pool: it must not give out the ids its parent will. The
 * handler runs in the child's only thread, the one that forked, whose pool it empties. */
static void forget_pool(void)
{
	portico_wipe(pool.bytes, sizeof pool.bytes);
	pool.left = 0;
}

static void install_fork_handler(void)
{
	pthread_atfork(NULL, NULL, forget_pool);
}

void portico_uuid_v4(char out[PORTICO_UUID_LENGTH + 1])
{
	static const char digits[] = "0123456789abcdef";
	if (pool.left == 0) {
		pthread_once(&fork_handler_once, install_fork_handler);
		portico_random_bytes(pool.bytes, sizeof pool.bytes);
		pool.left = sizeof pool.bytes;
	}
	uint8_t *bytes = pool.bytes + sizeof pool.bytes - pool.left;
	pool.left -= 16;
	bytes[6] = (bytes[6] & 0x0f) | 0x40;
	bytes[8] = (bytes[8] & 0x3f) | 0x80;
	size_t at = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[at++] = '-';
		out[at++] = digits[bytes[i] >> 4];
		out[at++] = digits[bytes[i] & 0xf];
	}
	out[at] = '\0';
}
