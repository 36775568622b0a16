/* How a request's header lines frame its body, and whether to refuse it for that (RFC 9112, 6.1
 * and 6.3): a body whose length a proxy in front may read otherwise than this server would let a
 * second, smuggled request through. libmicrohttpd reads only the first Content-Length, and for a
 * coding other than a lone "chunked" it waits for the connection to close; so the server (http.c)
 * feeds every header line here first and refuses what is unclear. Text only, no libmicrohttpd. */
#ifndef HTTPD_BODY_FRAMING_H
#define HTTPD_BODY_FRAMING_H

/* What the header lines read so far say about the length of the body. Caller-owned: zero it, add
 * every line, ask body_framing_refusal, then body_framing_free. */
typedef struct body_framing {
	const char *length; /* the first Content-Length: the caller's text, kept while this is used */
	int lengths_differ; /* a later one says otherwise */
	int encodings;      /* Transfer-Encoding lines */
	int chunked_only;   /* the last of them is exactly "chunked" */
	char *unsupported;  /* the first coding other than chunked, quoted safely; or NULL */
} body_framing;

/* Reads one header line (name case-insensitive, value NULL for an empty one); other names than
 * Content-Length and Transfer-Encoding are ignored. */
void body_framing_add(body_framing *framing, const char *name, const char *value);

typedef enum body_framing_verdict {
	BODY_FRAMING_CLEAR,
	BODY_FRAMING_AMBIGUOUS,   /* refuse as a bad request */
	BODY_FRAMING_UNSUPPORTED, /* a transfer coding other than chunked: refuse as not implemented */
} body_framing_verdict;

/* Judges the lines added. For a refusal, *message is why (JSON-safe text; the caller frees it). */
body_framing_verdict body_framing_refusal(const body_framing *framing, char **message);

/* Frees what framing holds (not framing itself). */
void body_framing_free(body_framing *framing);

#endif
