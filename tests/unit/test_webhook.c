/* Webhook deliveries without a server: each sender's signature scheme accepts what the sender
 * signs and refuses a wrong secret, a changed body, a stale or future timestamp and a malformed
 * header; secrets rotate; and the templates that name workflows and deliveries, with the JSON
 * pointers in them, render what an operator expects or say what is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "header_list.h"
#include "json_assert.h"

#include "alloc.h"
#include "base64.h"
#include "codec.h"
#include "webhook_config.h"

#define NOW 1700000000 /* the clock of every check below */

#define SECRET(text)                                                                                                   \
	{                                                                                                              \
		(uint8_t *)(text), sizeof(text) - 1                                                                    \
	}
static webhook_secret current[] = {SECRET("current-secret")};
static webhook_secret rotating[] = {SECRET("old-secret"), SECRET("current-secret")};

static webhook_verifier verifier_of(webhook_scheme scheme, webhook_secret *secrets, size_t count)
{
	return (webhook_verifier){.scheme = scheme, .secrets = secrets, .secret_count = count, .tolerance_s = 300};
}

/* NULL when the delivery is accepted, else the reason logged. */
static const char *rejection(const webhook_verifier *verifier, request_headers headers, const char *body)
{
	const char *reason = "not set";
	int rejected = webhook_verify(verifier, headers, body, body ? strlen(body) : 0, NOW, &reason);
	assert_int_equal(rejected, reason ? -1 : 0);
	return reason;
}

/* The HMAC of message under key, as hex (lower case) or base64, in out. */
static char *sign(portico_hmac_algorithm algorithm, const char *key, const char *message, int base64, char *out,
                  size_t size)
{
	uint8_t mac[PORTICO_HMAC_MAX_BYTES];
	portico_bytes part = {message, strlen(message)};
	size_t length = portico_hmac(algorithm, (const uint8_t *)key, strlen(key), &part, 1, mac);
	if (base64) {
		char *encoded = portico_base64_encode(mac, length);
		snprintf(out, size, "%s", encoded);
		free(encoded);
	} else {
		for (size_t i = 0; i < length; i++)
			snprintf(out + 2 * i, size - 2 * i, "%02x", mac[i]);
	}
	return out;
}

/* "<prefix><hex of HMAC-SHA256 of message under key>" in out. */
static const char *hex_signature(const char *prefix, const char *key, const char *message, char *out, size_t size)
{
	char hex[2 * PORTICO_HMAC_MAX_BYTES + 1];
	snprintf(out, size, "%s%s", prefix, sign(PORTICO_HMAC_SHA256, key, message, 0, hex, sizeof hex));
	return out;
}

/* ---- GitHub ------------------------------------------------------------------------------------ */

/* The example in GitHub's documentation ("Validating webhook deliveries"). */
static void test_github_accepts_its_documented_example(void **state)
{
	(void)state;
	webhook_secret secret[] = {SECRET("It's a Secret to Everybody")};
	webhook_verifier v = verifier_of(WEBHOOK_GITHUB, secret, 1);
	request_headers headers = HEADERS(
	        {"X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"});
	assert_null(rejection(&v, headers, "Hello, World!"));
	assert_string_equal(rejection(&v, headers, "Hello, World?"), "signature mismatch");
	/* Upper-case hex is the same signature. */
	assert_null(rejection(&v,
	                      HEADERS({"x-hub-signature-256",
	                               "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"}),
	                      "Hello, World!"));
}

static void test_github_refuses_wrong_secret_and_malformed_headers(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_GITHUB, current, 1);
	const char *body = "{\"ref\":\"refs/heads/main\"}";
	char signed_by_other[100], signed_by_current[100];
	hex_signature("sha256=", "someone-else", body, signed_by_other, sizeof signed_by_other);
	hex_signature("sha256=", "current-secret", body, signed_by_current, sizeof signed_by_current);
	assert_null(rejection(&v, HEADERS({"X-Hub-Signature-256", signed_by_current}), body));
	assert_string_equal(rejection(&v, HEADERS({"X-Hub-Signature-256", signed_by_other}), body),
	                    "signature mismatch");
	assert_string_equal(rejection(&v, NO_HEADERS, body), "missing X-Hub-Signature-256");
	/* The old SHA-1 header, or the digest without its "sha256=", is not a signature. */
	assert_string_equal(rejection(&v, HEADERS({"X-Hub-Signature", signed_by_current}), body),
	                    "missing X-Hub-Signature-256");
	assert_string_equal(rejection(&v, HEADERS({"X-Hub-Signature-256", signed_by_current + 7}), body),
	                    "missing X-Hub-Signature-256");
	assert_string_equal(rejection(&v, HEADERS({"X-Hub-Signature-256", "sha256="}), body), "signature mismatch");
	/* A truncated signature is not a prefix match. */
	signed_by_current[40] = '\0';
	assert_string_equal(rejection(&v, HEADERS({"X-Hub-Signature-256", signed_by_current}), body),
	                    "signature mismatch");
}

