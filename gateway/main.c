/* portico: the HTTP gateway to Temporal. Configuration comes from the environment (README):
 * TEMPORAL_* for Temporal, PORTICO_* for the gateway. SIGTERM or SIGINT stops accepting, lets
 * requests in flight finish for up to PORTICO_SHUTDOWN_GRACE, then exits 0. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "completion_webhook.h"
#include "config.h"
#include "definition.h"
#include "delivery.h"
#include "dispatch.h"
#include "expr.h"
#include "flow_request.h"
#include "log.h"
#include "settings.h"
#include "webhook_config.h"

#define DEFAULT_LISTEN             "127.0.0.1:8080"
#define DEFAULT_THREADS            2
#define DEFAULT_MAX_BODY_BYTES     (4u * 1024 * 1024)
#define DEFAULT_MAX_CONNECTIONS    20000
#define DEFAULT_MAX_PER_CLIENT     256
#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define MAX_DURATION_MS            (60 * 60 * 1000) /* an hour: a longer timeout or grace is a typo */
#define DEFAULT_MAX_HEADER_BYTES   8192
#define DEFAULT_CALL_TIMEOUT_MS    10000
#define DEFAULT_GRACE_MS           30000
#define DEFAULT_WARN_PAYLOAD_BYTES (512u * 1024)
#define IDLE_TIMEOUT_S             120
#define DEFAULT_MAX_DELIVERIES     256
#define DEFAULT_MAX_STREAMS        10000
#define DEFAULT_SSE_HEARTBEAT_MS   15000
/* After the grace period, calls are cancelled; their answers need a moment to go out. */
#define CANCEL_DRAIN_MS 2000

/* Why the gateway does not start, said plainly to whoever started it, as the last line: not a
 * log line. */
static int fatal(const char *message)
{
	fprintf(stderr, "portico: %s\n", message);
	return 1;
}

/* A copy of a non-empty environment variable, or NULL. */
static char *env_string(const char *name)
{
	const char *value = getenv(name);
	return value && *value ? portico_strdup(value) : NULL;
}

static int load_config(gateway_config *config, portico_error *err)
{
	memset(config, 0, sizeof *config);
	const char *listen = getenv("PORTICO_LISTEN");
	config->listen = portico_strdup(listen && *listen ? listen : DEFAULT_LISTEN);
	config->cors_origins = env_string("PORTICO_CORS_ORIGINS");
	config->codec_cors_origins = env_string("PORTICO_CODEC_CORS_ORIGINS");
	config->codec_auth_token = env_string("PORTICO_CODEC_AUTH_TOKEN");
	config->flows_task_queue = env_string("PORTICO_FLOWS_TASK_QUEUE");
	if (!config->flows_task_queue)
		config->flows_task_queue = portico_strdup(FLOW_REQUEST_TASK_QUEUE);
	int64_t threads, max_body, max_payload, warn_payload, max_connections, max_header, max_per_client, max_streams;
	if (portico_settings_number("PORTICO_HTTP_THREADS", DEFAULT_THREADS, 1, 256, &threads, err) ||
	    portico_settings_number("PORTICO_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 1, 1000000, &max_connections,
	                            err) ||
	    portico_settings_number("PORTICO_MAX_CONNECTIONS_PER_CLIENT", DEFAULT_MAX_PER_CLIENT, 1, UINT_MAX,
	                            &max_per_client, err) ||
	    portico_settings_duration_ms("PORTICO_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT_MS, 100, MAX_DURATION_MS,
	                                 &config->request_timeout_ms, err) ||
	    portico_settings_number("PORTICO_MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, 1024, 1 << 20, &max_header,
	                            err) ||
	    portico_settings_number("PORTICO_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1, 1 << 30, &max_body, err) ||
	    portico_settings_duration_ms("PORTICO_CALL_TIMEOUT", DEFAULT_CALL_TIMEOUT_MS, 1, MAX_DURATION_MS,
	                                 &config->call_timeout_ms, err) ||
	    portico_settings_duration_ms("PORTICO_SHUTDOWN_GRACE", DEFAULT_GRACE_MS, 1, MAX_DURATION_MS,
	                                 &config->grace_ms, err) ||
	    portico_settings_number("PORTICO_MAX_PAYLOAD_BYTES", PORTICO_DEFAULT_MAX_PAYLOAD_BYTES, 1, 1 << 30,
	                            &max_payload, err) ||
	    portico_settings_number("PORTICO_WARN_PAYLOAD_BYTES", DEFAULT_WARN_PAYLOAD_BYTES, 1, 1 << 30, &warn_payload,
	                            err) ||
	    portico_settings_number("PORTICO_MAX_STREAMS", DEFAULT_MAX_STREAMS, 1, 1000000, &max_streams, err) ||
	    portico_settings_duration_ms("PORTICO_SSE_HEARTBEAT", DEFAULT_SSE_HEARTBEAT_MS, 1000, MAX_DURATION_MS,
	                                 &config->sse_heartbeat_ms, err))
		return -1;
	config->max_streams = (unsigned)max_streams;
	config->max_payload_bytes = (size_t)max_payload;
	config->warn_payload_bytes = (size_t)warn_payload;
	config->threads = (unsigned)threads;
	config->max_body_bytes = (size_t)max_body;
	config->max_connections = (unsigned)max_connections;
	config->max_connections_per_client = (unsigned)max_per_client;
	config->max_header_bytes = (size_t)max_header;
	return 0;
}

static void sleep_ms(int64_t ms)
{
	struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&pause, NULL);
}

