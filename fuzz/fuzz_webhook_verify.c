/* Webhook signatures as senders (and forgers) send them: arbitrary headers and a body, checked
 * against each scheme with fixed secrets at a fixed time. The input's first byte picks the scheme
 * (g github, s stripe, k slack, w standard, h hmac hex "sha256=", b hmac base64 SHA-1, t bearer;
 * any other byte by its value); then "Name: value" lines, an empty line, and the body.
 * A refusal carries a reason and an acceptance none; a body changed by one byte is refused by every
 * scheme that signs the body, and a timestamped delivery accepted now is refused a day later. */
#include <stdint.h>

#include "fuzz.h"
#include "webhook_config.h"

#define NOW         1700000000
#define MAX_HEADERS 16

static int verify(const webhook_verifier *v, const fuzz_header *headers, const char *body, size_t length, int64_t now_s)
{
	const char *reason = "not set";
	int rejected = webhook_verify(v, (request_headers){fuzz_header_lookup, headers}, body, length, now_s, &reason);
	if (rejected != 0 && rejected != -1)
		fuzz_fail("webhook_verify returned neither 0 nor -1", NULL);
	if (rejected ? !reason || !*reason : reason != NULL)
		fuzz_fail(rejected ? "a refusal without a reason" : "an acceptance with a reason", reason);
	return rejected;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static webhook_secret secrets[] = {{(uint8_t *)"old-secret", 10}, {(uint8_t *)"fuzz-secret", 11}};
	static const char kinds[] = "gskwhbt";
	static const webhook_scheme schemes[] = {WEBHOOK_GITHUB, WEBHOOK_STRIPE, WEBHOOK_SLACK, WEBHOOK_STANDARD,
	                                         WEBHOOK_HMAC,   WEBHOOK_HMAC,   WEBHOOK_BEARER};
	if (!size)
		return 0;
	const char *kind = memchr(kinds, data[0], sizeof schemes / sizeof schemes[0]);
	size_t index = kind ? (size_t)(kind - kinds) : data[0] % (sizeof schemes / sizeof schemes[0]);
	webhook_verifier v = {.scheme = schemes[index], .secrets = secrets, .secret_count = 2, .tolerance_s = 300};
	if (kinds[index] == 'h')
		v = (webhook_verifier){.scheme = WEBHOOK_HMAC,
		                       .secrets = secrets,
		                       .secret_count = 2,
		                       .header = "X-Signature",
		                       .prefix = "sha256=",
		                       .algorithm = PORTICO_HMAC_SHA256};
	else if (kinds[index] == 'b')
		v = (webhook_verifier){.scheme = WEBHOOK_HMAC,
		                       .secrets = secrets,
		                       .secret_count = 2,
		                       .header = "X-Signature",
		                       .prefix = "",
		                       .algorithm = PORTICO_HMAC_SHA1,
		                       .base64 = 1};

	char *text = fuzz_text(data + 1, size - 1);
	fuzz_header headers[MAX_HEADERS + 1];
	char *body = fuzz_read_headers(text, headers, MAX_HEADERS);
	size_t length = size - 1 - (size_t)(body - text); /* the body keeps its NULs */
	if (verify(&v, headers, body, length, NOW) == 0) {
		if (v.scheme != WEBHOOK_BEARER) {
			char *changed = malloc(length + 1);
			memcpy(changed, body, length);
			changed[length] = 'x';
			if (length)
				changed[length - 1] ^= 1;
			if (!verify(&v, headers, changed, length ? length : 1, NOW))
				fuzz_fail("a body changed by one byte still verifies", body);
			free(changed);
		}
		int timestamped =
		        v.scheme == WEBHOOK_STRIPE || v.scheme == WEBHOOK_SLACK || v.scheme == WEBHOOK_STANDARD;
		if (timestamped && !verify(&v, headers, body, length, NOW + 86400))
			fuzz_fail("a delivery accepted now still verifies a day later", body);
	}
	free(text);
	return 0;
}