/* During a rotation the sender signs with either secret; a secret dropped from the route is refused. */
static void test_any_configured_secret_signs_during_rotation(void **state)
{
	(void)state;
	const char *body = "{}";
	char by_old[100], by_current[100];
	hex_signature("sha256=", "old-secret", body, by_old, sizeof by_old);
	hex_signature("sha256=", "current-secret", body, by_current, sizeof by_current);
	webhook_verifier both = verifier_of(WEBHOOK_GITHUB, rotating, 2);
	assert_null(rejection(&both, HEADERS({"X-Hub-Signature-256", by_old}), body));
	assert_null(rejection(&both, HEADERS({"X-Hub-Signature-256", by_current}), body));
	webhook_verifier rotated = verifier_of(WEBHOOK_GITHUB, current, 1);
	assert_string_equal(rejection(&rotated, HEADERS({"X-Hub-Signature-256", by_old}), body), "signature mismatch");
}

/* ---- Stripe ------------------------------------------------------------------------------------ */

/* A Stripe-Signature header "t=<t>,v1=<sig>" for body at t, signed with key. */
static const char *stripe_header(const char *key, long long t, const char *body, char *out, size_t size)
{
	char message[256], hex[2 * PORTICO_HMAC_MAX_BYTES + 1];
	snprintf(message, sizeof message, "%lld.%s", t, body);
	snprintf(out, size, "t=%lld,v1=%s", t, sign(PORTICO_HMAC_SHA256, key, message, 0, hex, sizeof hex));
	return out;
}

static void test_stripe_checks_signature_and_timestamp(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_STRIPE, current, 1);
	const char *body = "{\"id\":\"evt_1\",\"type\":\"charge.succeeded\"}";
	char value[200];
	assert_null(rejection(&v, HEADERS({"Stripe-Signature", stripe_header("current-secret", NOW, body, value, 200)}),
	                      body));
	assert_string_equal(rejection(&v, HEADERS({"Stripe-Signature", value}), "{\"id\":\"evt_2\"}"),
	                    "signature mismatch");
	assert_string_equal(
	        rejection(&v, HEADERS({"Stripe-Signature", stripe_header("someone-else", NOW, body, value, 200)}),
	                  body),
	        "signature mismatch");
	/* Within the tolerance either way is fresh; one second past it is not. */
	assert_null(rejection(
	        &v, HEADERS({"Stripe-Signature", stripe_header("current-secret", NOW - 300, body, value, 200)}), body));
	assert_null(rejection(
	        &v, HEADERS({"Stripe-Signature", stripe_header("current-secret", NOW + 300, body, value, 200)}), body));
	assert_string_equal(
	        rejection(&v,
	                  HEADERS({"Stripe-Signature", stripe_header("current-secret", NOW - 301, body, value, 200)}),
	                  body),
	        "timestamp too old");
	assert_string_equal(
	        rejection(&v,
	                  HEADERS({"Stripe-Signature", stripe_header("current-secret", NOW + 301, body, value, 200)}),
	                  body),
	        "timestamp in the future");
}

/* Stripe sends a v1 signature per live secret, and may add schemes (v0) that are not checked. */
static void test_stripe_takes_any_of_several_signatures(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_STRIPE, current, 1);
	const char *body = "{\"id\":\"evt_1\"}";
	char message[64], good[65], other[65], value[400];
	snprintf(message, sizeof message, "%d.%s", NOW, body);
	sign(PORTICO_HMAC_SHA256, "current-secret", message, 0, good, sizeof good);
	sign(PORTICO_HMAC_SHA256, "old-secret", message, 0, other, sizeof other);
	snprintf(value, sizeof value, "t=%d, v1=%s, v0=%s, v1=%s", NOW, other, other, good);
	assert_null(rejection(&v, HEADERS({"Stripe-Signature", value}), body));
	/* A valid signature under a scheme other than v1 is not enough. */
	snprintf(value, sizeof value, "t=%d,v0=%s", NOW, good);
	assert_string_equal(rejection(&v, HEADERS({"Stripe-Signature", value}), body), "signature mismatch");
}

