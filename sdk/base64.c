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

int portico_base64_decode(const char *text, size_t text_length, uint8_t **out, size_t *out_length)
{
	while (text_length > 0 && text[text_length - 1] == '=')
		text_length--;
	if (text_length % 4 == 1)
		return -1;
	/* Normalize to the padded standard alphabet that EVP_DecodeBlock takes. */
	size_t padded_length = (text_length + 3) / 4 * 4;
	char *padded = portico_malloc(padded_length + 1);
	for (size_t i = 0; i < text_length; i++) {
		char c = text[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
		           c == '/')) {
			free(padded);
			return -1;
		}
		padded[i] = c;
	}
	memset(padded + text_length, '=', padded_length - text_length);
	padded[padded_length] = '\0';

	uint8_t *bytes = portico_malloc(padded_length / 4 * 3 + 1);
	int decoded = EVP_DecodeBlock(bytes, (unsigned char *)padded, (int)padded_length);
	free(padded);
	if (decoded < 0) {
		free(bytes);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	*out_length = (size_t)decoded - (padded_length - text_length);
	*out = bytes;
	return 0;
}
