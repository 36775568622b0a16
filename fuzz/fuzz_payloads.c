/* Payload shorthand in and out: any JSON a caller may give for a Payloads field either is refused
 * with a message or becomes payloads whose JSON reads back to the same payloads: the same bytes
 * from the full form, the same values from the shorthand (a json/plain payload shows as its value,
 * so the white space and escapes of another SDK's JSON are not kept: "Temporal"\r reads back as
 * "Temporal"). */
#include <stdint.h>

#include "fuzz.h"
#include "json_parse.h"
#include "json_text.h"
#include "payload.h"

static int same_bytes(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t size = protobuf_c_message_get_packed_size(a);
	if (protobuf_c_message_get_packed_size(b) != size)
		return 0;
	uint8_t *x = malloc(size + 1), *y = malloc(size + 1);
	protobuf_c_message_pack(a, x);
	protobuf_c_message_pack(b, y);
	int equal = !memcmp(x, y, size);
	free(x);
	free(y);
	return equal;
}

/* The value of a json/plain payload with no other metadata (a new reference), or NULL. */
static json_t *plain_value(const portico_payload *payload)
{
	const ProtobufCBinaryData *encoding = portico_payload_metadata(payload, "encoding");
	if (payload->n_metadata != 1 || !encoding || encoding->len != strlen(PORTICO_ENCODING_JSON) ||
	    memcmp(encoding->data, PORTICO_ENCODING_JSON, encoding->len))
		return NULL;
	return portico_json_parse((const char *)payload->data.data, payload->data.len, JSON_DECODE_ANY, NULL);
}

/* The shorthand's promise: each payload the same, but a json/plain one only the same value. */
static int same_values(const portico_payloads *a, const portico_payloads *b)
{
	if (a->n_payloads != b->n_payloads)
		return 0;
	for (size_t i = 0; i < a->n_payloads; i++) {
		json_t *x = plain_value(a->payloads[i]), *y = x ? plain_value(b->payloads[i]) : NULL;
		int equal = x ? y && json_equal(x, y) : same_bytes(&a->payloads[i]->base, &b->payloads[i]->base);
		json_decref(x);
		json_decref(y);
		if (!equal)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payloads *payloads = portico_payloads_from_json_text(text, "args", &err);
	if (!payloads && !err.message)
		fuzz_fail("refused without a message", text);
	for (int shorthand = 0; payloads && shorthand < 2; shorthand++) {
		json_t *json = portico_payloads_to_json(payloads, shorthand);
		json_t *field = json_is_object(json) ? json_object_get(json, "payloads") : json;
		portico_payloads *again = portico_payloads_from_json(field, "args", &err);
		if (!again || !(shorthand ? same_values(payloads, again) : same_bytes(&payloads->base, &again->base)))
			fuzz_fail("payloads do not read back from their own JSON",
			          shorthand ? "shorthand" : "full form");
		portico_payloads_free(again);
		json_decref(json);
	}
	portico_payloads_free(payloads);
	portico_error_clear(&err);
	free(text);
	return 0;
}
