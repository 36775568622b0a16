/* Payload codecs: AES-256-GCM encryption byte-compatible with Temporal's official samples
 * (outer payload {encoding: binary/encrypted, encryption-key-id: <id>}, data = 12-byte nonce ‖
 * ciphertext ‖ 16-byte tag over the serialized inner Payload, no AAD), with optional zlib
 * compression first (binary/zlib, as the Go sample). The cipher itself is crypto.c's.
 * Keys: PORTICO_CODEC_KEYS="id1=<base64 of 32 bytes>,id2=…" or PORTICO_CODEC_KEYS_FILE (one
 * id=key per line, # comments); the first key encrypts, every key decrypts, so a new first key
 * rotates without making old data unreadable. PORTICO_CODEC_COMPRESS=zlib turns compression on.
 * Keys are never logged. */
#ifndef PORTICO_CODEC_H
#define PORTICO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "payload.h"

#define PORTICO_ENCODING_ENCRYPTED "binary/encrypted"
#define PORTICO_ENCODING_ZLIB      "binary/zlib"
#define PORTICO_METADATA_KEY_ID    "encryption-key-id"

typedef struct portico_codec portico_codec;

/* Reads the key ring from the environment. Returns 0 with *codec NULL when no keys are
 * configured (payloads then pass through), 0 with a codec, or -1 with err naming the variable
 * and the entry (never the key) when a key is malformed. Free with portico_codec_free. */
int portico_codec_from_env(portico_codec **codec, portico_error *err);

/* Builds a codec from key-ring text ("id=base64,id=base64" or one per line); as above. */
int portico_codec_from_text(const char *text, const char *source, int compress, portico_codec **codec,
                            portico_error *err);

void portico_codec_free(portico_codec *codec);

/* The id of the key that encrypts. */
const char *portico_codec_key_id(const portico_codec *codec);

/* Encodes a payload: (compress,) encrypt. Returns a new payload the caller frees. */
portico_payload *portico_codec_encode(const portico_codec *codec, const portico_payload *payload);

/* Temporal's defaults for what it accepts: one Payloads field (limit.blobSize.error), a memo
 * (limit.memoSize.error) and one gRPC message on the frontend. */
#define PORTICO_DEFAULT_MAX_PAYLOAD_BYTES (2u * 1024 * 1024)
#define PORTICO_MAX_MEMO_BYTES            (2u * 1024 * 1024)
#define PORTICO_MAX_REQUEST_BYTES         (4u * 1024 * 1024)
/* What one message or call may inflate, in payload limits. */
#define PORTICO_DECODE_BUDGET_PAYLOADS 8

/* A binary/zlib payload claims nothing about its inflated size: a few kilobytes can inflate to
 * gigabytes. Decoding is bounded twice: one payload inflates to at most payload_bytes (the payload
 * limit: nothing larger is accepted on the way in), and all the payloads decoded for one message
 * or one call together to at most total_bytes. Caller-owned; fill with portico_decode_budget_init. */
typedef struct portico_decode_budget {
	size_t payload_bytes;         /* one payload inflates to at most this */
	size_t total_bytes;           /* all payloads together */
	size_t remaining_bytes;       /* what is left of total_bytes */
	size_t left_encoded;          /* payloads a message decode left encoded for being over the budget */
	char left_encoded_field[256]; /* the first of them, as a proto3 JSON path */
} portico_decode_budget;

/* A fresh budget: max_payload_bytes a payload (0: the default, 2 MiB) and
 * PORTICO_DECODE_BUDGET_PAYLOADS times that for the whole message or call. */
void portico_decode_budget_init(portico_decode_budget *budget, size_t max_payload_bytes);

/* Decodes a payload: payloads not binary/encrypted (or binary/zlib) pass through as copies.
 * Inflating takes from budget. Returns a new payload the caller frees, or NULL with err:
 * NOT_FOUND for an unknown key id, DATA_LOSS for data that fails authentication or does not
 * parse, RESOURCE_EXHAUSTED for a payload that inflates past what budget allows. */
portico_payload *portico_codec_decode_within(const portico_codec *codec, const portico_payload *payload,
                                             portico_decode_budget *budget, portico_error *err);

/* portico_codec_decode_within with a fresh default budget. */
portico_payload *portico_codec_decode(const portico_codec *codec, const portico_payload *payload, portico_error *err);

/* ---- Whole messages ------------------------------------------------------------------------- */

/* The size of one Payloads field after encoding, for the size guard. */
typedef struct portico_payload_size {
	char field[256];    /* proto3 JSON path of the field, "input" or "request.input.args"; "memo"
	                     * for a memo, "body" for the whole request */
	size_t bytes;       /* protobuf size of the encoded Payloads (or memo, or request) */
	size_t limit_bytes; /* the limit it passed, when encoding stopped on it */
} portico_payload_size;

/* Encodes every payload in message in place (codec may be NULL: nothing is encoded), then
 * measures what Temporal limits, as Temporal will (protobuf size, after the codec): each
 * Payloads field against max_bytes (*largest gets the biggest), and, when max_bytes is not 0,
 * each memo against PORTICO_MAX_MEMO_BYTES and the whole message against
 * PORTICO_MAX_REQUEST_BYTES. With compression on, each payload must also fit in max_bytes before
 * it is compressed, or it could not be inflated again (see portico_decode_budget). Anything over
 * stops it: -1 with err RESOURCE_EXHAUSTED naming what, its size and the limit, and *largest
 * describing it. max_bytes 0 checks nothing. */
int portico_codec_encode_message(const portico_codec *codec, ProtobufCMessage *message, size_t max_bytes,
                                 portico_payload_size *largest, portico_error *err);

/* Decodes every payload in message in place, inflating within budget. A payload that cannot be
 * decoded (unknown key, tampered data, over the budget) stays as it was and gains the metadata
 * entry "portico-codec-error" with the reason; those over the budget are counted in
 * budget->left_encoded. Failures whose message and stack trace were moved into encoded
 * attributes get them back. codec may be NULL: only the failures are restored. */
void portico_codec_decode_message_within(const portico_codec *codec, ProtobufCMessage *message,
                                         portico_decode_budget *budget);

/* portico_codec_decode_message_within with a fresh default budget. */
void portico_codec_decode_message(const portico_codec *codec, ProtobufCMessage *message);

#endif
