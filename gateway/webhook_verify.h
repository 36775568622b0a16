/* Webhook signatures: each scheme a sender signs with (GitHub, Stripe, Slack, Standard Webhooks, a
 * configured HMAC, a bearer secret), checked over the raw body in constant time, with rotation
 * (any of several secrets) and a tolerance for timestamped schemes. */
#ifndef GATEWAY_WEBHOOK_VERIFY_H
#define GATEWAY_WEBHOOK_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "request_headers.h"

typedef enum {
	WEBHOOK_GITHUB,   /* X-Hub-Signature-256: sha256=<hex> over the body */
	WEBHOOK_STRIPE,   /* Stripe-Signature: t=<unix>,v1=<hex>… over "<t>.<body>" */
	WEBHOOK_SLACK,    /* X-Slack-Signature: v0=<hex> over "v0:<X-Slack-Request-Timestamp>:<body>" */
	WEBHOOK_STANDARD, /* Standard Webhooks: webhook-signature: v1,<base64>… over "<id>.<ts>.<body>" */
	WEBHOOK_HMAC,     /* a configured header, prefix, digest and encoding over the body */
	WEBHOOK_BEARER,   /* Authorization: Bearer <secret> */
} webhook_scheme;

typedef struct webhook_secret {
	uint8_t *bytes;
	size_t length;
} webhook_secret;

typedef struct webhook_verifier {
	webhook_scheme scheme;
	webhook_secret *secrets; /* any of them may sign: rotation */
	size_t secret_count;
	int64_t tolerance_s; /* for timestamped schemes */
	/* WEBHOOK_HMAC: */
	char *header;
	char *prefix; /* "" for none */
	portico_hmac_algorithm algorithm;
	int base64; /* else hex */
} webhook_verifier;

/* 0 when the delivery (headers and the raw body) is signed by one of the route's secrets (and,
 * when timestamped, within the tolerance of now_s); -1 otherwise, with *reason for the log (never
 * a secret). */
int webhook_verify(const webhook_verifier *verifier, request_headers headers, const char *body, size_t length,
                   int64_t now_s, const char **reason);

#endif
