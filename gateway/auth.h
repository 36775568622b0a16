/* Who may call the gateway, and how often. PORTICO_AUTH selects the mode:
 *   keys         API keys from PORTICO_AUTH_FILE (the default when that file is set);
 *   passthrough  the gateway checks nothing and forwards Authorization to Temporal, for servers
 *                that run their own authorizer;
 *   off          nobody is checked: development only, announced loudly at start-up.
 * With neither a file nor a mode the gateway refuses to start.
 *
 * The file (JSON):
 *   {"apiKeys": [{"name": "ci", "sha256": "<hex SHA-256 of the key>",
 *                 "namespaces": ["default"],            ("*" for all)
 *                 "permissions": ["read", "start"],     (read, start, signal, cancel,
 *                                                        activities, codec, admin)
 *                 "rateLimit": {"perSecond": 20, "burst": 40}}],
 *    "jwt": {"jwksFile": "/etc/portico/jwks.json" or "pemFiles": ["key.pem"],
 *            "issuer": "https://login.example", "audience": "portico",
 *            "namespacesClaim": "namespaces", "permissionsClaim": "permissions",
 *            "leewaySeconds": 30},
 *    "rateLimit": {"perSecond": 500, "burst": 1000}}   (all callers together)
 * Keys arrive as `Authorization: Bearer <key>` or `X-API-Key: <key>`; only their hashes are
 * kept, and compared in constant time. JWTs (RS256 or ES256) arrive as bearer tokens; exp, nbf,
 * iss and aud are checked, and the two claims give the namespaces and permissions. */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "request_headers.h"

typedef enum { AUTH_KEYS, AUTH_PASSTHROUGH, AUTH_OFF } auth_mode;

/* What an operation needs; an API key holds a set of these. gateway/permissions.tsv says what
 * each WorkflowService method needs, permission.c what a request's fields add. */
typedef enum {
	PERMISSION_READ = 1 << 0,       /* GET routes, queries, results, docs, metrics */
	PERMISSION_START = 1 << 1,      /* start (signal-with-start needs signal too), schedules */
	PERMISSION_SIGNAL = 1 << 2,     /* signal */
	PERMISSION_CANCEL = 1 << 3,     /* cancel, terminate, reset, and starts whose policy terminates */
	PERMISSION_ACTIVITIES = 1 << 4, /* complete, fail, heartbeat, pause activities */
	PERMISSION_CODEC = 1 << 5,      /* the codec endpoint */
	PERMISSION_ADMIN = 1 << 6,      /* everything in its namespaces */
	PERMISSION_UPDATE = 1 << 7,     /* update */
	PERMISSION_CLUSTER = 1 << 8,    /* across namespaces: register namespaces, cluster info (not in admin) */
} auth_permission;

#define AUTH_PERMISSION_BITS 9

typedef struct auth_config auth_config;

/* The caller as authenticated (zeroed when auth is off or passthrough); auth_caller_clear frees
 * what a JWT brought. */
typedef struct auth_caller {
	const void *key;      /* the API key, or NULL */
	char *subject;        /* a JWT's "sub" (owned), or NULL */
	unsigned permissions; /* a JWT's */
	json_t *namespaces;   /* a JWT's namespaces claim (a reference), or NULL */
} auth_caller;

void auth_caller_clear(auth_caller *caller);

/* Reads PORTICO_AUTH and PORTICO_AUTH_FILE. NULL with err when they are missing or wrong (the
 * message names the key and field, never a hash). Free with auth_config_free. */
auth_config *auth_config_from_env(portico_error *err);
void auth_config_free(auth_config *config);
auth_mode auth_config_mode(const auth_config *config);

/* Checks the credentials in a request's headers (Authorization, X-API-Key). Returns 0 and fills
 * caller, or -1 with err: UNAUTHENTICATED (401) for missing or unknown credentials. */
int auth_authenticate(const auth_config *config, request_headers headers, auth_caller *caller, portico_error *err);

/* Checks that the caller holds every permission in required (auth_permission bits; admin stands
 * for all but cluster) and may use namespace_name (NULL when the operation names none). reason,
 * when not NULL, says in the 403 why the permission is needed. Returns 0, or -1 with err:
 * PERMISSION_DENIED (403). */
int auth_check(const auth_config *config, const auth_caller *caller, unsigned required, const char *namespace_name,
               const char *reason, portico_error *err);

/* Takes a token from the caller's and the global rate limit. Returns 0, or -1 with err:
 * RESOURCE_EXHAUSTED (429) with *retry_after_s set. */
int auth_take_token(auth_config *config, const auth_caller *caller, int64_t *retry_after_s, portico_error *err);

/* Whether name (length bytes) is one of the comma-separated items of list (NULL for none), case
 * aside: the allowed hosts and origins. */
int auth_list_has(const char *list, const char *name, size_t length);

/* With authentication off, whether a request's Host header (NULL when it sent none) names this
 * machine: localhost, 127.0.0.1, ::1, the address in listen ("host:port"), or a name in
 * PORTICO_ALLOWED_HOSTS. A page on another site whose name was made to resolve to 127.0.0.1 (DNS
 * rebinding) sends its own name and is refused. Always 1 when credentials are checked. */
int auth_host_allowed(const auth_config *config, const char *host, const char *listen);

/* Whether the caller may see namespace_name: lists of namespaces are cut to these. */
int auth_allows_namespace(const auth_config *config, const auth_caller *caller, const char *namespace_name);

#endif
