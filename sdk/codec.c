#include "codec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "alloc.h"
#include "base64.h"
#include "crypto.h"
#include "log.h"
#include "payload_walk.h"
#include "temporal/api/failure/v1/message.pb-c.h"

#define KEYS_FILE_MAX (1024 * 1024)
/* Inflating writes this much at a time, so memory follows what the data really inflates to. */
#define INFLATE_CHUNK_BYTES (16u * 1024)

typedef struct codec_key {
	char *id;
	uint8_t bytes[PORTICO_AES_GCM_KEY_BYTES];
} codec_key;

struct portico_codec {
	codec_key *keys; /* keys[0] encrypts */
	size_t key_count;
	int compress;
};

void portico_codec_free(portico_codec *codec)
{
	if (!codec)
		return;
	for (size_t i = 0; i < codec->key_count; i++) {
		free(codec->keys[i].id);
		portico_wipe(codec->keys[i].bytes, sizeof codec->keys[i].bytes);
	}
	free(codec->keys);
	free(codec);
}

const char *portico_codec_key_id(const portico_codec *codec)
{
	return codec->keys[0].id;
}

/* Adds "id=base64" (surrounding blanks allowed) to the ring. */
static int add_key(portico_codec *codec, const char *entry, size_t length, const char *source, size_t number,
                   portico_error *err)
{
	while (length && isspace((unsigned char)*entry))
		entry++, length--;
	while (length && isspace((unsigned char)entry[length - 1]))
		length--;
	if (!length || *entry == '#')
		return 0;
	const char *equals = memchr(entry, '=', length);
	if (!equals || equals == entry)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: entry %zu is not id=<base64 key>", source,
		                         number);
	char *id = portico_strndup(entry, (size_t)(equals - entry));
	uint8_t *key;
	size_t key_length;
	const char *encoded = equals + 1;
	int decoded = portico_base64_decode(encoded, length - (size_t)(encoded - entry), &key, &key_length) == 0;
	if (!decoded || key_length != PORTICO_AES_GCM_KEY_BYTES) {
		if (decoded) {
			portico_wipe(key, key_length);
			free(key);
		}
		portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                  "%s: key \"%s\" must be 32 bytes in base64 (AES-256), such as the output of "
		                  "`openssl rand -base64 32`",
		                  source, id);
		free(id);
		return -1;
	}
	for (size_t i = 0; i < codec->key_count; i++) {
		if (!strcmp(codec->keys[i].id, id)) {
			portico_wipe(key, key_length);
			free(key);
			portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: key id \"%s\" appears twice", source, id);
			free(id);
			return -1;
		}
	}
	codec->keys = portico_realloc(codec->keys, (codec->key_count + 1) * sizeof *codec->keys);
	codec->keys[codec->key_count].id = id;
	memcpy(codec->keys[codec->key_count].bytes, key, PORTICO_AES_GCM_KEY_BYTES);
	codec->key_count++;
	portico_wipe(key, key_length);
	free(key);
	return 0;
}

int portico_codec_from_text(const char *text, const char *source, int compress, portico_codec **out, portico_error *err)
{
	*out = NULL;
	portico_codec *codec = portico_calloc(1, sizeof *codec);
	codec->compress = compress;
	size_t number = 0;
	for (const char *entry = text; *entry;) {
		size_t length = strcspn(entry, ",\n");
		if (add_key(codec, entry, length, source, ++number, err)) {
			portico_codec_free(codec);
			return -1;
		}
		entry += length + (entry[length] != '\0');
	}
	if (!codec->key_count) {
		portico_codec_free(codec);
		return 0;
	}
	*out = codec;
	return 0;
}

static char *read_keys_file(const char *path, portico_error *err)
{
	FILE *file = fopen(path, "rb");
	if (!file) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "PORTICO_CODEC_KEYS_FILE: cannot open %s", path);
		return NULL;
	}
	char *text = portico_malloc(KEYS_FILE_MAX + 1);
	size_t length = fread(text, 1, KEYS_FILE_MAX, file);
	fclose(file);
	text[length] = '\0';
	return text;
}

