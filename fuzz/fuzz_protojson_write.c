/* Proto3 JSON text written straight from a message (portico_protojson_write) is byte for byte what
 * the tree's way writes (portico_protojson_encode, then portico_json_text), for whatever Temporal
 * could send. The first byte picks what the rest is: the wire bytes of a response the gateway
 * answers with (or of one Payloads), or the data of a json/plain or json/protobuf payload, which
 * portico_json_copy must copy as portico_json_parse + portico_json_text would, or leave alone. */
#include <stdint.h>

#include "fuzz.h"
#include "json_copy.h"
#include "json_parse.h"
#include "json_text.h"
#include "payload.h"
#include "protojson.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

static const ProtobufCMessageDescriptor *const types[] = {
        &temporal__api__workflowservice__v1__describe_workflow_execution_response__descriptor,
        &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
        &temporal__api__workflowservice__v1__poll_workflow_execution_update_response__descriptor,
        &temporal__api__workflowservice__v1__query_workflow_response__descriptor,
        &temporal__api__workflowservice__v1__start_workflow_execution_response__descriptor,
        &temporal__api__workflowservice__v1__list_workflow_executions_response__descriptor,
        &temporal__api__common__v1__payloads__descriptor,
};
#define TYPE_COUNT (sizeof types / sizeof *types)

static void assert_same(const ProtobufCMessage *message, int shorthand)
{
	const portico_protojson_options options = {.payload_shorthand = shorthand};
	json_t *tree = portico_protojson_encode(message, &options);
	size_t expected_length, written_length;
	char *expected = portico_json_text(tree, 0, &expected_length);
	json_decref(tree);
	char *written = portico_protojson_write(message, &options, &written_length);
	if (expected_length != written_length || memcmp(expected, written, expected_length))
		fuzz_fail("written text differs from the tree's", written);
	free(expected);
	free(written);
}

/* portico_json_copy: the tree's text, or nothing added. */
static void check_copy(const uint8_t *data, size_t size)
{
	portico_json_buffer buffer = {NULL, 0, 0};
	json_t *tree = portico_json_parse((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (portico_json_copy(&buffer, (const char *)data, size) == 0) {
		if (!tree)
			fuzz_fail("copied what the tree refuses", buffer.data);
		size_t length;
		char *expected = portico_json_text(tree, 0, &length);
		if (length != buffer.length || memcmp(expected, buffer.data, length))
			fuzz_fail("copied text differs from the tree's", buffer.data);
		free(expected);
	} else if (buffer.length) {
		fuzz_fail("a copy that failed left text behind", buffer.data);
	}
	json_decref(tree);
	free(buffer.data);
}

static void check_payload_data(const uint8_t *data, size_t size, int proto)
{
	check_copy(data, size);
	portico_payload *payload =
	        portico_payload_new(proto ? PORTICO_ENCODING_PROTO_JSON : PORTICO_ENCODING_JSON, data, size);
	if (proto)
		portico_payload_set_metadata(payload, "messageType", (const uint8_t *)"temporal.api.common.v1.Link",
		                             27);
	portico_payloads payloads = TEMPORAL__API__COMMON__V1__PAYLOADS__INIT;
	payloads.payloads = &payload;
	payloads.n_payloads = 1;
	assert_same(&payloads.base, 1);
	portico_payload_free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned pick = data[0];
	data++;
	size--;
	if (pick % (TYPE_COUNT + 2) >= TYPE_COUNT) {
		check_payload_data(data, size, pick % (TYPE_COUNT + 2) == TYPE_COUNT + 1);
		return 0;
	}
	ProtobufCMessage *message = protobuf_c_message_unpack(types[pick % (TYPE_COUNT + 2)], NULL, size, data);
	if (!message)
		return 0;
	assert_same(message, 0);
	assert_same(message, 1);
	protobuf_c_message_free_unpacked(message, NULL);
	return 0;
}
