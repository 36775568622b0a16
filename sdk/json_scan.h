/* Where a JSON string's text stops being plain, eight bytes a step: the one scanner the parser
 * (json_parse.c), the writers (json_text.c, protojson.c) and the copier (json_copy.c) share, for
 * payloads are long strings with few escapes. Also the \u escapes' reading (the parser's and the
 * copier's) and the number grammar (the parser's and json_text.c's raw numbers'; json_copy.c's
 * copy_number keeps its own one pass, which refuses leading zeros as it goes: 1% fewer
 * instructions on number-heavy records than with this). */
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

/* The value of the hex digit ch, or -1. */
static inline int portico_json_hex_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9'   ? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
	                                : -1;
}

/* The value of a \uXXXX escape at p (its backslash, before end), or -1. */
static inline int32_t portico_json_u_escape(const unsigned char *p, const unsigned char *end)
{
	if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
		return -1;
	int32_t value = 0;
	for (int i = 2; i < 6; i++) {
		int digit = portico_json_hex_digit(p[i]);
		if (digit < 0)
			return -1;
		value = value << 4 | digit;
	}
	return value;
}

/* The code point of the \u escape at p (its backslash, before end), a surrogate pair read as
 * one, with *length set to the bytes it takes (6 or 12); or 0 for what jansson refuses without
 * JSON_ALLOW_NUL: a bad escape, \u0000, a lone surrogate. */
static inline uint32_t portico_json_code_point(const unsigned char *p, const unsigned char *end, size_t *length)
{
	int32_t value = portico_json_u_escape(p, end);
	if (value <= 0 || (value >= 0xdc00 && value <= 0xdfff))
		return 0;
	*length = 6;
	if (value >= 0xd800 && value <= 0xdbff) {
		int32_t low = portico_json_u_escape(p + 6, end);
		if (low < 0xdc00 || low > 0xdfff)
			return 0;
		value = 0x10000 + ((value - 0xd800) << 10) + (low - 0xdc00);
		*length = 12;
	}
	return (uint32_t)value;
}

/* The length of the JSON number (RFC 8259's grammar) at the start of text (before end), or 0 when
 * there is none; then *real says whether it has a fraction or an exponent. It stops after a
 * leading zero, so a digit may follow it, which the caller refuses. */
static inline size_t portico_json_number_length(const char *text, const char *end, int *real)
{
	const unsigned char *c = (const unsigned char *)text, *e = (const unsigned char *)end;
	c += c < e && *c == '-';
	if (c == e || (unsigned char)(*c - '0') > 9)
		return 0;
	if (*c++ != '0')
		while (c < e && (unsigned char)(*c - '0') <= 9)
			c++;
	const unsigned char *integer_end = c;
	if (c < e && *c == '.') {
		const unsigned char *digits = ++c;
		while (c < e && (unsigned char)(*c - '0') <= 9)
			c++;
		if (c == digits)
			return 0;
	}
	if (c < e && (*c | 0x20) == 'e') {
		c++;
		c += c < e && (*c == '+' || *c == '-');
		const unsigned char *digits = c;
		while (c < e && (unsigned char)(*c - '0') <= 9)
			c++;
		if (c == digits)
			return 0;
	}
	*real = c != integer_end;
	return (size_t)(c - (const unsigned char *)text);
}

#endif