int portico_codec_from_env(portico_codec **codec, portico_error *err)
{
	*codec = NULL;
	const char *compress = getenv("PORTICO_CODEC_COMPRESS");
	int use_zlib = compress && !strcmp(compress, "zlib");
	if (compress && *compress && !use_zlib && strcmp(compress, "none"))
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "PORTICO_CODEC_COMPRESS: expected zlib or none, got \"%s\"", compress);
	const char *keys = getenv("PORTICO_CODEC_KEYS");
	if (keys && *keys)
		return portico_codec_from_text(keys, "PORTICO_CODEC_KEYS", use_zlib, codec, err);
	const char *path = getenv("PORTICO_CODEC_KEYS_FILE");
	if (!path || !*path)
		return 0;
	char *text = read_keys_file(path, err);
	if (!text)
		return -1;
	int result = portico_codec_from_text(text, "PORTICO_CODEC_KEYS_FILE", use_zlib, codec, err);
	portico_wipe(text, strlen(text));
	free(text);
	return result;
}

/* Serializes a payload into a new buffer. */
static uint8_t *pack_payload(const portico_payload *payload, size_t *length)
{
	*length = protobuf_c_message_get_packed_size(&payload->base);
	uint8_t *bytes = portico_malloc(*length ? *length : 1);
	protobuf_c_message_pack(&payload->base, bytes);
	return bytes;
}

/* A payload of encoding holding data (length bytes, not 0), which it takes rather than copies:
 * freed with the payload. */
static portico_payload *payload_holding(const char *encoding, uint8_t *data, size_t length)
{
	portico_payload *payload = portico_payload_new(encoding, NULL, 0);
	payload->data.data = data;
	payload->data.len = length;
	return payload;
}

static portico_payload *compress_payload(const portico_payload *payload)
{
	size_t length;
	uint8_t *plain = pack_payload(payload, &length);
	uLongf compressed_length = compressBound(length);
	uint8_t *compressed = portico_malloc(compressed_length);
	if (compress2(compressed, &compressed_length, plain, length, Z_DEFAULT_COMPRESSION) != Z_OK) {
		portico_log("error", "zlib compression failed", NULL);
		abort();
	}
	free(plain);
	return payload_holding(PORTICO_ENCODING_ZLIB, compressed, compressed_length);
}

portico_payload *portico_codec_encode(const portico_codec *codec, const portico_payload *payload)
{
	portico_payload *compressed = codec->compress ? compress_payload(payload) : NULL;
	size_t length;
	uint8_t *plain = pack_payload(compressed ? compressed : payload, &length);
	portico_payload_free(compressed);

	uint8_t nonce[PORTICO_AES_GCM_NONCE_BYTES];
	portico_random_bytes(nonce, sizeof nonce);
	uint8_t *sealed = portico_malloc(length + PORTICO_AES_GCM_OVERHEAD);
	portico_aes_gcm_seal(codec->keys[0].bytes, nonce, plain, length, sealed);
	portico_wipe(plain, length);
	free(plain);

	portico_payload *out = payload_holding(PORTICO_ENCODING_ENCRYPTED, sealed, length + PORTICO_AES_GCM_OVERHEAD);
	portico_payload_set_metadata(out, PORTICO_METADATA_KEY_ID, (const uint8_t *)codec->keys[0].id,
	                             strlen(codec->keys[0].id));
	return out;
}

/* A deep copy that keeps every field, unknown ones too; NULL with err for a payload protobuf-c
 * read but cannot read back from its own bytes (an unknown field numbered 0, found by fuzzing). */
static portico_payload *copy_payload(const portico_payload *payload, portico_error *err)
{
	size_t length;
	uint8_t *bytes = pack_payload(payload, &length);
	portico_payload *copy = temporal__api__common__v1__payload__unpack(NULL, length, bytes);
	free(bytes);
	if (!copy)
		portico_error_set(err, PORTICO_DATA_LOSS, "payload holds a field that cannot be copied");
	return copy;
}

static int encoding_is(const portico_payload *payload, const char *encoding)
{
	const ProtobufCBinaryData *value = portico_payload_metadata(payload, "encoding");
	return value && value->len == strlen(encoding) && !memcmp(value->data, encoding, value->len);
}

static const codec_key *find_key(const portico_codec *codec, const ProtobufCBinaryData *id)
{
	for (size_t i = 0; id && i < codec->key_count; i++)
		if (strlen(codec->keys[i].id) == id->len && !memcmp(codec->keys[i].id, id->data, id->len))
			return &codec->keys[i];
	return NULL;
}