static void test_stripe_refuses_malformed_headers(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_STRIPE, current, 1);
	assert_string_equal(rejection(&v, NO_HEADERS, "{}"), "missing Stripe-Signature");
	static const char *const bad[] = {"", "v1=abc", "t=,v1=abc", "t=12ab,v1=abc", ",,,", "t=1700000000x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_string_equal(rejection(&v, HEADERS({"Stripe-Signature", bad[i]}), "{}"),
		                    "missing or malformed timestamp");
	assert_string_equal(rejection(&v, HEADERS({"Stripe-Signature", "t=1700000000"}), "{}"), "signature mismatch");
}

/* ---- Slack ------------------------------------------------------------------------------------- */

static void test_slack_checks_signature_and_timestamp(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_SLACK, current, 1);
	const char *body = "token=x&team_id=T1&command=%2Fdeploy";
	char message[128], signature[100], stale[100];
	snprintf(message, sizeof message, "v0:%d:%s", NOW, body);
	hex_signature("v0=", "current-secret", message, signature, sizeof signature);
	assert_null(rejection(
	        &v, HEADERS({"X-Slack-Request-Timestamp", "1700000000"}, {"X-Slack-Signature", signature}), body));
	assert_string_equal(
	        rejection(&v, HEADERS({"X-Slack-Request-Timestamp", "1700000000"}, {"X-Slack-Signature", signature}),
	                  "token=x&team_id=T1&command=%2Fdestroy"),
	        "signature mismatch");
	/* The timestamp is signed: moving it breaks the signature, and an old one is refused first. */
	assert_string_equal(
	        rejection(&v, HEADERS({"X-Slack-Request-Timestamp", "1700000001"}, {"X-Slack-Signature", signature}),
	                  body),
	        "signature mismatch");
	snprintf(message, sizeof message, "v0:%d:%s", NOW - 600, body);
	hex_signature("v0=", "current-secret", message, stale, sizeof stale);
	assert_string_equal(
	        rejection(&v, HEADERS({"X-Slack-Request-Timestamp", "1699999400"}, {"X-Slack-Signature", stale}), body),
	        "timestamp too old");
	assert_string_equal(rejection(&v, HEADERS({"X-Slack-Signature", signature}), body),
	                    "missing or malformed timestamp");
	assert_string_equal(rejection(&v, HEADERS({"X-Slack-Request-Timestamp", "1700000000"}), body),
	                    "missing X-Slack-Signature");
	assert_string_equal(
	        rejection(&v,
	                  HEADERS({"X-Slack-Request-Timestamp", "1700000000"}, {"X-Slack-Signature", signature + 3}),
	                  body),
	        "missing X-Slack-Signature");
}

/* ---- Standard Webhooks ------------------------------------------------------------------------- */

/* The example of the Standard Webhooks specification (whsec_ secret, base64 signature). */
static void test_standard_webhooks_accepts_the_specification_example(void **state)
{
	(void)state;
	const char *encoded = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	webhook_secret secret[1];
	assert_int_equal(portico_base64_decode(encoded, strlen(encoded), &secret[0].bytes, &secret[0].length), 0);
	webhook_verifier v = verifier_of(WEBHOOK_STANDARD, secret, 1);
	v.tolerance_s = 86400;
	const char *body = "{\"test\": 2432232314}";
	char ts[32];
	snprintf(ts, sizeof ts, "%d", 1614265330);
	/* The example's timestamp is years before NOW: verified at its own time. */
	const char *reason;
	request_headers headers = HEADERS({"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"}, {"webhook-timestamp", ts},
	                                  {"webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="});
	assert_int_equal(webhook_verify(&v, headers, body, strlen(body), 1614265330, &reason), 0);
	assert_int_equal(webhook_verify(&v, headers, body, strlen(body), NOW, &reason), -1);
	assert_string_equal(reason, "timestamp too old");
	free(secret[0].bytes);
}

