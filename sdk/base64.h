/* Base64 as proto3 JSON writes bytes: standard alphabet with padding out; standard or URL-safe,
 * padded or not, in. */
#ifndef PORTICO_BASE64_H
#define PORTICO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The length of the encoding of length bytes (without a NUL). */
#define PORTICO_BASE64_SIZE(length) (4 * (((size_t)(length) + 2) / 3))

/* Writes the encoding of the bytes and a NUL into out, which holds PORTICO_BASE64_SIZE(length) + 1
 * bytes; returns the encoding's length. */
size_t portico_base64_encode_into(const uint8_t *bytes, size_t length, char *out);

/* Returns a NUL-terminated encoding of the bytes; the caller frees it. */
char *portico_base64_encode(const uint8_t *bytes, size_t length);

/* Decodes text into a new buffer (*out, *out_length; the caller frees *out; never NULL on
 * success). Returns -1 on text that is not base64. */
int portico_base64_decode(const char *text, size_t text_length, uint8_t **out, size_t *out_length);

#endif
