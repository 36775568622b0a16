/* Signature checks over the raw body bytes, one per scheme. Every comparison of a signature is
 * constant-time (portico_constant_time_equal); timestamps are checked in both directions, so a replay
 * from the past and a signature minted for the future are refused alike. */
#include "webhook_verify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "base64.h"

#define MAX_SIGNATURES 8 /* per header: senders send one per live secret, so a few */

static void to_hex(const uint8_t *bytes, size_t length, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < length; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * length] = '\0';
}

/* The HMAC of parts under each secret, encoded as hex (or base64), compared with each of the
 * given signatures. The MAC is computed once per secret, however many signatures a request
 * carries, so a long signature header costs comparisons, not hashing of the body. */
static int matches_any(const webhook_verifier *v, portico_hmac_algorithm algorithm, int base64,
                       const portico_bytes *parts, size_t part_count, char *const *given, size_t given_count)
{
	int found = 0;
	for (size_t s = 0; s < v->secret_count; s++) {
		uint8_t mac[PORTICO_HMAC_MAX_BYTES];
		size_t length =
		        portico_hmac(algorithm, v->secrets[s].bytes, v->secrets[s].length, parts, part_count, mac);
		char hex[2 * PORTICO_HMAC_MAX_BYTES + 1];
		char *encoded = base64 ? portico_base64_encode(mac, length) : (to_hex(mac, length, hex), hex);
		size_t encoded_length = strlen(encoded);
		/* Every secret and signature is tried, matched or not: timing tells nothing of which. */
		for (size_t g = 0; g < given_count; g++)
			found |= strlen(given[g]) == encoded_length &&
			         portico_constant_time_equal(encoded, given[g], encoded_length);
		if (base64)
			free(encoded);
	}
	return found;
}

static int matches(const webhook_verifier *v, portico_hmac_algorithm algorithm, int base64, const portico_bytes *parts,
                   size_t part_count, char *given)
{
	return matches_any(v, algorithm, base64, parts, part_count, &given, 1);
}

/* Hex from a sender may be upper case; the comparison is on lower case. */
static char *lower_copy(const char *text, size_t length)
{
	char *copy = portico_strndup(text, length);
	for (char *c = copy; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return copy;
}

/* Compares a hex HMAC-SHA256 (in any case) with the parts' under each secret; sets *reason. */
static int verify_hex(const webhook_verifier *v, const portico_bytes *parts, size_t part_count, const char *hex,
                      const char **reason)
{
	char *given = lower_copy(hex, strlen(hex));
	int ok = matches(v, PORTICO_HMAC_SHA256, 0, parts, part_count, given);
	free(given);
	*reason = ok ? NULL : "signature mismatch";
	return ok ? 0 : -1;
}

static int fresh(const char *timestamp, int64_t now_s, int64_t tolerance_s, const char **reason)
{
	char *end;
	long long when = timestamp ? strtoll(timestamp, &end, 10) : 0;
	if (!timestamp || !*timestamp || *end) {
		*reason = "missing or malformed timestamp";
		return 0;
	}
	if (when < now_s - tolerance_s || when > now_s + tolerance_s) {
		*reason = when < now_s ? "timestamp too old" : "timestamp in the future";
		return 0;
	}
	return 1;
}

static int verify_github(const webhook_verifier *v, request_headers headers, const portico_bytes *body,
                         const char **reason)
{
	const char *header = request_headers_get(headers, "X-Hub-Signature-256");
	if (!header || strncmp(header, "sha256=", 7)) {
		*reason = "missing X-Hub-Signature-256";
		return -1;
	}
	return verify_hex(v, body, 1, header + 7, reason);
}

static int verify_stripe(const webhook_verifier *v, request_headers headers, const portico_bytes *body, int64_t now_s,
                         const char **reason)
{
	const char *header = request_headers_get(headers, "Stripe-Signature");
	if (!header) {
		*reason = "missing Stripe-Signature";
		return -1;
	}
	char *copy = portico_strdup(header), *timestamp = NULL, *signatures[MAX_SIGNATURES];
	size_t count = 0;
	char *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*item))
			item++;
		if (!strncmp(item, "t=", 2))
			timestamp = item + 2;
		else if (!strncmp(item, "v1=", 3) && count < MAX_SIGNATURES)
			signatures[count++] = item + 3;
	}
	int ok = 0;
	if (fresh(timestamp, now_s, v->tolerance_s, reason)) {
		portico_bytes parts[] = {{timestamp, strlen(timestamp)}, {".", 1}, *body};
		for (size_t i = 0; i < count; i++)
			signatures[i] = lower_copy(signatures[i], strlen(signatures[i]));
		ok = matches_any(v, PORTICO_HMAC_SHA256, 0, parts, 3, signatures, count);
		for (size_t i = 0; i < count; i++)
			free(signatures[i]);
		*reason = ok ? NULL : "signature mismatch";
	}
	free(copy);
	return ok ? 0 : -1;
}

