/* Where a JSON string's text stops being plain, eight bytes a step: the one scanner the parser
 * (json_parse.c), the writers (json_text.c, protojson.c) and the copier (json_copy.c) share, for
 * payloads are long strings with few escapes. */
#ifndef PORTICO_JSON_SCAN_H
#define PORTICO_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The length of the longest start of text (length bytes) that a JSON string holds as it is: no
 * '"', no '\\', no control character (below 0x20); and with ascii, no byte from 0x80 up either
 * (a UTF-8 sequence, which the caller reads itself). It stops exactly at the first such byte. */
static inline size_t portico_json_plain_run(const char *text, size_t length, int ascii)
{
	/* A byte below n in x shows as its high bit in (x - n per byte) & ~x, and a byte equal to c as
	 * one below 1 in x ^ c per byte; with ascii, (x - 0x20 per byte) | x marks the bytes below 0x20
	 * and from 0x80 up at once. Each test is exact as to "any byte" of the eight, and as to the
	 * first: a borrow can mark bytes after a marked one, never before it. */
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	if (!length) /* text may be NULL then: no arithmetic on it */
		return 0;
	const char *p = text, *end = text + length;
	while (end - p >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\'), below = x - ones * 0x20;
		uint64_t special = ((ascii ? below | x : below & ~x) | ((quote - ones) & ~quote) |
		                    ((backslash - ones) & ~backslash)) &
		                   highs;
		if (special) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return (size_t)(p - text) + (size_t)__builtin_ctzll(special) / 8; /* the lowest mark */
#else
			break;
#endif
		}
		p += 8;
	}
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80))
			break;
	}
	return (size_t)(p - text);
}

#endif
