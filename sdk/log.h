/* Log lines on stderr, one JSON object per line: {"level", "message", then the given fields}.
 * Every string goes through Portico's JSON writer (json_text), so an id or an error message
 * holding quotes, backslashes or control characters cannot break a line; lines are written one
 * at a time, so lines from several threads never interleave, however long. */
#ifndef PORTICO_LOG_H
#define PORTICO_LOG_H

#include <jansson.h>

/* Writes {"level": level, "message": message, …fields} and a newline to stderr. fields is a JSON
 * object or NULL; its reference is taken (so `portico_log("info", "x", json_pack(…))` leaks
 * nothing). A field named level or message is ignored. */
void portico_log(const char *level, const char *message, json_t *fields);

/* portico_log with a printf-formatted message, for sentences that carry values a reader wants
 * inline ("listening on 127.0.0.1:8080"); fields as above. */
void portico_logf(const char *level, json_t *fields, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* Writes line (a JSON object; its reference is taken) and a newline to fd, whole, as portico_log
 * writes its lines: the access log (stdout) shares the writer. */
void portico_log_line(int fd, json_t *line);

/* A line written field by field straight into its text, without a jansson tree: for the access
 * log, one line per request. Strings are written as portico_log_text and the JSON writer would
 * write them (bytes that are not UTF-8 become U+FFFD), so the line reads the same. Keys are
 * literals that need no escaping. The usual line fits in the writer itself; a longer one grows on
 * the heap, and portico_log_writer_send frees it. */
typedef struct portico_log_writer {
	char *data; /* inline or on the heap */
	size_t length, capacity;
	char inline_data[512];
} portico_log_writer;

/* Starts an object: "{". */
void portico_log_writer_start(portico_log_writer *line);

/* Adds "key":"text" (JSON null for NULL text). */
void portico_log_writer_text(portico_log_writer *line, const char *key, const char *text);

/* Adds "key":value. */
void portico_log_writer_int(portico_log_writer *line, const char *key, long long value);

/* Ends the object, writes it and a newline to fd whole, as portico_log_line does, and frees what
 * the writer holds. */
void portico_log_writer_send(portico_log_writer *line, int fd);

/* A JSON string of text for a log field (a new reference, never NULL): bytes that are not UTF-8
 * become U+FFFD, where json_string would give NULL and lose the whole line's fields; NULL text
 * gives JSON null. */
json_t *portico_log_text(const char *text);

#endif
