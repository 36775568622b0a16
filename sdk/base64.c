#include "base64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "alloc.h"

size_t portico_base64_encode_into(const uint8_t *bytes, size_t length, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, bytes, (int)length);
}

char *portico_base64_encode(const uint8_t *bytes, size_t length)
{
	char *text = portico_malloc(PORTICO_BASE64_SIZE(length) + 1);
	portico_base64_encode_into(bytes, length, text);
	return text;
}

/* One more than the value of each base64 character, of either alphabet (standard or URL-safe);
 * 0 for the others. */
static const uint8_t sextets[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,  ['I'] = 9,
        ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
        ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
        ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
        ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45,
        ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
        ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
        ['-'] = 63, ['/'] = 64, ['_'] = 64,
};

/* Straight into the buffer the caller keeps (a payload's data, say): a megabyte of base64 is
 * read once, not normalized into a copy first. Bits past the last whole byte are ignored, as
 * OpenSSL's EVP_DecodeBlock (which this replaced) ignored them. */
int portico_base64_decode(const char *text, size_t text_length, uint8_t **out, size_t *out_length)
{
	while (text_length > 0 && text[text_length - 1] == '=')
		text_length--;
	if (text_length % 4 == 1)
		return -1;
	const unsigned char *in = (const unsigned char *)text;
	uint8_t *bytes = portico_malloc(text_length / 4 * 3 + 3), *o = bytes;
	size_t whole = text_length / 4 * 4;
	for (size_t i = 0; i < text_length; i += 4, o += 3) {
		/* A last group of 2 or 3 characters reads as if padded with 'A's (zero bits). */
		int a = sextets[in[i]] - 1, b = sextets[in[i + 1]] - 1;
		int c = i < whole || text_length - i > 2 ? sextets[in[i + 2]] - 1 : 0;
		int d = i < whole ? sextets[in[i + 3]] - 1 : 0;
		if ((a | b | c | d) < 0) {
			free(bytes);
			return -1;
		}
		uint32_t group = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		o[0] = (uint8_t)(group >> 16);
		o[1] = (uint8_t)(group >> 8);
		o[2] = (uint8_t)group;
	}
	/* The padding of the last group is not data: 2 characters hold one byte, 3 two. */
	if (text_length % 4)
		o -= 4 - text_length % 4;
	*out_length = (size_t)(o - bytes);
	*out = bytes;
	return 0;
}
