/* The text of a request's URL, read without libmicrohttpd and without I/O: %-escapes and the
 * query string; and request text made safe to quote in a message. http_unescape keeps the name it
 * has in the server's public API (http.h includes this header). */
#ifndef HTTPD_URL_H
#define HTTPD_URL_H

#include <stddef.h>

/* Decodes %XX escapes of text[0..length) into a new string (the caller frees); '+' becomes a space
 * when plus_is_space. Returns NULL on a malformed escape or an encoded NUL. */
char *http_unescape(const char *text, size_t length, int plus_is_space);

/* A query string's decoded parameters, in order. Caller-owned: zero it, fill it with
 * url_query_parse, free what it holds with url_query_free. */
typedef struct url_query {
	size_t count;
	char **keys, **values;
	char *error; /* the first malformed parameter, as a message for a 400 (JSON-safe); or NULL */
} url_query;

/* Adds the parameters of text (what follows the '?') to query, '+' read as a space. A parameter
 * with a malformed escape is left out; the first one sets query->error. */
void url_query_parse(url_query *query, const char *text);

/* The value of the first parameter named name, or NULL. */
const char *url_query_get(const url_query *query, const char *name);

/* Frees what query holds (not query itself). */
void url_query_free(url_query *query);

/* Names quoted from a request in a message are cut to this many bytes. */
#define URL_QUOTE_MAX 64

/* text[0..length) with what could break a JSON string or a log line replaced by '?', cut to
 * URL_QUOTE_MAX bytes; the caller frees it. */
char *url_quote(const char *text, size_t length);

#endif
