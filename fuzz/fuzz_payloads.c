/* Payload shorthand in and out: any JSON a caller may give for a Payloads field either is refused
 * with a message or becomes payloads whose JSON (shorthand or full form) reads back to the same
 * payloads. */
#include <stdint.h>

#include "fuzz.h"
#include "payload.h"

static int same(const portico_payloads *a, const portico_payloads *b)
{
	size_t size = protobuf_c_message_get_packed_size(&a->base);
	if (protobuf_c_message_get_packed_size(&b->base) != size)
		return 0;
	uint8_t *x = malloc(size + 1), *y = malloc(size + 1);
	protobuf_c_message_pack(&a->base, x);
	protobuf_c_message_pack(&b->base, y);
	int equal = !memcmp(x, y, size);
	free(x);
	free(y);
	return equal;
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
		if (!again || !same(payloads, again))
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