/* Waits until no request is in flight or the time is up. */
static void drain(const http_server *http, int64_t limit_ms)
{
	int64_t deadline = portico_monotonic_ms() + limit_ms;
	while (http_server_in_flight(http) > 0 && portico_monotonic_ms() < deadline)
		sleep_ms(20);
}

/* PORTICO_TLS_CERT and PORTICO_TLS_KEY, read into *cert and *key (NULL when HTTPS is off). */
static int read_tls(char **cert, char **key, portico_error *err)
{
	const char *cert_path = getenv("PORTICO_TLS_CERT"), *key_path = getenv("PORTICO_TLS_KEY");
	*cert = *key = NULL;
	if ((!cert_path || !*cert_path) && (!key_path || !*key_path))
		return 0;
	if (!cert_path || !*cert_path || !key_path || !*key_path)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "HTTPS needs both PORTICO_TLS_CERT and PORTICO_TLS_KEY");
	if (portico_config_read_pem("PORTICO_TLS_CERT", cert_path, cert, err) ||
	    portico_config_read_pem("PORTICO_TLS_KEY", key_path, key, err)) {
		free(*cert);
		*cert = NULL;
		return -1;
	}
	return 0;
}

/* Completion webhooks' settings, on with PORTICO_CALLBACK_SECRET. Temporal calls back at
 * PORTICO_CALLBACK_URL, by default the address the gateway listens on (which a wildcard address
 * or port 0 is not). */
static int load_completion_webhooks(gateway *gw, portico_error *err)
{
	const char *secret = getenv("PORTICO_CALLBACK_SECRET"), *base = getenv("PORTICO_CALLBACK_URL");
	const char *tls = getenv("PORTICO_TLS_CERT");
	char fallback[300] = "";
	const char *listen = gw->config.listen, *port = strrchr(listen, ':');
	if (strncmp(listen, "0.0.0.0:", 8) && strncmp(listen, "[::]:", 5) && port && strcmp(port, ":0"))
		snprintf(fallback, sizeof fallback, "%s://%s", tls && *tls ? "https" : "http", listen);
	return completion_config_load(secret,
	                              base && *base ? base
	                              : fallback[0] ? fallback
	                                            : NULL,
	                              getenv("PORTICO_CALLBACK_ALLOWED_URLS"), &gw->completion, err);
}

/* PORTICO_FLOWS_DIR's flows, every one validated now: a bad file stops the gateway at start-up,
 * with the file and the path in it, rather than a start that fails later. No folder: no flows. */
static int load_flows(gateway *gw, portico_error *err)
{
	const char *dir = getenv("PORTICO_FLOWS_DIR");
	if (!dir || !*dir) {
		gw->flows = flow_catalog_new();
		return 0;
	}
	if (!(gw->flows = flow_catalog_load(dir, err))) {
		portico_error_prefix(err, "PORTICO_FLOWS_DIR %s", dir);
		return -1;
	}
	json_t *list = flow_catalog_list(gw->flows);
	portico_logf("info", NULL, "%zu flow(s) loaded from %s, started on task queue %s", json_array_size(list), dir,
	             gw->config.flows_task_queue);
	json_decref(list);
	return 0;
}

