/* The differential check of a request body read straight from its text, shared by
 * test_json_canonical.c and its fuzz harness (fuzz/fuzz_json_canonical.c): payloads compared
 * packed, byte for byte. */
#ifndef TESTS_PACKED_PAYLOADS_H
#define TESTS_PACKED_PAYLOADS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_parse.h"
#include "json_text.h"
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

/* Body text both ways, portico_json_parse (the tree's way) and portico_json_parse_body: the same
 * errors, the same body but for the payload keys, the same payloads under them. Returns NULL when
 * they agree, else what differs; *raw (when not NULL) counts the payloads that came as raw values. */
static inline const char *body_difference(const char *text, size_t length, size_t *raw)
{
	json_error_t old_error, new_error;
	json_t *old = portico_json_parse(text, length, 0, &old_error);
	json_t *new = portico_json_parse_body(text, length, payload_keys, &new_error);
	const char *difference = NULL;
	if (!old || !new) {
		if (old || new)
			difference = "one way read the body";
		else if (strcmp(old_error.text, new_error.text) || old_error.position != new_error.position)
			difference = "the errors differ";
		json_decref(old);
		json_decref(new);
		return difference;
	}
	for (const char *const *key = payload_keys; *key && !difference; key++) {
		json_t *old_value = json_object_get(old, *key), *new_value = json_object_get(new, *key);
		size_t old_length = 0, new_length = 0, i, raw_length;
		uint8_t *old_packed = old_value ? packed_payloads(old_value, &old_length) : NULL;
		uint8_t *new_packed = new_value ? packed_payloads(new_value, &new_length) : NULL;
		if (!old_packed != !new_packed || old_length != new_length ||
		    (old_packed && memcmp(old_packed, new_packed, old_length)))
			difference = "the payloads differ";
		free(old_packed);
		free(new_packed);
		json_t *element;
		if (raw)
			json_array_foreach(new_value, i, element) *raw +=
			        portico_json_raw_text(element, &raw_length) != NULL;
		json_object_del(old, *key);
		json_object_del(new, *key);
	}
	if (!difference && !json_equal(old, new))
		difference = "the bodies differ";
	json_decref(old);
	json_decref(new);
	return difference;
}

#endif
