#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const portico_setting_help portico_settings_temporal[] = {
        {"TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal's gRPC endpoint (host:port)"},
        {"TEMPORAL_NAMESPACE", "default", "the namespace"},
        {"TEMPORAL_API_KEY", "", "sent as \"authorization: Bearer <key>\"; turns TLS on"},
        {"TEMPORAL_TLS", "false", "true/false; on by itself when TLS material or an API key is set"},
        {"TEMPORAL_TLS_CA", "system roots", "server CA file (or TEMPORAL_TLS_SERVER_CA_CERT_PATH)"},
        {"TEMPORAL_TLS_CA_DATA", "", "server CA as PEM text (or TEMPORAL_TLS_SERVER_CA_CERT_DATA)"},
        {"TEMPORAL_TLS_CERT", "", "client certificate file for mTLS (or TEMPORAL_TLS_CLIENT_CERT_PATH)"},
        {"TEMPORAL_TLS_CERT_DATA", "", "client certificate as PEM text (or TEMPORAL_TLS_CLIENT_CERT_DATA)"},
        {"TEMPORAL_TLS_KEY", "", "its private key file (or TEMPORAL_TLS_CLIENT_KEY_PATH)"},
        {"TEMPORAL_TLS_KEY_DATA", "", "its private key as PEM text (or TEMPORAL_TLS_CLIENT_KEY_DATA)"},
        {"TEMPORAL_TLS_SERVER_NAME", "", "the name to verify in the server certificate"},
        {"PORTICO_IDENTITY", "portico@<host>:<pid>", "the identity recorded in workflow histories"},
        {NULL, NULL, NULL},
};

const portico_setting_help portico_settings_codec[] = {
        {"PORTICO_CODEC_KEYS", "", "AES-256-GCM payload keys, id=base64 key, comma-separated, first encrypts"},
        {"PORTICO_CODEC_KEYS_FILE", "", "the same entries from a file, one per line"},
        {"PORTICO_CODEC_COMPRESS", "", "zlib: compress payloads before encrypting them"},
        {NULL, NULL, NULL},
};

/* Parses text as a decimal integer and an optional unit (only for durations), into *out (ms for
 * durations). Returns 0, or -1 when it does not parse or overflows. */
static int parse(const char *text, int is_duration, int64_t *out)
{
	char *unit;
	errno = 0;
	long long value = strtoll(text, &unit, 10);
	/* strtoll would also take leading blanks and a plus sign. */
	if (unit == text || errno == ERANGE || !(isdigit((unsigned char)text[0]) || text[0] == '-'))
		return -1;
	int64_t scale = 1;
	if (!is_duration)
		scale = *unit ? 0 : 1;
	else if (!strcmp(unit, "ms"))
		scale = 1;
	else if (!strcmp(unit, "s") || !*unit)
		scale = 1000;
	else if (!strcmp(unit, "m"))
		scale = 60000;
	else if (!strcmp(unit, "h"))
		scale = 3600000;
	else
		scale = 0;
	if (!scale || (value > 0 && value > INT64_MAX / scale) || (value < 0 && value < INT64_MIN / scale))
		return -1;
	*out = (int64_t)value * scale;
	return 0;
}

int portico_duration_parse(const char *text, int64_t *out_ms)
{
	return parse(text, 1, out_ms);
}

/* A duration as a user would write it: "500ms", "30s", "5m", "1h". */
static void format_duration(char *out, size_t size, int64_t ms)
{
	if (ms && ms % 3600000 == 0)
		snprintf(out, size, "%" PRId64 "h", ms / 3600000);
	else if (ms && ms % 60000 == 0)
		snprintf(out, size, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(out, size, "%" PRId64 "s", ms / 1000);
	else
		snprintf(out, size, "%" PRId64 "ms", ms);
}

static int read_setting(const char *name, int is_duration, int64_t fallback, int64_t minimum, int64_t maximum,
                        int64_t *out, portico_error *err)
{
	const char *text = getenv(name);
	*out = fallback;
	if (!text || !*text)
		return 0;
	int64_t value;
	if (parse(text, is_duration, &value) == 0 && value >= minimum && value <= maximum) {
		*out = value;
		return 0;
	}
	if (is_duration)
		return portico_duration_error(err, name, text, minimum, maximum);
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
	                         "%s: expected a whole number from %" PRId64 " to %" PRId64 ", got \"%s\"", name,
	                         minimum, maximum, text);
}

int portico_duration_error(portico_error *err, const char *what, const char *text, int64_t minimum_ms,
                           int64_t maximum_ms)
{
	char low[32], high[32];
	format_duration(low, sizeof low, minimum_ms);
	format_duration(high, sizeof high, maximum_ms);
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
	                         "%s: expected a duration from %s to %s, such as 30s, 500ms, 2m or 1h (a bare number "
	                         "is seconds), got \"%s\"",
	                         what, low, high, text);
}

int portico_settings_number(const char *name, int64_t fallback, int64_t minimum, int64_t maximum, int64_t *out,
                            portico_error *err)
{
	return read_setting(name, 0, fallback, minimum, maximum, out, err);
}

int portico_settings_duration_ms(const char *name, int64_t fallback_ms, int64_t minimum_ms, int64_t maximum_ms,
                                 int64_t *out_ms, portico_error *err)
{
	return read_setting(name, 1, fallback_ms, minimum_ms, maximum_ms, out_ms, err);
}

void portico_settings_print(FILE *out, const char *heading, const portico_setting_help *settings)
{
	fprintf(out, "\n%s\n", heading);
	for (const portico_setting_help *s = settings; s->name; s++)
		fprintf(out, "  %-32s %-22s %s\n", s->name, *s->fallback ? s->fallback : "-", s->meaning);
}
