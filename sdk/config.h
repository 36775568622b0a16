/* Where and how to reach Temporal, read from the same environment variables Temporal's CLI
 * uses, so one shell environment drives `temporal`, the gateway and the worker alike:
 *   TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_API_KEY,
 *   TEMPORAL_TLS (true/false), TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY (file paths;
 *   the CLI's newer TEMPORAL_TLS_SERVER_CA_CERT_PATH, …_CLIENT_CERT_PATH, …_CLIENT_KEY_PATH and the
 *   *_DATA variants with inline PEM are accepted too), TEMPORAL_TLS_SERVER_NAME. */
#ifndef PORTICO_CONFIG_H
#define PORTICO_CONFIG_H

#include "error.h"

#define PORTICO_DEFAULT_ADDRESS   "127.0.0.1:7233"
#define PORTICO_DEFAULT_NAMESPACE "default"

/* Every string is owned by the config and freed by portico_config_free. */
typedef struct portico_config {
	char *address;
	char *namespace_name;
	char *api_key;         /* sent as "authorization: Bearer <key>"; NULL for none */
	int tls;               /* nonzero: TLS to Temporal (implied by an API key or TLS material) */
	char *tls_ca_pem;      /* server CA bundle; NULL trusts the system roots */
	char *tls_cert_pem;    /* client certificate for mTLS; NULL for none */
	char *tls_key_pem;     /* its private key */
	char *tls_server_name; /* overrides the name checked against the server certificate */
	char *identity;        /* who we are in Temporal's history: "portico@<host>:<pid>" by default */
} portico_config;

/* Fills cfg with the defaults above. */
void portico_config_init(portico_config *cfg);

/* Fills cfg from the environment (defaults for what is unset) and reads the PEM files it names.
 * Returns -1 with err naming the variable on a bad value or an unreadable file; cfg then holds
 * nothing to free. */
int portico_config_from_env(portico_config *cfg, portico_error *err);

/* Replaces *field with a copy of value. */
void portico_config_set(char **field, const char *value);

void portico_config_free(portico_config *cfg);

/* Reads PEM material (up to 1 MiB) from path into *out (the caller frees); variable names the
 * setting in the error. */
int portico_config_read_pem(const char *variable, const char *path, char **out, portico_error *err);

#endif
