#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fdio.h"
#include "json_text.h"
#include "utf8.h"

json_t *portico_log_text(const char *text)
{
	if (!text)
		return json_null();
	json_t *value = json_string(text);
	if (value)
		return value;
	/* Rare (a log of bytes from elsewhere): rebuild it, each bad byte as U+FFFD (3 bytes). */
	size_t length = strlen(text), used = 0;
	char *clean = portico_malloc(3 * length + 1);
	for (size_t i = 0; i < length;) {
		const unsigned char *at = (const unsigned char *)text + i;
		size_t sequence = *at < 0x80 ? 1 : portico_utf8_sequence(at, (const unsigned char *)text + length);
		if (sequence) {
			memcpy(clean + used, text + i, sequence);
			used += sequence;
			i += sequence;
		} else {
			memcpy(clean + used, "\xEF\xBF\xBD", 3);
			used += 3;
			i++;
		}
	}
	clean[used] = '\0';
	value = json_string(clean);
	free(clean);
	return value;
}

static pthread_mutex_t line_lock = PTHREAD_MUTEX_INITIALIZER;

void portico_log(const char *level, const char *message, json_t *fields)
{
	/* jansson keeps insertion order: level and message lead every line. */
	json_t *line = json_object();
	json_object_set_new(line, "level", portico_log_text(level));
	json_object_set_new(line, "message", portico_log_text(message));
	const char *key;
	json_t *value;
	json_object_foreach(fields, key, value)
	{
		if (strcmp(key, "level") && strcmp(key, "message"))
			json_object_set(line, key, value);
	}
	json_decref(fields);
	portico_log_line(STDERR_FILENO, line);
}

void portico_log_line(int fd, json_t *line)
{
	size_t length;
	char *text = portico_json_text(line, 0, &length);
	json_decref(line);
	text[length] = '\n'; /* over the terminating NUL: the buffer holds length + 1 bytes */
	/* One line at a time: a write(2) to a pipe is atomic only up to PIPE_BUF (4 KiB), and a line
	 * can be longer (a long path in the access log). */
	pthread_mutex_lock(&line_lock);
	(void)portico_write_full(fd, text, length + 1); /* stderr is gone: nowhere left to say so */
	pthread_mutex_unlock(&line_lock);
	free(text);
}

void portico_log_writer_start(portico_log_writer *line)
{
	line->data = line->inline_data;
	line->capacity = sizeof line->inline_data;
	line->data[0] = '{';
	line->length = 1;
}

/* Makes room for more bytes (and the "}\n" of the end, always kept free). */
static void writer_reserve(portico_log_writer *line, size_t more)
{
	size_t needed = line->length + more + 2;
	if (needed <= line->capacity)
		return;
	size_t capacity = line->capacity * 2 > needed ? line->capacity * 2 : needed;
	if (line->data == line->inline_data) {
		line->data = portico_malloc(capacity);
		memcpy(line->data, line->inline_data, line->length);
	} else {
		line->data = portico_realloc(line->data, capacity);
	}
	line->capacity = capacity;
}

static void writer_append(portico_log_writer *line, const char *bytes, size_t length)
{
	writer_reserve(line, length);
	memcpy(line->data + line->length, bytes, length);
	line->length += length;
}

/* The separator and "key": of a new member. */
static void writer_key(portico_log_writer *line, const char *key)
{
	size_t length = strlen(key);
	writer_reserve(line, length + 4);
	if (line->length > 1)
		line->data[line->length++] = ',';
	line->data[line->length++] = '"';
	memcpy(line->data + line->length, key, length);
	line->length += length;
	line->data[line->length++] = '"';
	line->data[line->length++] = ':';
}

/* text as a JSON string, in one pass: what portico_log_text makes of it (U+FFFD for each byte
 * that starts no well-formed sequence), escaped as the JSON writer escapes. */
static void writer_string(portico_log_writer *line, const char *text)
{
	size_t length = strlen(text);
	/* At most 6 bytes out per byte in (\u00XX; U+FFFD is 3 for 1). */
	writer_reserve(line, 6 * length + 2);
	char *out = line->data + line->length;
	*out++ = '"';
	const unsigned char *in = (const unsigned char *)text;
	for (size_t i = 0; i < length;) {
		unsigned char c = in[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*out++ = (char)c;
			i++;
		} else if (c >= 0x80) {
			size_t sequence = portico_utf8_sequence(in + i, in + length);
			if (sequence) {
				memcpy(out, in + i, sequence);
				out += sequence;
				i += sequence;
			} else {
				memcpy(out, "\xEF\xBF\xBD", 3);
				out += 3;
				i++;
			}
		} else {
			*out++ = '\\';
			switch (c) {
			case '"':
			case '\\':
				*out++ = (char)c;
				break;
			case '\n':
				*out++ = 'n';
				break;
			case '\r':
				*out++ = 'r';
				break;
			case '\t':
				*out++ = 't';
				break;
			default:
				memcpy(out, "u00", 3);
				out[3] = "0123456789abcdef"[c >> 4];
				out[4] = "0123456789abcdef"[c & 0xf];
				out += 5;
			}
			i++;
		}
	}
	*out++ = '"';
	line->length = (size_t)(out - line->data);
}

void portico_log_writer_text(portico_log_writer *line, const char *key, const char *text)
{
	writer_key(line, key);
	if (text)
		writer_string(line, text);
	else
		writer_append(line, "null", 4);
}

void portico_log_writer_int(portico_log_writer *line, const char *key, long long value)
{
	char number[24];
	writer_key(line, key);
	/* Digits by hand: snprintf's format machinery costs more than the rest of a line. */
	unsigned long long magnitude = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;
	size_t at = sizeof number;
	do {
		number[--at] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude);
	if (value < 0)
		number[--at] = '-';
	writer_append(line, number + at, sizeof number - at);
}

void portico_log_writer_send(portico_log_writer *line, int fd)
{
	/* writer_reserve always leaves room for these two. */
	line->data[line->length++] = '}';
	line->data[line->length++] = '\n';
	pthread_mutex_lock(&line_lock);
	(void)portico_write_full(fd, line->data, line->length); /* as portico_log_line */
	pthread_mutex_unlock(&line_lock);
	if (line->data != line->inline_data)
		free(line->data);
	line->data = NULL;
}

void portico_logf(const char *level, json_t *fields, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *message = portico_vsprintf(format, args);
	va_end(args);
	portico_log(level, message, fields);
	free(message);
}