/* The thread that delivers completion webhooks, when they are on. */
static int start_deliveries(gateway *gw, portico_error *err)
{
	int64_t max_deliveries;
	if (!gw->completion)
		return 0;
	if (gw->config.max_header_bytes < COMPLETION_MIN_HEADER_BYTES)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "PORTICO_MAX_HEADER_BYTES: completion webhooks need at least %d (Temporal's "
		                         "callbacks carry their token in a header)",
		                         COMPLETION_MIN_HEADER_BYTES);
	if (portico_settings_number("PORTICO_CALLBACK_MAX_DELIVERIES", DEFAULT_MAX_DELIVERIES, 1, 100000,
	                            &max_deliveries, err) ||
	    !(gw->deliveries = delivery_pool_start((unsigned)max_deliveries, err)))
		return -1;
	portico_logf("info", NULL, "completion webhooks on: Temporal calls back at %s", gw->completion->callback_url);
	return 0;
}

/* SIGHUP: a renewed certificate, read again from the same files; the old one stays on failure. */
static void reload_tls(http_server *http)
{
	char *cert, *key;
	portico_error err = PORTICO_ERROR_INIT;
	if (read_tls(&cert, &key, &err) == 0 && cert && http_server_reload_tls(http, cert, key, &err) == 0)
		portico_log("info", "TLS certificate reloaded", NULL);
	else
		portico_log("error", "TLS certificate not reloaded",
		            json_pack("{s:o}", "reason", portico_log_text(err.message ? err.message : "HTTPS is off")));
	portico_error_clear(&err);
	if (key)
		memset(key, 0, strlen(key));
	free(cert);
	free(key);
}

/* The gateway takes no arguments but --help, which lists every setting it reads with its default
 * and meaning. Returns the exit status when the program ends here (0 after --help, 2 for
 * anything else), or -1 to go on. */
static int check_arguments(int argc, char **argv)
{
	static const portico_setting_help gateway_settings[] = {
	        {"PORTICO_LISTEN", DEFAULT_LISTEN, "address and port to serve HTTP (or HTTPS) on"},
	        {"PORTICO_HTTP_THREADS", "2", "threads serving HTTP"},
	        {"PORTICO_MAX_CONNECTIONS", "20000", "open connections; more wait in the listen queue"},
	        {"PORTICO_MAX_CONNECTIONS_PER_CLIENT", "256", "open connections from one address; more are closed"},
	        {"PORTICO_REQUEST_TIMEOUT", "30s", "a request's line, headers and body must arrive within it"},
	        {"PORTICO_MAX_HEADER_BYTES", "8192", "request line and headers (431, or 414 for a long URL)"},
	        {"PORTICO_MAX_BODY_BYTES", "4194304", "request bodies; larger ones get 413 before they are read"},
	        {"PORTICO_MAX_PAYLOAD_BYTES", "2097152", "one Payloads field after encoding (413 past it)"},
	        {"PORTICO_WARN_PAYLOAD_BYTES", "524288", "a payload field over this is logged as a warning"},
	        {"PORTICO_CALL_TIMEOUT", "10s", "each call to Temporal (durations: 500ms, 10s, 2m)"},
	        {"PORTICO_SHUTDOWN_GRACE", "30s", "on SIGTERM, how long requests in flight may finish"},
	        {"PORTICO_MAX_STREAMS", "10000", "open event streams (GET …/events); more get 503"},
	        {"PORTICO_SSE_HEARTBEAT", "15s", "an idle event stream gets a keep-alive comment this often"},
	        {"PORTICO_AUTH", "keys if a file", "keys, passthrough (Temporal authorizes) or off (development)"},
	        {"PORTICO_AUTH_FILE", "", "API keys, JWT verification and rate limits (JSON)"},
	        {"PORTICO_ALLOWED_HOSTS", "", "with auth off, Host names besides this machine's, comma-separated"},
	        {"PORTICO_TLS_CERT", "", "certificate file (PEM): serve HTTPS; kill -HUP reloads it"},
	        {"PORTICO_TLS_KEY", "", "its private key file (PEM)"},
	        {"PORTICO_CORS_ORIGINS", "",
	         "origins allowed by CORS, comma-separated (* for any, without credentials)"},
	        {"PORTICO_CODEC_CORS_ORIGINS", "", "origins allowed on /codec (the Web UI's), comma-separated"},
	        {"PORTICO_CODEC_AUTH_TOKEN", "", "bearer token required on /codec"},
	        {"PORTICO_WEBHOOKS_FILE", "", "webhook routes served at /webhooks/{name} (JSON)"},
	        {"PORTICO_FLOWS_DIR", "", "flows (Serverless Workflow YAML/JSON) started at …/flows/{name}"},
	        {"PORTICO_FLOWS_TASK_QUEUE", FLOW_REQUEST_TASK_QUEUE, "the task queue flows run on (portico-worker's)"},
	        {"PORTICO_CALLBACK_SECRET", "", "whsec_ secret: turns completion webhooks on, signs them"},
	        {"PORTICO_CALLBACK_URL", "http://PORTICO_LISTEN", "the URL Temporal reaches this gateway by"},
	        {"PORTICO_CALLBACK_ALLOWED_URLS", "", "completion webhook URL prefixes, comma-separated"},
	        {"PORTICO_CALLBACK_MAX_DELIVERIES", "256", "completion webhooks being delivered at once"},
	        {NULL, NULL, NULL},
	};
	if (argc < 2)
		return -1;
	if (argc > 2 || (strcmp(argv[1], "--help") && strcmp(argv[1], "-h"))) {
		fprintf(stderr,
		        "portico: unexpected argument \"%s\": settings come from the environment "
		        "(portico --help lists them)\n",
		        argv[argc > 2 && !strcmp(argv[1], "--help") ? 2 : 1]);
		return 2;
	}
	printf("usage: portico [--help]\n\n"
	       "The HTTP gateway to Temporal. Settings come from the environment:\n");
	portico_settings_print(stdout, "Gateway:", gateway_settings);
	portico_settings_print(stdout, "Flows' expressions:", flow_expr_settings);
	portico_settings_print(stdout, "Temporal:", portico_settings_temporal);
	portico_settings_print(stdout, "Payload encryption:", portico_settings_codec);
	return 0;
}

