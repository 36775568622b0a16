/* Settings from the environment, shared by the gateway and the worker: numbers and durations
 * checked as they are read (a value that does not parse or is out of range is an error naming
 * the variable, never a silent default), and the text of --help, so that every program lists
 * each setting it reads with its default and meaning. */
#ifndef PORTICO_SETTINGS_H
#define PORTICO_SETTINGS_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* Reads the integer in variable name into *out: fallback when it is unset or empty, else a
 * decimal number within [minimum, maximum]. Returns -1 with err (INVALID_ARGUMENT) naming the
 * variable, the value and what was expected otherwise. */
int portico_settings_number(const char *name, int64_t fallback, int64_t minimum, int64_t maximum, int64_t *out,
                            portico_error *err);

/* Parses a duration as users write it, a whole number and a unit ("500ms", "30s", "2m", "1h") or a
 * bare number of seconds, into *out_ms. Returns 0, or -1 when text is none of these or overflows.
 * The one duration parser: settings, query parameters (?timeout=, ?wait=) and the like. */
int portico_duration_parse(const char *text, int64_t *out_ms);

/* Sets err (INVALID_ARGUMENT) to the one message for a duration that does not parse or is out of
 * [minimum_ms, maximum_ms], naming what (a setting, a query parameter) and the text; returns -1. */
int portico_duration_error(portico_error *err, const char *what, const char *text, int64_t minimum_ms,
                           int64_t maximum_ms);

/* The same for a duration, into *out_ms (portico_duration_parse). */
int portico_settings_duration_ms(const char *name, int64_t fallback_ms, int64_t minimum_ms, int64_t maximum_ms,
                                 int64_t *out_ms, portico_error *err);

/* One line of --help. Lists end with an entry whose name is NULL. */
typedef struct portico_setting_help {
	const char *name;
	const char *fallback; /* the default, as a user would write it; "" for none */
	const char *meaning;  /* one line */
} portico_setting_help;

/* What portico_config_from_env reads (TEMPORAL_*, PORTICO_IDENTITY) and what
 * portico_codec_from_env reads (PORTICO_CODEC_*). */
extern const portico_setting_help portico_settings_temporal[];
extern const portico_setting_help portico_settings_codec[];

/* Writes a heading and one aligned line per setting: name, default, meaning. */
void portico_settings_print(FILE *out, const char *heading, const portico_setting_help *settings);

#endif
