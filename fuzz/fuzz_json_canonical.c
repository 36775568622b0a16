/* A request's payloads read straight from its text (portico_json_parse_body, json_copy's sorted
 * copy) are byte for byte the payloads the tree's way reads (portico_json_parse, then
 * portico_payloads_from_json), with the same body around them and the same errors; and a sorted
 * copy is portico_json_text(tree, PORTICO_JSON_SORT_KEYS) or nothing. The first byte picks the
 * input's place: the body itself, the one argument of a body, or a value copied sorted. */
#include <stdint.h>

#include "fuzz.h"
#include "json_copy.h"
#include "json_parse.h"
#include "json_text.h"
#include "payload.h"
#include "../tests/unit/packed_payloads.h"

static void check_body(const char *text, size_t length)
{
	const char *difference = body_difference(text, length, NULL);
	if (difference)
		fuzz_fail(difference, text);
}

static void check_sorted(const char *text, size_t length)
{
	portico_json_buffer buffer = {NULL, 0, 0};
	size_t used = portico_json_copy_value(&buffer, text, length, PORTICO_JSON_SORT_KEYS, NULL, NULL);
	if (used > length)
		fuzz_fail("read past the text", text);
	if (!used && buffer.length)
		fuzz_fail("a copy that failed left text behind", buffer.data);
	if (used && used == length) {
		json_t *tree = portico_json_parse(text, length, JSON_DECODE_ANY, NULL);
		if (!tree)
			fuzz_fail("copied what the tree refuses", buffer.data);
		size_t expected_length;
		char *expected = portico_json_text(tree, PORTICO_JSON_SORT_KEYS, &expected_length);
		if (expected_length != buffer.length || memcmp(expected, buffer.data, expected_length))
			fuzz_fail("the sorted copy differs from the tree's", buffer.data);
		free(expected);
		json_decref(tree);
	}
	free(buffer.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1 << 16)
		return 0;
	unsigned pick = data[0] % 3;
	char *text = fuzz_text(data + 1, size - 1);
	size_t length = size - 1;
	if (pick == 0) {
		check_body(text, length);
	} else if (pick == 1) {
		static const char head[] = "{\"args\":[", tail[] = "],\"identity\":\"x\"}";
		char *body = malloc(sizeof head + length + sizeof tail);
		memcpy(body, head, sizeof head - 1);
		memcpy(body + sizeof head - 1, text, length);
		memcpy(body + sizeof head - 1 + length, tail, sizeof tail);
		check_body(body, sizeof head - 1 + length + sizeof tail - 1);
		free(body);
	} else {
		check_sorted(text, length);
	}
	free(text);
	return 0;
}
