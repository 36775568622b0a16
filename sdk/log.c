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

/* Length of the well-formed UTF-8 sequence starting at text (at most length bytes), or 0: no
 * overlong forms, surrogates or code points past U+10FFFF, as jansson requires. */
static size_t utf8_sequence(const unsigned char *text, size_t length)
{
	unsigned char lead = text[0];
	size_t expected;
	unsigned char low = 0x80, high = 0xBF; /* the range of the second byte */
	if (lead < 0x80)
		return 1;
	if (lead >= 0xC2 && lead <= 0xDF) {
		expected = 2;
	} else if (lead >= 0xE0 && lead <= 0xEF) {
		expected = 3;
		low = lead == 0xE0 ? 0xA0 : 0x80;
		high = lead == 0xED ? 0x9F : 0xBF;
	} else if (lead >= 0xF0 && lead <= 0xF4) {
		expected = 4;
		low = lead == 0xF0 ? 0x90 : 0x80;
		high = lead == 0xF4 ? 0x8F : 0xBF;
	} else {
		return 0;
	}
	if (expected > length || text[1] < low || text[1] > high)
		return 0;
	for (size_t i = 2; i < expected; i++)
		if ((text[i] & 0xC0) != 0x80)
			return 0;
	return expected;
}

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
		size_t sequence = utf8_sequence((const unsigned char *)text + i, length - i);
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

void portico_logf(const char *level, json_t *fields, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	char *message = portico_vsprintf(format, args);
	va_end(args);
	portico_log(level, message, fields);
	free(message);
}