static void test_standard_webhooks_takes_any_v1_signature(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_STANDARD, rotating, 2);
	const char *body = "{\"type\":\"invoice.paid\"}";
	char message[128], good[64], value[200];
	snprintf(message, sizeof message, "msg_1.%d.%s", NOW, body);
	sign(PORTICO_HMAC_SHA256, "old-secret", message, 1, good, sizeof good);
	snprintf(value, sizeof value, "v1a,bm90IGEgc2lnbmF0dXJl v2,%s v1,%s", good, good);
	assert_null(rejection(
	        &v, HEADERS({"webhook-id", "msg_1"}, {"webhook-timestamp", "1700000000"}, {"webhook-signature", value}),
	        body));
	/* The id is signed: another delivery's id does not pass. */
	assert_string_equal(rejection(&v,
	                              HEADERS({"webhook-id", "msg_2"}, {"webhook-timestamp", "1700000000"},
	                                      {"webhook-signature", value}),
	                              body),
	                    "signature mismatch");
	snprintf(value, sizeof value, "v2,%s", good);
	assert_string_equal(rejection(&v,
	                              HEADERS({"webhook-id", "msg_1"}, {"webhook-timestamp", "1700000000"},
	                                      {"webhook-signature", value}),
	                              body),
	                    "signature mismatch");
	assert_string_equal(rejection(&v,
	                              HEADERS({"webhook-id", "msg_1"}, {"webhook-timestamp", "1700000400"},
	                                      {"webhook-signature", value}),
	                              body),
	                    "timestamp in the future");
	assert_string_equal(
	        rejection(&v, HEADERS({"webhook-timestamp", "1700000000"}, {"webhook-signature", value}), body),
	        "missing webhook-id or webhook-signature");
	assert_string_equal(rejection(&v, HEADERS({"webhook-id", "msg_1"}, {"webhook-signature", value}), body),
	                    "missing or malformed timestamp");
}

/* ---- Generic HMAC and bearer ------------------------------------------------------------------- */

static void test_generic_hmac_hex_with_prefix(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_HMAC, current, 1);
	v.header = "X-Signature";
	v.prefix = "sha1=";
	v.algorithm = PORTICO_HMAC_SHA1;
	const char *body = "{\"event\":\"push\"}";
	char hex[41], value[64];
	snprintf(value, sizeof value, "sha1=%s", sign(PORTICO_HMAC_SHA1, "current-secret", body, 0, hex, sizeof hex));
	assert_null(rejection(&v, HEADERS({"x-signature", value}), body));
	/* The prefix and the hex digits in any case. */
	for (char *c = value; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	assert_null(rejection(&v, HEADERS({"X-Signature", value}), body));
	assert_string_equal(rejection(&v, HEADERS({"X-Signature", value}), "{\"event\":\"pull\"}"),
	                    "signature mismatch");
	assert_string_equal(rejection(&v, HEADERS({"X-Signature", hex}), body), "missing signature header");
	assert_string_equal(rejection(&v, NO_HEADERS, body), "missing signature header");
	/* A SHA-256 signature where SHA-1 is configured does not pass. */
	hex_signature("sha1=", "current-secret", body, value, sizeof value);
	assert_string_equal(rejection(&v, HEADERS({"X-Signature", value}), body), "signature mismatch");
}

static void test_generic_hmac_base64_without_prefix(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_HMAC, rotating, 2);
	v.header = "X-Shop-Hmac-Sha256";
	v.prefix = "";
	v.algorithm = PORTICO_HMAC_SHA256;
	v.base64 = 1;
	const char *body = "{\"order\":1}";
	char value[64];
	sign(PORTICO_HMAC_SHA256, "current-secret", body, 1, value, sizeof value);
	assert_null(rejection(&v, HEADERS({"X-Shop-Hmac-Sha256", value}), body));
	assert_null(rejection(
	        &v,
	        HEADERS({"X-Shop-Hmac-Sha256", sign(PORTICO_HMAC_SHA256, "old-secret", body, 1, value, sizeof value)}),
	        body));
	/* base64 is case-sensitive: a changed case is another signature. */
	for (char *c = value; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	assert_string_equal(rejection(&v, HEADERS({"X-Shop-Hmac-Sha256", value}), body), "signature mismatch");
	assert_string_equal(rejection(&v, HEADERS({"X-Shop-Hmac-Sha256", ""}), body), "signature mismatch");
}

static void test_bearer_token_is_one_of_the_secrets(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_BEARER, rotating, 2);
	assert_null(rejection(&v, HEADERS({"Authorization", "Bearer current-secret"}), "{}"));
	assert_null(rejection(&v, HEADERS({"authorization", "bearer old-secret"}), "{}"));
	assert_string_equal(rejection(&v, HEADERS({"Authorization", "Bearer current-secre"}), "{}"),
	                    "wrong bearer token");
	assert_string_equal(rejection(&v, HEADERS({"Authorization", "Bearer current-secretX"}), "{}"),
	                    "wrong bearer token");
	assert_string_equal(rejection(&v, HEADERS({"Authorization", "Bearer "}), "{}"), "wrong bearer token");
	assert_string_equal(rejection(&v, HEADERS({"Authorization", "Basic Y3VycmVudC1zZWNyZXQ="}), "{}"),
	                    "missing bearer token");
	assert_string_equal(rejection(&v, HEADERS({"Authorization", "current-secret"}), "{}"), "missing bearer token");
	assert_string_equal(rejection(&v, NO_HEADERS, NULL), "missing bearer token");
}