static int verify_slack(const webhook_verifier *v, request_headers headers, const portico_bytes *body, int64_t now_s,
                        const char **reason)
{
	const char *timestamp = request_headers_get(headers, "X-Slack-Request-Timestamp");
	const char *header = request_headers_get(headers, "X-Slack-Signature");
	if (!header || strncmp(header, "v0=", 3)) {
		*reason = "missing X-Slack-Signature";
		return -1;
	}
	if (!fresh(timestamp, now_s, v->tolerance_s, reason))
		return -1;
	portico_bytes parts[] = {{"v0:", 3}, {timestamp, strlen(timestamp)}, {":", 1}, *body};
	return verify_hex(v, parts, 4, header + 3, reason);
}

static int verify_standard(const webhook_verifier *v, request_headers headers, const portico_bytes *body, int64_t now_s,
                           const char **reason)
{
	const char *id = request_headers_get(headers, "webhook-id");
	const char *timestamp = request_headers_get(headers, "webhook-timestamp");
	const char *header = request_headers_get(headers, "webhook-signature");
	if (!id || !header) {
		*reason = "missing webhook-id or webhook-signature";
		return -1;
	}
	if (!fresh(timestamp, now_s, v->tolerance_s, reason))
		return -1;
	portico_bytes parts[] = {{id, strlen(id)}, {".", 1}, {timestamp, strlen(timestamp)}, {".", 1}, *body};
	/* "v1,<base64> v1,<base64>": any may match; other versions are skipped. */
	char *copy = portico_strdup(header), *signatures[MAX_SIGNATURES];
	size_t count = 0;
	char *save = NULL;
	for (char *item = strtok_r(copy, " ", &save); item && count < MAX_SIGNATURES; item = strtok_r(NULL, " ", &save))
		if (!strncmp(item, "v1,", 3))
			signatures[count++] = item + 3;
	int ok = matches_any(v, PORTICO_HMAC_SHA256, 1, parts, 5, signatures, count);
	free(copy);
	*reason = ok ? NULL : "signature mismatch";
	return ok ? 0 : -1;
}

static int verify_hmac(const webhook_verifier *v, request_headers headers, const portico_bytes *body,
                       const char **reason)
{
	const char *header = request_headers_get(headers, v->header);
	size_t prefix = strlen(v->prefix);
	if (!header || strncasecmp(header, v->prefix, prefix)) {
		*reason = "missing signature header";
		return -1;
	}
	char *given =
	        v->base64 ? portico_strdup(header + prefix) : lower_copy(header + prefix, strlen(header + prefix));
	int ok = matches(v, v->algorithm, v->base64, body, 1, given);
	free(given);
	*reason = ok ? NULL : "signature mismatch";
	return ok ? 0 : -1;
}

static int verify_bearer(const webhook_verifier *v, request_headers headers, const char **reason)
{
	const char *header = request_headers_get(headers, "Authorization");
	if (!header || strncasecmp(header, "Bearer ", 7)) {
		*reason = "missing bearer token";
		return -1;
	}
	const char *token = header + 7;
	size_t length = strlen(token);
	int ok = 0;
	for (size_t s = 0; s < v->secret_count; s++)
		ok |= v->secrets[s].length == length && portico_constant_time_equal(v->secrets[s].bytes, token, length);
	*reason = ok ? NULL : "wrong bearer token";
	return ok ? 0 : -1;
}

int webhook_verify(const webhook_verifier *verifier, request_headers headers, const char *body, size_t length,
                   int64_t now_s, const char **reason)
{
	portico_bytes raw = {body ? body : "", length};
	switch (verifier->scheme) {
	case WEBHOOK_GITHUB:
		return verify_github(verifier, headers, &raw, reason);
	case WEBHOOK_STRIPE:
		return verify_stripe(verifier, headers, &raw, now_s, reason);
	case WEBHOOK_SLACK:
		return verify_slack(verifier, headers, &raw, now_s, reason);
	case WEBHOOK_STANDARD:
		return verify_standard(verifier, headers, &raw, now_s, reason);
	case WEBHOOK_HMAC:
		return verify_hmac(verifier, headers, &raw, reason);
	case WEBHOOK_BEARER:
		return verify_bearer(verifier, headers, reason);
	}
	*reason = "unknown scheme";
	return -1;
}