void portico_decode_budget_init(portico_decode_budget *budget, size_t max_payload_bytes)
{
	memset(budget, 0, sizeof *budget);
	budget->payload_bytes = max_payload_bytes ? max_payload_bytes : PORTICO_DEFAULT_MAX_PAYLOAD_BYTES;
	budget->total_bytes = budget->payload_bytes * PORTICO_DECODE_BUDGET_PAYLOADS;
	budget->remaining_bytes = budget->total_bytes;
}

/* Says why a payload may not inflate past limit bytes. */
static void set_over_budget(portico_error *err, const portico_decode_budget *budget, size_t limit)
{
	if (limit == budget->payload_bytes)
		portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                  "a binary/zlib payload inflates past %zu bytes, the payload limit "
		                  "(PORTICO_MAX_PAYLOAD_BYTES)",
		                  limit);
	else
		portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                  "a binary/zlib payload inflates past the %zu bytes left of the %zu that the "
		                  "payloads of one response or call may inflate to together",
		                  limit, budget->total_bytes);
}

/* Appends length bytes to *plain (of *used bytes, *capacity allocated), growing it by doubling
 * up to limit, which the caller has checked. */
static void append_inflated(uint8_t **plain, size_t *used, size_t *capacity, const uint8_t *bytes, size_t length,
                            size_t limit)
{
	if (!length) /* an empty payload inflates to nothing, and *plain may still be NULL */
		return;
	if (*used + length > *capacity) {
		size_t grown = *capacity ? *capacity : INFLATE_CHUNK_BYTES;
		while (grown < *used + length)
			grown *= 2;
		*capacity = grown < limit ? grown : limit;
		*plain = portico_realloc(*plain, *capacity);
	}
	memcpy(*plain + *used, bytes, length);
	*used += length;
}

/* Inflates a binary/zlib payload's data, a chunk at a time, into the Payload it holds, taking
 * what it inflates to from budget; never holds more than the budget allows. Returns a new payload
 * the caller frees, or NULL with err. */
static portico_payload *inflate_payload(const portico_payload *payload, portico_decode_budget *budget,
                                        portico_error *err)
{
	size_t limit =
	        budget->payload_bytes < budget->remaining_bytes ? budget->payload_bytes : budget->remaining_bytes;
	z_stream stream;
	memset(&stream, 0, sizeof stream);
	if (inflateInit(&stream) != Z_OK) {
		portico_error_set(err, PORTICO_INTERNAL, "zlib: cannot start inflating");
		return NULL;
	}
	uint8_t chunk[INFLATE_CHUNK_BYTES], *plain = NULL;
	size_t used = 0, capacity = 0;
	int status = Z_OK, over = 0;
	stream.next_in = payload->data.data;
	stream.avail_in = (uInt)payload->data.len;
	while (status == Z_OK && !over) {
		stream.next_out = chunk;
		stream.avail_out = sizeof chunk;
		status = inflate(&stream, Z_NO_FLUSH);
		size_t produced = sizeof chunk - stream.avail_out;
		if (status != Z_OK && status != Z_STREAM_END)
			break;
		over = produced > limit - used;
		if (!over)
			append_inflated(&plain, &used, &capacity, chunk, produced, limit);
	}
	inflateEnd(&stream);
	portico_payload *inner = NULL;
	if (over)
		set_over_budget(err, budget, limit);
	else if (status == Z_STREAM_END && (inner = temporal__api__common__v1__payload__unpack(NULL, used, plain)))
		budget->remaining_bytes -= used;
	else
		portico_error_set(err, PORTICO_DATA_LOSS, "a binary/zlib payload does not inflate to a payload");
	free(plain);
	return inner;
}