/* An empty delivery is signed like any other body. */
static void test_empty_body_is_signed_too(void **state)
{
	(void)state;
	webhook_verifier v = verifier_of(WEBHOOK_GITHUB, current, 1);
	char value[100];
	hex_signature("sha256=", "current-secret", "", value, sizeof value);
	assert_null(rejection(&v, HEADERS({"X-Hub-Signature-256", value}), NULL));
	assert_string_equal(rejection(&v, HEADERS({"X-Hub-Signature-256", value}), " "), "signature mismatch");
}

/* ---- Templates and JSON pointers --------------------------------------------------------------- */

/* The text template renders to, or its error as "error: …"; the caller frees. */
static char *rendered(const char *template_text, request_headers headers, const char *body_text, const char *delivery)
{
	json_t *body = body_text ? parse(body_text) : NULL;
	portico_error err = PORTICO_ERROR_INIT;
	char *text = webhook_render(template_text, headers, body, delivery, &err);
	if (!text) {
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		text = portico_sprintf("error: %s", err.message);
	}
	portico_error_clear(&err);
	json_decref(body);
	return text;
}

#define assert_rendered(expected, ...)                                                                                 \
	do {                                                                                                           \
		char *text_ = rendered(__VA_ARGS__);                                                                   \
		assert_string_equal(text_, expected);                                                                  \
		free(text_);                                                                                           \
	} while (0)

static void test_templates_fill_headers_body_fields_and_delivery(void **state)
{
	(void)state;
	request_headers headers = HEADERS({"X-GitHub-Delivery", "72d3162e"}, {"X-GitHub-Event", "push"});
	const char *body = "{\"repository\": {\"full_name\": \"acme/shop\"}, \"after\": \"9f2c\", \"size\": 3,"
	                   " \"forced\": false, \"ratio\": 0.5, \"a/b\": {\"m~n\": \"escaped\"}}";
	assert_rendered("push-acme/shop-9f2c", "{header.X-GitHub-Event}-{body./repository/full_name}-{body./after}",
	                headers, body, NULL);
	assert_rendered("deploy-72d3162e", "deploy-{delivery}", headers, body, "72d3162e");
	assert_rendered("3 false 0.5", "{body./size} {body./forced} {body./ratio}", headers, body, NULL);
	assert_rendered("escaped", "{body./a~1b/m~0n}", headers, body, NULL);
	assert_rendered("constant", "constant", NO_HEADERS, NULL, NULL);
	assert_rendered("", "", NO_HEADERS, NULL, NULL);
	/* A body that is a bare string renders whole. */
	assert_rendered("hello", "{body.}", NO_HEADERS, "\"hello\"", NULL);
}

static void test_templates_say_what_is_missing(void **state)
{
	(void)state;
	request_headers headers = HEADERS({"X-Empty", ""}, {"X-Latin1", "caf\xe9"});
	const char *body = "{\"repository\": {\"id\": 1}, \"tags\": [\"a\"], \"none\": null}";
	assert_rendered("error: header X-Delivery is missing", "{header.X-Delivery}", headers, body, NULL);
	assert_rendered("error: header X-Empty is missing", "{header.X-Empty}", headers, body, NULL);
	assert_rendered("error: header X-Latin1 is not UTF-8", "{header.X-Latin1}", headers, body, NULL);
	assert_rendered("error: the body has no value at \"/repository/name\"", "{body./repository/name}", headers,
	                body, NULL);
	assert_rendered("error: the body has no text or number at \"/repository\"", "{body./repository}", headers, body,
	                NULL);
	assert_rendered("error: the body has no text or number at \"/tags\"", "{body./tags}", headers, body, NULL);
	assert_rendered("error: the body has no text or number at \"/none\"", "{body./none}", headers, body, NULL);
	/* A body that is not JSON has no fields. */
	assert_rendered("error: the body has no value at \"/id\"", "{body./id}", headers, NULL, NULL);
	assert_rendered("error: this delivery has no id", "run-{delivery}", headers, body, NULL);
}

