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
	 * one below 1 in x ^ c per byte: each test exact as to "any byte" of the eight. */
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u, high = ascii ? highs : 0;
	size_t i = 0;
	for (; i + 8 <= length; i += 8) {
		uint64_t x, quote, backslash;
		memcpy(&x, text + i, 8);
		quote = x ^ (ones * '"');
		backslash = x ^ (ones * '\\');
		uint64_t special = (((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
		                    ((backslash - ones) & ~backslash) | (x & high)) &
		                   highs;
		if (special) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* A test's borrow can mark bytes after the first special one, never before it: the
			 * lowest mark is the first special byte. */
			return i + (size_t)__builtin_ctzll(special) / 8;
#else
			break;
#endif
		}
	}
	for (; i < length; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80))
			break;
	}
	return i;
}

#endif
