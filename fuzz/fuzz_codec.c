/* The codec's decode of any stored payload (the input is a serialized Payload: encrypted, zlib,
 * unknown encodings, tampered data), with a fixed key ring and compression on: it decodes,
 * passes it through or refuses it with a message, and never inflates past its budget. */
#include <stdint.h>

#include "codec.h"
#include "fuzz.h"
#include "payload.h"

#define FUZZ_PAYLOAD_LIMIT (64 * 1024) /* small, so that bombs hit the budget quickly */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	portico_codec *codec = fuzz_key_ring();
	portico_payload *payload = (portico_payload *)protobuf_c_message_unpack(
	        &temporal__api__common__v1__payload__descriptor, NULL, size, data);
	if (!payload)
		return 0;
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, FUZZ_PAYLOAD_LIMIT);
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload *decoded = portico_codec_decode_within(codec, payload, &budget, &err);
	if (!decoded && !err.message)
		fuzz_fail("refused without a message", NULL);
	if (decoded && decoded->data.len > FUZZ_PAYLOAD_LIMIT && decoded->data.len > payload->data.len)
		fuzz_fail("inflated past the payload limit", NULL);
	if (decoded) {
		/* What decodes encodes again and decodes to the same payload. */
		portico_payload *encoded = portico_codec_encode(codec, decoded);
		portico_decode_budget_init(&budget, FUZZ_PAYLOAD_LIMIT);
		portico_payload *again = encoded ? portico_codec_decode_within(codec, encoded, &budget, &err) : NULL;
		if (encoded && !again && decoded->data.len + 64 < FUZZ_PAYLOAD_LIMIT)
			fuzz_fail("a payload Portico encoded does not decode", err.message);
		portico_payload_free(again);
		portico_payload_free(encoded);
	}
	portico_payload_free(decoded);
	portico_payload_free(payload);
	portico_error_clear(&err);
	return 0;
}
