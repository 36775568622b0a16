/* What the harnesses in fuzz/ share. Each is a libFuzzer target (LLVMFuzzerTestOneInput) that
 * calls Portico's own module functions on the input; `make fuzz` runs them. */
#ifndef PORTICO_FUZZ_H
#define PORTICO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input as a NUL-terminated string (the caller frees). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* A property the code promises does not hold: report and stop, so libFuzzer keeps the input. */
static inline void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: %s (%s)\n", what, detail ? detail : "");
	abort();
}

#endif
