/* portico-worker: runs Portico's built-in activities (http.request) on PORTICO_TASK_QUEUE
 * (default "portico") for workflows written with any Temporal SDK. Same TEMPORAL_* environment
 * as the gateway, same PORTICO_CODEC_* keys. SIGTERM or SIGINT stops it gracefully: activities
 * in flight get PORTICO_WORKER_GRACE (30 s) to finish. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "codec.h"
#include "config.h"
#include "http_request.h"
#include "worker.h"

#define DEFAULT_TASK_QUEUE "portico"

static int fatal(const char *message)
{
	fprintf(stderr, "portico-worker: %s\n", message);
	return 1;
}

static unsigned env_unsigned(const char *name, unsigned fallback)
{
	const char *text = getenv(name);
	return text && *text ? (unsigned)strtoul(text, NULL, 10) : fallback;
}

int main(void)
{
	portico_error err = PORTICO_ERROR_INIT;
	portico_config cfg;
	portico_codec *codec = NULL;
	if (portico_config_from_env(&cfg, &err) || portico_codec_from_env(&codec, &err))
		return fatal(err.message);
	const char *queue = getenv("PORTICO_TASK_QUEUE");

	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	portico_client *client = portico_client_open(&cfg, &err);
	if (!client)
		return fatal(err.message);
	portico_worker_options options = {
		.task_queue = queue && *queue ? queue : DEFAULT_TASK_QUEUE,
		.max_concurrent = env_unsigned("PORTICO_WORKER_MAX_CONCURRENT", 0),
		.grace_ms = (int64_t)env_unsigned("PORTICO_WORKER_GRACE_SECONDS", 0) * 1000,
		.codec = codec,
	};
	portico_worker *worker = portico_worker_new(client, &options);
	portico_worker_register(worker, HTTP_REQUEST_ACTIVITY, http_request_activity, NULL);
	if (portico_worker_start(worker, &err))
		return fatal(err.message);
	fprintf(stderr, "portico-worker: polling task queue \"%s\" at %s (namespace %s)%s\n", options.task_queue,
		cfg.address, cfg.namespace_name, codec ? ", payloads encrypted" : "");

	int signal_number;
	sigwait(&stop_signals, &signal_number);
	fprintf(stderr, "portico-worker: %s: finishing activities in flight\n", strsignal(signal_number));
	portico_worker_shutdown(worker);
	portico_worker_free(worker);
	portico_client_close(client);
	portico_codec_free(codec);
	portico_config_free(&cfg);
	curl_global_cleanup();
	fprintf(stderr, "portico-worker: stopped\n");
	return 0;
}
