/* portico-worker: runs Portico's built-in activities (http.request) and C activities from
 * shared objects (--activities lib.so, repeatable: each exports
 * `void portico_register_activities(portico_worker *)`) on PORTICO_TASK_QUEUE (default "portico")
 * for workflows written with any Temporal SDK. Same TEMPORAL_* environment as the gateway, same
 * PORTICO_CODEC_* keys. SIGTERM or SIGINT stops it gracefully: activities in flight get
 * PORTICO_WORKER_GRACE_SECONDS (30) to finish. */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alloc.h"
#include "client.h"
#include "codec.h"
#include "config.h"
#include "http.h"
#include "http_request.h"
#include "worker.h"

#define DEFAULT_TASK_QUEUE "portico"
#define REGISTER_SYMBOL    "portico_register_activities"

typedef void (*register_fn)(portico_worker *worker);

/* Loads each --activities library and lets it register its activities. The libraries stay
 * loaded for the life of the process. */
static int load_activity_libraries(portico_worker *worker, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--activities") || i + 1 == argc) {
			fprintf(stderr, "portico-worker: usage: portico-worker [--activities lib.so]...\n");
			return -1;
		}
		const char *path = argv[++i];
		void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!library) {
			fprintf(stderr, "portico-worker: cannot load %s: %s\n", path, dlerror());
			return -1;
		}
		register_fn register_activities = (register_fn)(uintptr_t)dlsym(library, REGISTER_SYMBOL);
		if (!register_activities) {
			fprintf(stderr, "portico-worker: %s has no %s function\n", path, REGISTER_SYMBOL);
			return -1;
		}
		register_activities(worker);
	}
	return 0;
}

static int fatal(const char *message)
{
	fprintf(stderr, "portico-worker: %s\n", message);
	return 1;
}

typedef struct metrics_endpoint {
	portico_worker *worker;
	portico_metrics *metrics;
} metrics_endpoint;

/* GET /metrics on PORTICO_WORKER_METRICS_LISTEN: the worker's counters for Prometheus. */
static void serve_metrics(void *arg, http_request *request)
{
	metrics_endpoint *endpoint = arg;
	if (strcmp(http_request_path(request), "/metrics")) {
		http_respond(request, 404, "text/plain", portico_strdup("not found\n"), strlen("not found\n"));
		return;
	}
	portico_worker_metrics_update(endpoint->worker, endpoint->metrics);
	size_t length;
	char *text = portico_metrics_render(endpoint->metrics, &length);
	http_respond(request, 200, "text/plain; version=0.0.4; charset=utf-8", text, length);
}

static long env_number(const char *name, long fallback)
{
	const char *text = getenv(name);
	return text && *text ? strtol(text, NULL, 10) : fallback;
}

int main(int argc, char **argv)
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
	portico_metrics *metrics = portico_metrics_new();
	portico_worker_metrics_define(metrics);
	portico_worker_options options = {
	        .task_queue = queue && *queue ? queue : DEFAULT_TASK_QUEUE,
	        .max_concurrent = (unsigned)env_number("PORTICO_WORKER_MAX_CONCURRENT", 0),
	        .threads = (unsigned)env_number("PORTICO_WORKER_THREADS", 0),
	        .grace_ms = (int64_t)env_number("PORTICO_WORKER_GRACE_SECONDS", -1) * 1000,
	        .codec = codec,
	        .metrics = metrics,
	};
	portico_worker *worker = portico_worker_new(client, &options);
	http_request_client *http = http_request_client_new();
	portico_worker_register_loop(worker, HTTP_REQUEST_ACTIVITY, http_request_activity, http);
	if (load_activity_libraries(worker, argc, argv))
		return 1;
	if (portico_worker_start(worker, &err))
		return fatal(err.message);
	metrics_endpoint endpoint = {worker, metrics};
	http_server *metrics_server = NULL;
	const char *metrics_listen = getenv("PORTICO_WORKER_METRICS_LISTEN");
	if (metrics_listen && *metrics_listen) {
		http_server_options http_options = {.listen = metrics_listen,
		                                    .threads = 1,
		                                    .max_body_bytes = 1024,
		                                    .idle_timeout_s = 30,
		                                    .handler = serve_metrics,
		                                    .arg = &endpoint};
		if (!(metrics_server = http_server_start(&http_options, &err)))
			return fatal(err.message);
		fprintf(stderr, "portico-worker: metrics on http://%s/metrics (port %u)\n", metrics_listen,
		        http_server_port(metrics_server));
	}
	fprintf(stderr, "portico-worker: polling task queue \"%s\" at %s (namespace %s)%s\n", options.task_queue,
	        cfg.address, cfg.namespace_name, codec ? ", payloads encrypted" : "");

	int signal_number;
	sigwait(&stop_signals, &signal_number);
	fprintf(stderr, "portico-worker: %s: finishing activities in flight\n", strsignal(signal_number));
	if (metrics_server)
		http_server_stop(metrics_server);
	int stuck = portico_worker_shutdown(worker);
	portico_worker_stats stats;
	portico_worker_get_stats(worker, &stats);
	fprintf(stderr,
	        "{\"level\":\"info\",\"message\":\"worker totals\",\"polls\":%llu,\"tasks\":%llu,\"completed\":%llu,"
	        "\"failed\":%llu,\"canceled\":%llu,\"runMs\":%llu}\n",
	        (unsigned long long)stats.polls, (unsigned long long)stats.tasks, (unsigned long long)stats.completed,
	        (unsigned long long)stats.failed, (unsigned long long)stats.canceled,
	        (unsigned long long)stats.run_ms_total);
	if (stuck) {
		/* An activity ignored its cancellation; its task is answered, and it may still use the
		 * worker's memory, so none of it is freed. */
		fprintf(stderr, "portico-worker: stopped, leaving an activity that would not stop\n");
		fflush(stderr);
		_exit(0);
	}
	http_request_client_free(http);
	portico_worker_free(worker);
	portico_metrics_free(metrics);
	portico_client_close(client);
	portico_codec_free(codec);
	portico_config_free(&cfg);
	curl_global_cleanup();
	fprintf(stderr, "portico-worker: stopped\n");
	return 0;
}
