/* The plain JSON parser (json_parse.h) against jansson's, which it stands in front of: whenever it
 * takes a text, jansson must take it too and make the same value (same types, same key order, same
 * strings and numbers, as json_dumps writes them without sorting); with and without
 * JSON_DECODE_ANY. What it leaves to jansson costs only time. */
#include <stdint.h>

#include "fuzz.h"
#include "json_parse.h"

static void check(const char *text, size_t size, int any)
{
	json_t *plain = portico_json_parse_plain(text, size, any);
	if (!plain)
		return;
	json_error_t error;
	json_t *reference = json_loadb(text, size, any ? JSON_DECODE_ANY : 0, &error);
	if (!reference)
		fuzz_fail("the plain parser takes a text jansson refuses", error.text);
	char *mine = json_dumps(plain, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
	char *theirs = json_dumps(reference, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (!mine || !theirs || strcmp(mine, theirs) || !json_equal(plain, reference))
		fuzz_fail("the plain parser makes another value than jansson", mine ? mine : "(none)");
	free(mine);
	free(theirs);
	json_decref(reference);
	json_decref(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check((const char *)data, size, 1);
	check((const char *)data, size, 0);
	return 0;
}
