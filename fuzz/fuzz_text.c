/* The small parsers of what callers type: request bodies as the gateway parses them (numbers
 * beyond 64 bits kept as raw numbers), durations (?timeout=, ?wait=, settings) and %-escapes.
 * A body that parses must write back to text that parses to the same value; a duration that parses
 * is a whole number of milliseconds, never negative from a positive text. */
#include <stdint.h>

#include "fuzz.h"
#include "json_text.h"
#include "settings.h"
#include "url.h"

static void check_json(const char *text, size_t size)
{
	json_t *value = portico_json_parse(text, size, JSON_DECODE_ANY, NULL);
	if (!value)
		return;
	size_t length;
	char *written = portico_json_text(value, 0, &length);
	json_t *again = portico_json_parse(written, length, JSON_DECODE_ANY, NULL);
	if (!again)
		fuzz_fail("JSON Portico wrote does not parse", written);
	char *rewritten = portico_json_text(again, 0, &length);
	if (strcmp(written, rewritten))
		fuzz_fail("JSON changes when written a second time", written);
	free(rewritten);
	free(written);
	json_decref(again);
	json_decref(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	check_json(text, size);
	int64_t ms;
	if (portico_duration_parse(text, &ms) == 0 && text[0] != '-' && ms < 0)
		fuzz_fail("a positive duration parsed as negative", text);
	char *unescaped = http_unescape(text, size, 1);
	if (unescaped && strlen(unescaped) > size)
		fuzz_fail("unescaping made text longer", text);
	free(unescaped);
	free(text);
	return 0;
}
