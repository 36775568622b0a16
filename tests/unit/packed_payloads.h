/* The request bodies' payloads as the differential test of json_copy (test_json_canonical.c) and
 * its fuzz harness (fuzz/fuzz_json_canonical.c) compare them: packed, byte for byte. */
#ifndef TESTS_PACKED_PAYLOADS_H
#define TESTS_PACKED_PAYLOADS_H

#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "payload.h"

/* The payload arrays a body may carry at its top. */
static const char *const payload_keys[] = {"args", "signalArgs", NULL};

/* The payloads' packed bytes (the caller frees), or NULL when value is not read as payloads. */
static inline uint8_t *packed_payloads(const json_t *value, size_t *length)
{
	portico_error err = PORTICO_ERROR_INIT;
	portico_payloads *payloads = portico_payloads_from_json(value, "args", &err);
	if (!payloads) {
		portico_error_clear(&err);
		return NULL;
	}
	*length = protobuf_c_message_get_packed_size(&payloads->base);
	uint8_t *packed = malloc(*length + 1);
	protobuf_c_message_pack(&payloads->base, packed);
	portico_payloads_free(payloads);
	return packed;
}

#endif
