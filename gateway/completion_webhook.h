/* Completion webhooks: a start may ask Portico to POST the workflow's outcome to a URL of the
 * caller's when the workflow closes. Portico keeps no state for it. It attaches to the start one of
 * Temporal's completion callbacks (Callback.nexus) pointing at Portico's own endpoint
 * (completion_callback.h) with a sealed token in a header: AES-256-GCM under a key derived from
 * PORTICO_CALLBACK_SECRET, naming the namespace, the workflow id, the target URL and its headers.
 * Temporal keeps the callback with the run and calls it when the run (or the last run it continues
 * as) closes, retrying durably until it is answered 2xx; the endpoint opens the token and delivers
 * the outcome to the target, signed as Standard Webhooks say.
 *
 * Targets are checked twice: here when the start is asked (a URL of http(s) with no user
 * information; under a prefix of PORTICO_CALLBACK_ALLOWED_URLS when that is set; https and not a
 * loopback or private address unless listed there), and by the delivery against the address it
 * actually connects to (completion_address_public), so a name that resolves to this machine's
 * neighbours is refused too.
 *
 * This module is pure: configuration, targets, tokens, signatures, Temporal's link header. */
#ifndef GATEWAY_COMPLETION_WEBHOOK_H
#define GATEWAY_COMPLETION_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "crypto.h"
#include "error.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

/* Where Temporal calls Portico back, under PORTICO_CALLBACK_URL, and the header with the token. */
#define COMPLETION_CALLBACK_PATH "/callbacks/completion"
#define COMPLETION_TOKEN_HEADER  "Portico-Callback-Token"
#define COMPLETION_MAX_URL_BYTES 2048
#define COMPLETION_MAX_HEADERS   16
/* Temporal sends the token back in a header, beside its Nexus-Link (which repeats the escaped
 * workflow id, up to 1000 bytes before escaping): within the gateway's own 8 KiB of request headers
 * (COMPLETION_MIN_HEADER_BYTES), with room for them. */
#define COMPLETION_MAX_TOKEN_BYTES  4096
#define COMPLETION_MIN_HEADER_BYTES 8192

typedef struct completion_config {
	uint8_t *secret; /* the whsec_ secret's bytes: signs deliveries */
	size_t secret_length;
	uint8_t token_key[PORTICO_AES_GCM_KEY_BYTES]; /* seals tokens: derived from the secret */
	char *callback_url;                           /* PORTICO_CALLBACK_URL + COMPLETION_CALLBACK_PATH */
	char **allowed;                               /* PORTICO_CALLBACK_ALLOWED_URLS: prefixes */
	size_t allowed_count;
} completion_config;

/* Reads the settings (secret: "whsec_" + base64; callback_base: the URL Temporal reaches this
 * gateway by, e.g. "http://127.0.0.1:8080"; allowed: comma-separated URL prefixes, or NULL).
 * Without a secret completion webhooks are off: 0 with *out NULL. -1 with err naming the setting
 * when one is malformed. Free with completion_config_free. */
int completion_config_load(const char *secret, const char *callback_base, const char *allowed, completion_config **out,
                           portico_error *err);
void completion_config_free(completion_config *config);

/* Where one workflow's outcome goes. */
typedef struct completion_target {
	char *url;
	json_t *headers; /* {name: value} sent with the delivery (owned; an empty object for none) */
	int listed;      /* under an allowed prefix: any address and http are fine */
} completion_target;

/* Reads a start's "completionWebhook": "https://…" or {"url": "https://…", "headers": {…}}.
 * 0, or -1 with err (INVALID_ARGUMENT, for the caller) when the target is malformed, too large,
 * sets a header Portico sets itself, or is not allowed. Clear with completion_target_clear, also
 * after a failure. */
int completion_target_parse(const completion_config *config, const json_t *value, completion_target *out,
                            portico_error *err);
void completion_target_clear(completion_target *target);

/* Portico's completion callback for target, its token binding namespace_name, workflow_id and
 * target (the caller frees it with protobuf_c_message_free_unpacked). NULL with err
 * (INVALID_ARGUMENT) when the token would be longer than COMPLETION_MAX_TOKEN_BYTES (headers near
 * their bounds, a long workflow id): completion_token_open would refuse it, and the outcome would
 * never be delivered. */
Temporal__Api__Common__V1__Callback *completion_webhook_callback(const completion_config *config,
                                                                 const char *namespace_name, const char *workflow_id,
                                                                 const completion_target *target, portico_error *err);

/* Adds that callback to a decoded start request (which owns it then). With the conflict policy
 * USE_EXISTING it is attached to the running workflow the start finds, too (on_conflict_options),
 * so the caller hears of the run either way. 0, or -1 with err and start unchanged as above. */
int completion_webhook_attach(const completion_config *config, const char *namespace_name,
                              const completion_target *target,
                              Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start,
                              portico_error *err);

/* What a token binds: the workflow and where its outcome goes. */
typedef struct completion_binding {
	char *namespace_name;
	char *workflow_id;
	completion_target target;
} completion_binding;

/* The token for a callback (base64url text the caller frees): sealed, so only this gateway (or
 * one with the same secret) can make or read it, and nobody can change what it binds. */
char *completion_token_seal(const completion_config *config, const char *namespace_name, const char *workflow_id,
                            const completion_target *target);
/* Opens a token: 0 with out filled (clear it with completion_binding_clear), -1 for anything not
 * sealed by completion_token_seal under this secret. */
int completion_token_open(const completion_config *config, const char *token, completion_binding *out);
void completion_binding_clear(completion_binding *binding);

/* The Standard Webhooks signature header value of a delivery: "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" (the caller frees it). */
char *completion_signature(const completion_config *config, const char *message_id, int64_t timestamp_s,
                           const char *body, size_t length);

/* The run id in Temporal's Nexus-Link header of a callback, when it links to a workflow event of
 * namespace_name and workflow_id ("<temporal:///namespaces/NS/workflows/ID/RUN/history?…>;
 * type=…"): a new string the caller frees, or NULL. */
char *completion_link_run_id(const char *link, const char *namespace_name, const char *workflow_id);

/* 1 when address (IPv4 or IPv6, mapped forms unwrapped) is public: not loopback, private,
 * link-local, shared, multicast, reserved or unspecified. */
int completion_address_public(const struct sockaddr *address);

#endif
