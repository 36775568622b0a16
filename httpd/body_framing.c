#include "body_framing.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "url.h"

void body_framing_add(body_framing *framing, const char *name, const char *value)
{
	value = value ? value : "";
	if (!strcasecmp(name, "Content-Length")) {
		if (!framing->length)
			framing->length = value;
		else if (strcmp(framing->length, value))
			framing->lengths_differ = 1;
		return;
	}
	if (strcasecmp(name, "Transfer-Encoding"))
		return;
	framing->encodings++;
	framing->chunked_only = !strcasecmp(value, "chunked");
	for (const char *coding = value; *coding && !framing->unsupported;) {
		coding += strspn(coding, " \t,");
		size_t length = strcspn(coding, " \t,");
		if (length && !(length == strlen("chunked") && !strncasecmp(coding, "chunked", length)))
			framing->unsupported = url_quote(coding, length);
		coding += length;
	}
}

body_framing_verdict body_framing_refusal(const body_framing *framing, char **message)
{
	if (framing->lengths_differ) {
		*message = portico_strdup("the request has Content-Length headers that disagree");
		return BODY_FRAMING_AMBIGUOUS;
	}
	if (framing->encodings && framing->length) {
		*message = portico_strdup(
		        "the request has both Content-Length and Transfer-Encoding: its length is ambiguous");
		return BODY_FRAMING_AMBIGUOUS;
	}
	if (framing->unsupported) {
		*message = portico_sprintf("Transfer-Encoding \\\"%s\\\" is not supported (only chunked)",
		                           framing->unsupported);
		return BODY_FRAMING_UNSUPPORTED;
	}
	if (framing->encodings && !(framing->encodings == 1 && framing->chunked_only)) {
		*message = portico_strdup("Transfer-Encoding must name chunked once");
		return BODY_FRAMING_AMBIGUOUS;
	}
	return BODY_FRAMING_CLEAR;
}

void body_framing_free(body_framing *framing)
{
	free(framing->unsupported);
}