static void test_template_syntax_is_checked_when_loaded(void **state)
{
	(void)state;
	static const char *const good[] = {"",
	                                   "fixed",
	                                   "{delivery}",
	                                   "{header.X-Request-Id}",
	                                   "{body./a/0}",
	                                   "{body.}",
	                                   "order-{body./id}-{header.X}-{delivery}"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		portico_error err = PORTICO_ERROR_INIT;
		if (webhook_template_check(good[i], &err))
			fail_msg("\"%s\" refused: %s", good[i], err.message);
	}
	static const struct {
		const char *text, *message;
	} bad[] = {
	        {"{nope}", "unknown placeholder {nope}: use {header.Name}, {body./json/pointer} or {delivery}"},
	        {"{header.}", "unknown placeholder {header.}: use {header.Name}, {body./json/pointer} or {delivery}"},
	        {"{body.id}", "unknown placeholder {body.id}: use {header.Name}, {body./json/pointer} or {delivery}"},
	        {"{}", "unknown placeholder {}: use {header.Name}, {body./json/pointer} or {delivery}"},
	        {"a}b", "unbalanced '}' in \"a}b\""},
	        {"id-{body./id", "unclosed '{' in \"{body./id\""},
	        {"{delivery}}", "unbalanced '}' in \"}\""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		portico_error err = PORTICO_ERROR_INIT;
		assert_int_equal(webhook_template_check(bad[i].text, &err), -1);
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_string_equal(err.message, bad[i].message);
		portico_error_clear(&err);
	}
}

/* The examples of RFC 6901, section 5, and what is not there. */
static void test_json_pointer_follows_rfc_6901(void **state)
{
	(void)state;
	json_t *document = parse("{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, \"e^f\": 3, "
	                         "\"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, \"m~n\": 8, \"~1\": 9}");
	assert_ptr_equal(webhook_json_pointer(document, ""), document);
	assert_true(json_equal(webhook_json_pointer(document, "/foo"), json_object_get(document, "foo")));
	assert_string_equal(json_string_value(webhook_json_pointer(document, "/foo/0")), "bar");
	static const struct {
		const char *pointer;
		int value;
	} numbers[] = {{"/", 0},     {"/a~1b", 1}, {"/c%d", 2}, {"/e^f", 3},  {"/g|h", 4},
	               {"/i\\j", 5}, {"/k\"l", 6}, {"/ ", 7},   {"/m~0n", 8}, {"/~01", 9}};
	for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		json_t *value = webhook_json_pointer(document, numbers[i].pointer);
		if (!json_is_integer(value) || json_integer_value(value) != numbers[i].value)
			fail_msg("%s should be %d", numbers[i].pointer, numbers[i].value);
	}
	static const char *const absent[] = {"foo",     "/bar",  "/foo/2",   "/foo/-", "/foo/-1", "/foo/+1",
	                                     "/foo/1x", "/foo/", "/foo/0/x", "/a/b",   "/m~n~"};
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
		if (webhook_json_pointer(document, absent[i]))
			fail_msg("%s should find nothing", absent[i]);
	json_decref(document);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_github_accepts_its_documented_example),
	        cmocka_unit_test(test_github_refuses_wrong_secret_and_malformed_headers),
	        cmocka_unit_test(test_any_configured_secret_signs_during_rotation),
	        cmocka_unit_test(test_stripe_checks_signature_and_timestamp),
	        cmocka_unit_test(test_stripe_takes_any_of_several_signatures),
	        cmocka_unit_test(test_stripe_refuses_malformed_headers),
	        cmocka_unit_test(test_slack_checks_signature_and_timestamp),
	        cmocka_unit_test(test_standard_webhooks_accepts_the_specification_example),
	        cmocka_unit_test(test_standard_webhooks_takes_any_v1_signature),
	        cmocka_unit_test(test_generic_hmac_hex_with_prefix),
	        cmocka_unit_test(test_generic_hmac_base64_without_prefix),
	        cmocka_unit_test(test_bearer_token_is_one_of_the_secrets),
	        cmocka_unit_test(test_empty_body_is_signed_too),
	        cmocka_unit_test(test_templates_fill_headers_body_fields_and_delivery),
	        cmocka_unit_test(test_templates_say_what_is_missing),
	        cmocka_unit_test(test_template_syntax_is_checked_when_loaded),
	        cmocka_unit_test(test_json_pointer_follows_rfc_6901),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
