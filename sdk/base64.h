/* Base64 as proto3 JSON writes bytes: standard alphabet with padding out; standard or URL-safe,
 * padded or not, in. */
#ifndef PORTICO_BASE64_H
#define PORTICO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Returns a NUL-terminated encoding of the bytes; the caller frees it. */
char *portico_base64_encode(const uint8_t *bytes, size_t length);

/* Decodes text into a new buffer (*out, *out_length; the caller frees *out; never NULL on
 * success). Returns -1 on text that is not base64. */
int portico_base64_decode(const char *text, size_t text_length, uint8_t **out, size_t *out_length);

#endif
