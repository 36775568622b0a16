#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"

/* PEM files are small; anything past this is not a certificate. */
#define PEM_FILE_MAX (1024 * 1024)

void portico_config_set(char **field, const char *value)
{
	free(*field);
	*field = portico_strdup(value);
}

static char *default_identity(void)
{
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	return portico_sprintf("portico@%s:%ld", host, (long)getpid());
}

void portico_config_init(portico_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->address = portico_strdup(PORTICO_DEFAULT_ADDRESS);
	cfg->namespace_name = portico_strdup(PORTICO_DEFAULT_NAMESPACE);
	cfg->identity = default_identity();
}

void portico_config_free(portico_config *cfg)
{
	free(cfg->address);
	free(cfg->namespace_name);
	free(cfg->api_key);
	free(cfg->tls_ca_pem);
	free(cfg->tls_cert_pem);
	free(cfg->tls_key_pem);
	free(cfg->tls_server_name);
	free(cfg->identity);
	memset(cfg, 0, sizeof *cfg);
}

/* Returns the value of the first of the variables that is set and not empty, and its name. */
static const char *env_first(const char *const *names, const char **which)
{
	for (; *names; names++) {
		const char *value = getenv(*names);
		if (value && *value) {
			*which = *names;
			return value;
		}
	}
	return NULL;
}

int portico_config_read_pem(const char *variable, const char *path, char **out, portico_error *err)
{
	FILE *file = fopen(path, "rb");
	if (!file)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: cannot open %s: %s", variable, path,
		                         strerror(errno));
	char *pem = portico_malloc(PEM_FILE_MAX + 1);
	size_t length = fread(pem, 1, PEM_FILE_MAX + 1, file);
	int failed = ferror(file);
	fclose(file);
	if (failed || length > PEM_FILE_MAX || length == 0) {
		free(pem);
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: %s is %s", variable, path,
		                         failed   ? "unreadable"
		                         : length ? "larger than 1 MiB"
		                                  : "empty");
	}
	pem[length] = '\0';
	*out = pem;
	return 0;
}

/* Loads one piece of PEM material from a path variable or an inline-data variable. */
static int load_pem(const char *const *path_names, const char *const *data_names, char **out, portico_error *err)
{
	const char *which = NULL;
	const char *data = env_first(data_names, &which);
	if (data) {
		*out = portico_strdup(data);
		return 0;
	}
	const char *path = env_first(path_names, &which);
	return path ? portico_config_read_pem(which, path, out, err) : 0;
}

static int parse_bool(const char *variable, const char *value, int *out, portico_error *err)
{
	if (!strcasecmp(value, "true") || !strcmp(value, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(value, "false") || !strcmp(value, "0")) {
		*out = 0;
		return 0;
	}
	return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s: expected true or false, got \"%s\"", variable,
	                         value);
}

static int load_tls(portico_config *cfg, portico_error *err)
{
	static const char *const ca_paths[] = {"TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", NULL};
	static const char *const ca_data[] = {"TEMPORAL_TLS_CA_DATA", "TEMPORAL_TLS_SERVER_CA_CERT_DATA", NULL};
	static const char *const cert_paths[] = {"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_CERT_PATH", NULL};
	static const char *const cert_data[] = {"TEMPORAL_TLS_CERT_DATA", "TEMPORAL_TLS_CLIENT_CERT_DATA", NULL};
	static const char *const key_paths[] = {"TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_KEY_PATH", NULL};
	static const char *const key_data[] = {"TEMPORAL_TLS_KEY_DATA", "TEMPORAL_TLS_CLIENT_KEY_DATA", NULL};

	if (load_pem(ca_paths, ca_data, &cfg->tls_ca_pem, err) ||
	    load_pem(cert_paths, cert_data, &cfg->tls_cert_pem, err) ||
	    load_pem(key_paths, key_data, &cfg->tls_key_pem, err))
		return -1;
	if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: mTLS needs both the "
		                         "client certificate and its key");
	const char *server_name = getenv("TEMPORAL_TLS_SERVER_NAME");
	if (server_name && *server_name)
		portico_config_set(&cfg->tls_server_name, server_name);

	const char *explicit_tls = getenv("TEMPORAL_TLS");
	if (explicit_tls && *explicit_tls)
		return parse_bool("TEMPORAL_TLS", explicit_tls, &cfg->tls, err);
	cfg->tls = cfg->api_key || cfg->tls_ca_pem || cfg->tls_cert_pem || cfg->tls_server_name;
	return 0;
}

int portico_config_from_env(portico_config *cfg, portico_error *err)
{
	portico_config_init(cfg);
	const char *value;
	if ((value = getenv("TEMPORAL_ADDRESS")) && *value)
		portico_config_set(&cfg->address, value);
	if ((value = getenv("TEMPORAL_NAMESPACE")) && *value)
		portico_config_set(&cfg->namespace_name, value);
	if ((value = getenv("TEMPORAL_API_KEY")) && *value)
		portico_config_set(&cfg->api_key, value);
	if ((value = getenv("PORTICO_IDENTITY")) && *value)
		portico_config_set(&cfg->identity, value);
	if (!strchr(cfg->address, ':')) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "TEMPORAL_ADDRESS: expected host:port, got \"%s\"",
		                  cfg->address);
		portico_config_free(cfg);
		return -1;
	}
	if (load_tls(cfg, err)) {
		portico_config_free(cfg);
		return -1;
	}
	return 0;
}