portico_payload *portico_codec_decode_within(const portico_codec *codec, const portico_payload *payload,
                                             portico_decode_budget *budget, portico_error *err)
{
	if (encoding_is(payload, PORTICO_ENCODING_ZLIB))
		return inflate_payload(payload, budget, err);
	if (!encoding_is(payload, PORTICO_ENCODING_ENCRYPTED))
		return copy_payload(payload, err);

	const ProtobufCBinaryData *id = portico_payload_metadata(payload, PORTICO_METADATA_KEY_ID);
	const codec_key *key = find_key(codec, id);
	if (!key) {
		portico_error_set(err, PORTICO_NOT_FOUND, "payload encrypted with unknown key id \"%.*s\"",
		                  id ? (int)id->len : 0, id ? (const char *)id->data : "");
		return NULL;
	}
	size_t length = payload->data.len;
	uint8_t *plain = portico_malloc(length > PORTICO_AES_GCM_OVERHEAD ? length - PORTICO_AES_GCM_OVERHEAD : 1);
	portico_payload *inner = NULL;
	if (portico_aes_gcm_open(key->bytes, payload->data.data, length, plain) == 0)
		inner = temporal__api__common__v1__payload__unpack(NULL, length - PORTICO_AES_GCM_OVERHEAD, plain);
	portico_wipe(plain, length > PORTICO_AES_GCM_OVERHEAD ? length - PORTICO_AES_GCM_OVERHEAD : 1);
	free(plain);
	if (!inner) {
		portico_error_set(err, PORTICO_DATA_LOSS,
		                  "payload encrypted with key \"%s\" fails authentication (tampered or truncated)",
		                  key->id);
		return NULL;
	}
	if (encoding_is(inner, PORTICO_ENCODING_ZLIB)) {
		portico_payload *inflated = inflate_payload(inner, budget, err);
		portico_payload_free(inner);
		return inflated;
	}
	return inner;
}

portico_payload *portico_codec_decode(const portico_codec *codec, const portico_payload *payload, portico_error *err)
{
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, 0);
	return portico_codec_decode_within(codec, payload, &budget, err);
}

/* ---- Whole messages ------------------------------------------------------------------------- */

typedef struct encode_pass {
	const portico_codec *codec;
	size_t max_bytes;
	portico_payload_size *largest;
} encode_pass;

/* Notes in *largest what went over its limit. */
static void note_over(encode_pass *pass, const char *what, size_t bytes, size_t limit_bytes)
{
	snprintf(pass->largest->field, sizeof pass->largest->field, "%s", what);
	pass->largest->bytes = bytes;
	pass->largest->limit_bytes = limit_bytes;
}

static int encode_one(void *arg, portico_payload **slot, const char *path, portico_error *err)
{
	encode_pass *pass = arg;
	if (!pass->codec)
		return 0;
	/* Reading it back inflates it, and inflating stops at the payload limit. */
	size_t plain_bytes =
	        pass->codec->compress && pass->max_bytes ? protobuf_c_message_get_packed_size(&(*slot)->base) : 0;
	if (plain_bytes > pass->max_bytes) {
		note_over(pass, path, plain_bytes, pass->max_bytes);
		return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                         "%s is %zu bytes before compression, over the payload limit of %zu bytes: "
		                         "it could not be inflated again when read",
		                         path, plain_bytes, pass->max_bytes);
	}
	portico_payload *encoded = portico_codec_encode(pass->codec, *slot);
	portico_payload_free(*slot);
	*slot = encoded;
	return 0;
}

static int measure_field(void *arg, const portico_payloads *payloads, const char *path, portico_error *err)
{
	encode_pass *pass = arg;
	size_t bytes = protobuf_c_message_get_packed_size(&payloads->base);
	if (pass->max_bytes && bytes > pass->max_bytes) {
		note_over(pass, path, bytes, pass->max_bytes);
		return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                         "%s is %zu bytes after encoding, over the payload limit of %zu bytes: "
		                         "Temporal would refuse it (limit.blobSize.error)",
		                         path, bytes, pass->max_bytes);
	}
	if (bytes > pass->largest->bytes) {
		pass->largest->bytes = bytes;
		snprintf(pass->largest->field, sizeof pass->largest->field, "%s", path);
	}
	return 0;
}

/* A memo of many small fields passes the per-field limit and still makes a message Temporal
 * refuses: it limits the memo as a whole. */
static int measure_memo(void *arg, ProtobufCMessage *message, const char *path, portico_error *err)
{
	encode_pass *pass = arg;
	if (!pass->max_bytes || message->descriptor != &temporal__api__common__v1__memo__descriptor)
		return 0;
	size_t bytes = protobuf_c_message_get_packed_size(message);
	if (bytes <= PORTICO_MAX_MEMO_BYTES)
		return 0;
	note_over(pass, path, bytes, PORTICO_MAX_MEMO_BYTES);
	return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
	                         "%s is %zu bytes after encoding, over the memo limit of %u bytes: Temporal would "
	                         "refuse it (limit.memoSize.error)",
	                         path, bytes, PORTICO_MAX_MEMO_BYTES);
}

