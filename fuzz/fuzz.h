/* What the harnesses in fuzz/ share. Each is a libFuzzer target (LLVMFuzzerTestOneInput) that
 * calls Portico's own module functions on the input; `make fuzz` runs them. */
#ifndef PORTICO_FUZZ_H
#define PORTICO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"

/* libjq 1.6 (flows' expressions) leaks a token's string when a program it parses has a syntax
 * error (jq_parse), and holds a compiled program's stack by a pointer past its end, which LSan
 * takes for a leak once a cache keeps the program. Both are libjq's; it has no frame pointers, so
 * only its module name matches their stacks. A harness includes this header once. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libjq.so\n";
}

/* The input as a NUL-terminated string (the caller frees). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* A request header as the harnesses hand them to request_headers: arrays end with {NULL, NULL}. */
typedef struct fuzz_header {
	const char *name, *value;
} fuzz_header;

/* request_headers' lookup over a fuzz_header array: the first header called name, any case. */
static inline const char *fuzz_header_lookup(const void *arg, const char *name)
{
	for (const fuzz_header *h = arg; h->name; h++)
		if (!strcasecmp(h->name, name))
			return h->value;
	return NULL;
}

/* Splits text's "Name: value" lines, up to the first empty line, into headers (at most max of
 * them; headers holds max + 1), NULL-terminated, pointing into text, which it cuts; returns where
 * the rest (a body) starts. */
static inline char *fuzz_read_headers(char *text, fuzz_header *headers, size_t max)
{
	size_t count = 0;
	char *line = text;
	while (*line && *line != '\n') {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		char *colon = strchr(line, ':');
		if (colon && count < max) {
			*colon = '\0';
			char *value = colon + 1;
			while (*value == ' ')
				value++;
			headers[count++] = (fuzz_header){line, value};
		}
		if (!end) {
			line += strlen(line);
			break;
		}
		line = end + 1;
	}
	headers[count] = (fuzz_header){NULL, NULL};
	return *line == '\n' ? line + 1 : line;
}

/* A property the code promises does not hold: report and stop, so libFuzzer keeps the input. */
static inline void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: %s (%s)\n", what, detail ? detail : "");
	abort();
}

/* The key ring the harnesses decode payloads with: the official samples' test key and a second key
 * id. Made on the first call, kept for the process. */
static inline portico_codec *fuzz_key_ring(void)
{
	static portico_codec *codec;
	if (!codec) {
		portico_error err = PORTICO_ERROR_INIT;
		if (portico_codec_from_text("test-key-id=dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=,"
		                            "old=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		                            "fuzz", 1, &codec, &err))
			fuzz_fail("the fuzz key ring does not load", err.message);
	}
	return codec;
}

#endif
