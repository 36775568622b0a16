/* REST requests made into the bytes sent to Temporal: each request of a set is built as the proxy
 * builds it (rest_request_build, then the codec pass and size guard with no codec keys) and packed;
 * the SHA-256 of the packed bytes must stay what the gateway sent before its request path was made
 * faster (the plain JSON parser, payload text taken rather than copied, base64 decoded in one
 * pass). A change that alters what Temporal receives fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "crypto.h"
#include "rest_request.h"
#include "router.h"

typedef struct sent_request {
	const char *method, *path, *body, *idempotency_key;
	const char *sha256; /* of the packed request, as the gateway sent it before */
} sent_request;

/* The hex SHA-256 of what the gateway sends for request (out holds 65 bytes). */
static void packed_hash(const sent_request *request, const char *body, size_t length, char *out)
{
	const gateway_route *route;
	route_params params;
	char allow[64];
	assert_int_equal(router_match(gateway_routes, gateway_route_count, request->method, request->path, &route,
	                              &params, allow, sizeof allow),
	                 ROUTE_FOUND);
	const rest_input in = {.traits = route->traits,
	                       .params = &params,
	                       .body = body,
	                       .body_length = length,
	                       .idempotency_key = request->idempotency_key};
	rest_request built;
	portico_error err = PORTICO_ERROR_INIT;
	portico_payload_size largest;
	assert_int_equal(rest_request_build(&in, &built, &err), 0);
	assert_int_equal(
	        portico_codec_encode_message(NULL, built.message, PORTICO_DEFAULT_MAX_PAYLOAD_BYTES, &largest, &err),
	        0);
	size_t size = protobuf_c_message_get_packed_size(built.message);
	uint8_t *packed = malloc(size + 1), digest[PORTICO_SHA256_BYTES];
	protobuf_c_message_pack(built.message, packed);
	portico_sha256(packed, size, digest);
	portico_hex(digest, sizeof digest, out);
	free(packed);
	rest_request_clear(&built);
	route_params_free(&params);
}

#define SIGNAL "/namespaces/default/workflows/w1/signal/go"
#define START  "/namespaces/default/workflows"
#define QUERY  "/namespaces/default/workflows/w1/query/state"

static const sent_request requests[] = {
        {"POST", SIGNAL, "{\"args\":[\"hello\",1,-2.5e3,0.1,true,null,{\"b\":1,\"a\":[{}]}]}", NULL,
         "95e480fc8caf73c9c89f77953c4391705c29931d457ebe7095880fe355874657"},
        {"POST", SIGNAL,
         " {\n \"args\" : [ \"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\\"\\\\ \\/ \xc3\xa9\" , \"\\u001f\" ] ,"
         " \"identity\" : \"me\" } ",
         NULL, "bb4e6fa208fc4031467e356c992a9a27ab0f7e91195df6638792ed9832a573dc"},
        {"POST", SIGNAL, "{\"args\":[123456789012345678901234567890,1e400,-0,1E+2,9223372036854775807]}", NULL,
         "a275ba6ac47274e571c4548bd4950f0706e6dd7bbdc763dd8626f09e5078bcfc"},
        {"POST", SIGNAL,
         "{\"input\":{\"payloads\":[{\"metadata\":{\"encoding\":\"YmluYXJ5L3BsYWlu\",\"x\":\"-_8\"},"
         "\"data\":\"AAECAwQFBgc\"},{\"metadata\":{\"encoding\":\"YmluYXJ5L251bGw=\"}}]},\"requestId\":\"r1\"}",
         NULL, "a49f3a67701d95c6de41cc9590fb9d12504c6c53b35d94fa8242b159ac30a561"},
        {"POST", START,
         "{\"workflowId\":\"w1\",\"workflowType\":\"Greet\",\"taskQueue\":\"q\",\"requestId\":\"r\","
         "\"args\":[{\"_protoMessageType\":\"temporal.api.common.v1.WorkflowType\",\"name\":\"x\"},[1,2]],"
         "\"memo\":{\"fields\":{\"owner\":\"ann\"}},\"workflowExecutionTimeout\":\"10s\"}",
         NULL, "8962388811ca3e7e8100d74349556c2d740878a49c739f18bf82a91e41854ecc"},
        {"POST", START, "{\"workflowType\":{\"name\":\"Greet\"},\"taskQueue\":{\"name\":\"q\"},\"args\":[\"x\"]}",
         "key-1", "4d283d6474a4664d7c2bb91b971a0cbac3d78b39d9dc93637726d3e91301f052"},
        {"POST", START,
         "{\"workflowType\":{\"name\":\"Greet\"},\"taskQueue\":{\"name\":\"q\"},\"args\":[1e400,"
         "123456789012345678901234567890]}",
         "key-2", "025fcad94b4d2ee78b2fff3a001ab13e120b8f7b3406c820c015f024aec6b861"},
        {"POST", QUERY, "{\"args\":[{\"a\":\"b\",\"a\":\"c\",\"d\":{\"e\":[]}}]}", NULL,
         "a122db8b3d4051a9d0008c0f47fd7728cab8923bdcef9400c99e15a51e017b62"},
};

static void test_requests_pack_as_before(void **state)
{
	(void)state;
	int changed = 0;
	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		char hash[2 * PORTICO_SHA256_BYTES + 1];
		packed_hash(&requests[i], requests[i].body, strlen(requests[i].body), hash);
		if (strcmp(hash, requests[i].sha256)) {
			print_message("request %zu packs to %s\n", i, hash);
			changed = 1;
		}
	}
	assert_false(changed);
}

/* A long argument, in both shapes: a string of 100,000 characters with escapes here and there,
 * and 75,000 binary bytes in base64. */
static void test_long_payloads_pack_as_before(void **state)
{
	(void)state;
	size_t length = 100000;
	char *body = malloc(length + 128);
	int written = snprintf(body, 64, "{\"args\":[\"");
	for (size_t i = 0; i < length; i++)
		body[written + (int)i] = i % 1000 == 998 ? '\\' : i % 1000 == 999 ? 'n' : (char)('a' + i % 26);
	strcpy(body + written + length, "\"]}");
	const sent_request shorthand = {"POST", SIGNAL, NULL, NULL, NULL};
	char hash[2 * PORTICO_SHA256_BYTES + 1];
	packed_hash(&shorthand, body, strlen(body), hash);
	assert_string_equal(hash, "48369525659528e4787ddc1d714e0583ac00f7f3fe0479cbf226e2b9bff183d3");

	written = snprintf(body, 96,
	                   "{\"input\":{\"payloads\":[{\"metadata\":{\"encoding\":\"YmluYXJ5L3BsYWlu\"},\"data\":\"");
	for (size_t i = 0; i < length; i++)
		body[written + (int)i] =
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7) % 64];
	strcpy(body + written + length, "\"}]}}");
	packed_hash(&shorthand, body, strlen(body), hash);
	assert_string_equal(hash, "582f7df253d61dd833499c022f2dd8dde2a133ff5f159695ddba29057ae72c90");
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_requests_pack_as_before),
	        cmocka_unit_test(test_long_payloads_pack_as_before),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