int portico_codec_encode_message(const portico_codec *codec, ProtobufCMessage *message, size_t max_bytes,
                                 portico_payload_size *largest, portico_error *err)
{
	memset(largest, 0, sizeof *largest);
	encode_pass pass = {codec, max_bytes, largest};
	portico_payload_visitor visitor = {
	        .payload = encode_one, .payloads = measure_field, .message = measure_memo, .arg = &pass};
	if (portico_payload_walk(message, &visitor, err))
		return -1;
	size_t bytes = max_bytes ? protobuf_c_message_get_packed_size(message) : 0;
	if (bytes <= PORTICO_MAX_REQUEST_BYTES)
		return 0;
	note_over(&pass, "body", bytes, PORTICO_MAX_REQUEST_BYTES);
	return portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
	                         "the request is %zu bytes after encoding, over the %u bytes Temporal accepts in one "
	                         "gRPC message",
	                         bytes, PORTICO_MAX_REQUEST_BYTES);
}

typedef struct decode_pass {
	const portico_codec *codec;
	portico_decode_budget *budget;
} decode_pass;

static int decode_one(void *arg, portico_payload **slot, const char *path, portico_error *unused)
{
	(void)unused;
	decode_pass *pass = arg;
	if (!pass->codec ||
	    !(encoding_is(*slot, PORTICO_ENCODING_ENCRYPTED) || encoding_is(*slot, PORTICO_ENCODING_ZLIB)))
		return 0;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload *decoded = portico_codec_decode_within(pass->codec, *slot, pass->budget, &err);
	if (decoded) {
		portico_payload_free(*slot);
		*slot = decoded;
		return 0;
	}
	if (err.code == PORTICO_RESOURCE_EXHAUSTED && !pass->budget->left_encoded++)
		snprintf(pass->budget->left_encoded_field, sizeof pass->budget->left_encoded_field, "%s", path);
	portico_payload_set_metadata(*slot, "portico-codec-error", (const uint8_t *)err.message, strlen(err.message));
	portico_error_clear(&err);
	return 0;
}

static void replace_string(char **field, const char *value)
{
	if (*field && *field != protobuf_c_empty_string)
		free(*field);
	*field = portico_strdup(value);
}

/* A codec moves a failure's message and stack trace into encoded_attributes, a json/plain
 * {"message", "stack_trace"} payload; once decoded, they go back where readers look. */
static int restore_failure(void *arg, ProtobufCMessage *message, const char *path, portico_error *err)
{
	(void)arg;
	(void)path;
	(void)err;
	if (message->descriptor != &temporal__api__failure__v1__failure__descriptor)
		return 0;
	Temporal__Api__Failure__V1__Failure *failure = (Temporal__Api__Failure__V1__Failure *)message;
	portico_payload *attributes = failure->encoded_attributes;
	if (!attributes || !encoding_is(attributes, PORTICO_ENCODING_JSON))
		return 0;
	json_t *decoded = json_loadb((const char *)attributes->data.data, attributes->data.len, 0, NULL);
	const char *text = json_string_value(json_object_get(decoded, "message"));
	const char *trace = json_string_value(json_object_get(decoded, "stack_trace"));
	if (text) {
		replace_string(&failure->message, text);
		if (trace)
			replace_string(&failure->stack_trace, trace);
		portico_payload_free(attributes);
		failure->encoded_attributes = NULL;
	}
	json_decref(decoded);
	return 0;
}

void portico_codec_decode_message_within(const portico_codec *codec, ProtobufCMessage *message,
                                         portico_decode_budget *budget)
{
	decode_pass pass = {codec, budget};
	portico_payload_visitor visitor = {.payload = decode_one, .message = restore_failure, .arg = &pass};
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_walk(message, &visitor, &err);
	portico_error_clear(&err);
}

void portico_codec_decode_message(const portico_codec *codec, ProtobufCMessage *message)
{
	portico_decode_budget budget;
	portico_decode_budget_init(&budget, 0);
	portico_codec_decode_message_within(codec, message, &budget);
}