int main(int argc, char **argv)
{
	/* This program is also the sandbox that checks flows' jq expressions (flow/expr.h). */
	if (argc > 1 && !strcmp(argv[1], FLOW_EXPR_SANDBOX_ARG))
		return flow_expr_sandbox_main();
	int arguments = check_arguments(argc, argv);
	if (arguments >= 0)
		return arguments;
	gateway gw = {0};
	portico_error err = PORTICO_ERROR_INIT;
	portico_config temporal;
	if (load_config(&gw.config, &err) || portico_config_from_env(&temporal, &err) ||
	    portico_codec_from_env(&gw.codec, &err))
		return fatal(err.message);
	gw.metrics = portico_metrics_new();
	dispatch_metrics_define(gw.metrics);
	const char *webhooks_file = getenv("PORTICO_WEBHOOKS_FILE");
	if (load_completion_webhooks(&gw, &err) || load_flows(&gw, &err) ||
	    (webhooks_file && *webhooks_file &&
	     !(gw.webhooks = webhook_set_load(webhooks_file, gw.completion, gw.flows, &err))))
		return fatal(err.message);
	if (!(gw.auth = auth_config_from_env(&err)))
		return fatal(err.message);
	/* Temporal would read the gateway's key before the caller's: every caller would be the gateway. */
	if (auth_config_mode(gw.auth) == AUTH_PASSTHROUGH && temporal.api_key)
		return fatal("PORTICO_AUTH=passthrough forwards each caller's credentials to Temporal; with "
		             "TEMPORAL_API_KEY set too, Temporal would take the gateway's key for every caller: unset "
		             "one of them");
	/* The gateway evaluates expressions only to check inline definitions: the sandboxes start at
	 * the first one, not with every gateway. */
	flow_expr_options expressions;
	if (flow_expr_options_from_env(&expressions, &err))
		return fatal(err.message);
	expressions.lazy = 1;
	if (flow_expr_start(&expressions, &err))
		return fatal(err.message);

	/* Signals are taken by sigwait below; every thread started from here on inherits the mask. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	gw.transport = portico_transport_open(&temporal, &err);
	if (!gw.transport)
		return fatal(err.message);
	char *tls_cert, *tls_key;
	if (read_tls(&tls_cert, &tls_key, &err) || start_deliveries(&gw, &err))
		return fatal(err.message);
	http_server_options options = {
	        .listen = gw.config.listen,
	        .tls_cert_pem = tls_cert,
	        .tls_key_pem = tls_key,
	        .threads = gw.config.threads,
	        .max_body_bytes = gw.config.max_body_bytes,
	        .max_connections = gw.config.max_connections,
	        .max_header_bytes = gw.config.max_header_bytes,
	        .max_connections_per_client = gw.config.max_connections_per_client,
	        .request_timeout_ms = (unsigned)gw.config.request_timeout_ms,
	        .idle_timeout_s = IDLE_TIMEOUT_S,
	        .handler = dispatch_handle,
	        .completed = dispatch_log_access,
	        .arg = &gw,
	};
	gw.http = http_server_start(&options, &err);
	int https = tls_cert != NULL;
	if (tls_key)
		memset(tls_key, 0, strlen(tls_key)); /* the server keeps its own copy */
	free(tls_cert);
	free(tls_key);
	if (!gw.http)
		return fatal(err.message);
	portico_logf("info", NULL, "listening on %s (port %u, %s), Temporal at %s, namespace %s", gw.config.listen,
	             http_server_port(gw.http), https ? "HTTPS" : "HTTP", temporal.address, temporal.namespace_name);
	if (auth_config_mode(gw.auth) == AUTH_OFF)
		portico_logf("warn", NULL,
		             "AUTHENTICATION IS OFF (PORTICO_AUTH=off): anyone who reaches %s can start, signal and "
		             "terminate workflows. For local development only.",
		             gw.config.listen);
	else if (auth_config_mode(gw.auth) == AUTH_PASSTHROUGH)
		portico_log("info",
		            "PORTICO_AUTH=passthrough: Temporal authorizes every call (Authorization is forwarded)",
		            NULL);
	if (gw.codec)
		portico_logf("info", NULL, "payloads are encrypted with key \"%s\"", portico_codec_key_id(gw.codec));
	for (size_t i = 0; gw.webhooks && i < gw.webhooks->count; i++) {
		const webhook_route *route = &gw.webhooks->routes[i];
		portico_logf("info", NULL, "webhook /webhooks/%s (%s)%s", route->name,
		             webhook_scheme_name(route->verifier.scheme),
		             route->delivery_id ? "" : "; no deliveryId: a redelivery acts again");
	}

	int signal_number;
	while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP)
		reload_tls(gw.http);
	portico_logf("info", NULL, "%s: no new connections; finishing %zu request(s)", strsignal(signal_number),
	             http_server_in_flight(gw.http));
	http_server_quiesce(gw.http);
	/* Event streams never finish on their own: they end within a heartbeat, and their clients
	 * reconnect elsewhere with Last-Event-ID. */
	atomic_store(&gw.stopping, 1);
	drain(gw.http, gw.config.grace_ms);
	/* What still runs is cut off: its calls are cancelled and its requests answered 503 with
	 * Retry-After (the server gave up, not the client; a ?wait= start that did start answers 202
	 * with its run id), as are requests that still arrive on open keep-alive connections until the
	 * server stops. Waits whose client had left ended then, not here (exchange_watch_client). */
	size_t cut_off = http_server_in_flight(gw.http);
	if (cut_off)
		portico_logf("warn", NULL, "grace period over: cutting off %zu request(s)", cut_off);
	delivery_pool_stop(gw.deliveries); /* deliveries under way answer 503: Temporal tries again */
	portico_transport_shutdown(gw.transport);
	drain(gw.http, CANCEL_DRAIN_MS);
	size_t stuck = http_server_in_flight(gw.http);
	if (stuck) {
		/* Event streams whose clients stopped reading wait for them with nothing to cancel; the
		 * server cannot stop under them, so the process ends here. */
		portico_logf("warn", NULL,
		             "%zu request(s) still open (event streams whose clients stopped reading, say): exiting "
		             "without them",
		             stuck);
		_exit(0);
	}
	http_server_stop(gw.http);
	flow_expr_stop();
	delivery_pool_free(gw.deliveries);
	portico_transport_close(gw.transport);
	portico_config_free(&temporal);
	free(gw.config.listen);
	free(gw.config.cors_origins);
	free(gw.config.codec_cors_origins);
	free(gw.config.codec_auth_token);
	free(gw.config.flows_task_queue);
	portico_codec_free(gw.codec);
	webhook_set_free(gw.webhooks); /* before the catalog, whose flows its routes borrow */
	flow_catalog_free(gw.flows);
	completion_config_free(gw.completion);
	auth_config_free(gw.auth);
	portico_metrics_free(gw.metrics);
	portico_log("info", "stopped", NULL);
	return 0;
}
