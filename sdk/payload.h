/* Payloads as JSON, the way Temporal's HTTP API writes them ("payload shorthand"):
 *   in:  any JSON value becomes a json/plain payload, null a binary/null one, and an object with
 *        exactly "metadata" (base64 values, with "encoding") and "data" (base64) is taken as a
 *        payload in full form;
 *   out: json/plain and binary/null payloads (and json/protobuf ones, with "_protoMessageType")
 *        print as their values; anything else makes the whole field fall back to full form.
 * Messages returned here are heap trees owned by the caller, freed with
 * protobuf_c_message_free_unpacked (or the portico_payload*_free shorthands).
 *
 * Public: the SDK's API for activity libraries; portico-worker exports what this header declares. */
#ifndef PORTICO_PAYLOAD_H
#define PORTICO_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "temporal/api/common/v1/message.pb-c.h"

typedef Temporal__Api__Common__V1__Payload portico_payload;
typedef Temporal__Api__Common__V1__Payloads portico_payloads;

#define PORTICO_ENCODING_JSON       "json/plain"
#define PORTICO_ENCODING_NULL       "binary/null"
#define PORTICO_ENCODING_PROTO_JSON "json/protobuf"
/* The key that names a json/protobuf payload's message type in its printed value. */
#define PORTICO_PROTO_MESSAGE_TYPE_KEY "_protoMessageType"

/* Returns a payload with metadata {encoding} and a copy of the data. */
portico_payload *portico_payload_new(const char *encoding, const uint8_t *data, size_t length);

/* Returns the payload's metadata value for key, or NULL. */
const ProtobufCBinaryData *portico_payload_metadata(const portico_payload *payload, const char *key);

/* Adds (or replaces) a metadata entry. */
void portico_payload_set_metadata(portico_payload *payload, const char *key, const uint8_t *value, size_t length);

/* Reads one payload from JSON (shorthand or full form). Never fails: what is not a full-form
 * payload is a json/plain one. */
portico_payload *portico_payload_from_json(const json_t *value);

/* Reads a Payloads field: an array of payloads, null (no payloads), or the proto3 JSON form
 * {"payloads":[…]}. Returns NULL with err naming field when the value is none of these. */
portico_payloads *portico_payloads_from_json(const json_t *value, const char *field, portico_error *err);

/* Each value of a JSON array as a json/plain payload, whatever it looks like: for values a program
 * produced (an activity's result, a webhook's body), which are never payloads in full form. */
portico_payloads *portico_payloads_of_values(const json_t *values);

/* Parses JSON text and reads it as a Payloads field; for C callers holding text. */
portico_payloads *portico_payloads_from_json_text(const char *text, const char *field, portico_error *err);

/* Writes a payload as JSON: its value when shorthand is nonzero and the payload allows it, else
 * the full form. Returns a new reference. */
json_t *portico_payload_to_json(const portico_payload *payload, int shorthand);

/* Writes a Payloads field: an array of values when shorthand is nonzero and every payload allows
 * it, else {"payloads":[full form…]}. Returns a new reference. */
json_t *portico_payloads_to_json(const portico_payloads *payloads, int shorthand);

/* Encodes JSON as json/plain payload data: compact, keys sorted, as Temporal's proxy does.
 * Returns a string the caller frees. */
char *portico_json_to_payload_text(const json_t *value, size_t *length);

/* Reads a payload as one JSON value into *value (a new reference; binary/null is JSON null).
 * Returns NULL when it could; else why not (undecryptable, not json/plain, not valid JSON), a
 * message the caller frees, with *value NULL. */
char *portico_payload_read_json(const portico_payload *payload, json_t **value);

/* The payload's JSON value (a new reference), JSON null when it is binary/null or not JSON. */
json_t *portico_payload_value(const portico_payload *payload);

/* Each payload's value (as portico_payload_value) in a new JSON array; [] for NULL. */
json_t *portico_payloads_values(const portico_payloads *payloads);

/* The first payload's value, JSON null when there is none (a new reference). */
json_t *portico_payloads_first_value(const portico_payloads *payloads);

void portico_payload_free(portico_payload *payload);
void portico_payloads_free(portico_payloads *payloads);

#endif
