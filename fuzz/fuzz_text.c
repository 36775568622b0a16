/* The small parsers of what callers type: request bodies as the gateway parses them (numbers
 * beyond 64 bits kept as raw numbers), durations (?timeout=, ?wait=, settings), %-escapes, query
 * strings, and the header lines that frame a body. A body that parses must write back to text
 * that parses to the same value; a duration that parses is a whole number of milliseconds, never
 * negative from a positive text; a query keeps only well-formed parameters and names the first bad
 * one; a framing refusal always says why. */
#include <stdint.h>

#include "fuzz.h"
#include "json_parse.h"
#include "json_text.h"
#include "settings.h"
#include "body_framing.h"
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

static void check_query(const char *text)
{
	url_query query = {0};
	url_query_parse(&query, text);
	for (size_t i = 0; i < query.count; i++)
		if (!query.keys[i] || !query.values[i] || url_query_get(&query, query.keys[i]) == NULL)
			fuzz_fail("a parsed query parameter cannot be read back", text);
	url_query_free(&query);
}

/* The text as header lines "Name: value", one a line, framing a body. */
static void check_framing(char *text)
{
	body_framing framing = {0};
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *value = colon[1] == ' ' ? colon + 2 : colon + 1;
		body_framing_add(&framing, line, *value ? value : NULL);
	}
	char *message = NULL;
	body_framing_verdict verdict = body_framing_refusal(&framing, &message);
	if ((verdict != BODY_FRAMING_CLEAR) != (message != NULL))
		fuzz_fail("a framing refusal without a reason, or a reason without one", text);
	free(message);
	body_framing_free(&framing);
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
	check_query(text);
	check_framing(text); /* last: it cuts text into lines */
	free(text);
	return 0;
}
