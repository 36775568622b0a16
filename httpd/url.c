#include "url.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http_unescape(const char *text, size_t length, int plus_is_space)
{
	char *out = portico_malloc(length + 1);
	size_t n = 0;
	for (size_t i = 0; i < length; i++) {
		if (text[i] != '%') {
			out[n++] = plus_is_space && text[i] == '+' ? ' ' : text[i];
			continue;
		}
		int high = i + 1 < length ? hex_value(text[i + 1]) : -1;
		int low = i + 2 < length ? hex_value(text[i + 2]) : -1;
		if (high < 0 || low < 0 || (high == 0 && low == 0)) {
			free(out);
			return NULL;
		}
		out[n++] = (char)(high * 16 + low);
		i += 2;
	}
	out[n] = '\0';
	return out;
}

char *url_quote(const char *text, size_t length)
{
	size_t kept = length < URL_QUOTE_MAX ? length : URL_QUOTE_MAX;
	char *quoted = portico_malloc(kept + 1);
	for (size_t i = 0; i < kept; i++) {
		unsigned char c = (unsigned char)text[i];
		quoted[i] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
	}
	quoted[kept] = '\0';
	return quoted;
}

/* Adds one "key=value" item of the query (not empty); a malformed escape is kept as the error. */
static void add_query_item(url_query *query, const char *item, size_t length)
{
	const char *equals = memchr(item, '=', length);
	size_t key_length = equals ? (size_t)(equals - item) : length;
	char *key = http_unescape(item, key_length, 1);
	char *value = equals ? http_unescape(equals + 1, length - key_length - 1, 1) : portico_strdup("");
	if (!key || !value) {
		free(key);
		free(value);
		if (!query->error) {
			char *name = url_quote(item, key_length);
			query->error = portico_sprintf(
			        "query parameter \\\"%s\\\": malformed %%-escape (expected %%XX, not %%00)", name);
			free(name);
		}
		return;
	}
	size_t n = query->count++;
	query->keys = portico_realloc(query->keys, query->count * sizeof(char *));
	query->values = portico_realloc(query->values, query->count * sizeof(char *));
	query->keys[n] = key;
	query->values[n] = value;
}

void url_query_parse(url_query *query, const char *text)
{
	while (*text) {
		size_t length = strcspn(text, "&");
		if (length)
			add_query_item(query, text, length);
		text += length + (text[length] == '&');
	}
}

const char *url_query_get(const url_query *query, const char *name)
{
	for (size_t i = 0; i < query->count; i++)
		if (!strcmp(query->keys[i], name))
			return query->values[i];
	return NULL;
}

void url_query_free(url_query *query)
{
	for (size_t i = 0; i < query->count; i++) {
		free(query->keys[i]);
		free(query->values[i]);
	}
	free(query->keys);
	free(query->values);
	free(query->error);
}
