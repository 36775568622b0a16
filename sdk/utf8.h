/* UTF-8 as RFC 3629 has it (no overlong forms, no surrogates, nothing past U+10FFFF: what jansson
 * accepts), read and written in one place for the JSON parser, the copier and the access log. */
#ifndef PORTICO_UTF8_H
#define PORTICO_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (2 to 4) of the valid UTF-8 sequence of several bytes that starts at p (before end),
 * or 0: ASCII is 0 too, for callers that have dealt with it. The parser and the copier refuse on
 * 0, the log writes U+FFFD for the first byte. Inline: strings with non-ASCII text call it per
 * character. */
static inline size_t portico_utf8_sequence(const unsigned char *p, const unsigned char *end)
{
	unsigned char lead = p[0], low = 0x80, high = 0xbf; /* the range of the second byte */
	size_t length;
	if (lead >= 0xc2 && lead <= 0xdf) {
		length = 2;
	} else if (lead >= 0xe0 && lead <= 0xef) {
		length = 3;
		low = lead == 0xe0 ? 0xa0 : 0x80;  /* no overlong forms */
		high = lead == 0xed ? 0x9f : 0xbf; /* no surrogates */
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		length = 4;
		low = lead == 0xf0 ? 0x90 : 0x80;  /* no overlong forms */
		high = lead == 0xf4 ? 0x8f : 0xbf; /* nothing past U+10FFFF */
	} else {
		return 0;
	}
	if ((size_t)(end - p) < length || p[1] < low || p[1] > high)
		return 0;
	for (size_t i = 2; i < length; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return length;
}

/* Writes code point (at most U+10FFFF, not a surrogate) to out (room for 4 bytes) as UTF-8 and
 * returns its length. */
static inline size_t portico_utf8_put(unsigned char *out, uint32_t point)
{
	if (point < 0x80) {
		out[0] = (unsigned char)point;
		return 1;
	}
	if (point < 0x800) {
		out[0] = (unsigned char)(0xc0 | point >> 6);
		out[1] = (unsigned char)(0x80 | (point & 0x3f));
		return 2;
	}
	if (point < 0x10000) {
		out[0] = (unsigned char)(0xe0 | point >> 12);
		out[1] = (unsigned char)(0x80 | ((point >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (point & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | point >> 18);
	out[1] = (unsigned char)(0x80 | ((point >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((point >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (point & 0x3f));
	return 4;
}

#endif
