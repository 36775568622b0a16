/* portico-worker: runs Portico's built-in activities (http.request) and C activities from
 * shared objects (--activities lib.so, repeatable: each exports
 * `void portico_register_activities(portico_worker *)`) on PORTICO_TASK_QUEUE (default "portico")
 * for workflows written with any Temporal SDK, and C workflows from shared objects (--workflows
 * lib.so, repeatable: each exports `void portico_register_workflows(portico_worker *)`, and may
 * export portico_register_activities too). Flows (Serverless Workflow documents, flow/) run on it
 * too, as its dynamic workflow: inline ones always, and those of --flows DIR (or
 * PORTICO_FLOWS_DIR) by name when a flow runs another. Same TEMPORAL_* environment as the gateway, same
 * PORTICO_CODEC_* keys; `portico-worker --help` lists every setting. SIGTERM or SIGINT stops it
 * gracefully: activities in flight get PORTICO_WORKER_GRACE_SECONDS (30) to finish. */
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
#include "definition.h"
#include "expr.h"
#include "http.h"
#include "http_request.h"
#include "interpreter.h"
#include "json_text.h"
#include "log.h"
#include "metrics.h"
#include "replay.h"
#include "settings.h"
#include "worker.h"

#define DEFAULT_TASK_QUEUE  "portico"
#define REGISTER_ACTIVITIES "portico_register_activities"
#define REGISTER_WORKFLOWS  "portico_register_workflows"
/* Bounds that keep a typo from asking for a million threads. */
#define MAX_CONCURRENT_LIMIT   100000
#define THREADS_LIMIT          1024
#define GRACE_LIMIT_MS         (3600 * 1000LL)
#define POLLERS_LIMIT          64
#define WORKFLOW_POLLERS_LIMIT 64
#define WORKFLOW_CACHE_LIMIT   1000000
#define WORKFLOW_STACK_KB_MIN  32 /* below this, a workflow's first calls overflow it */
#define WORKFLOW_STACK_KB_MAX  65536
/* Exit statuses: a bad setting or argument is the operator's to fix, unlike a failure at run time. */
#define EXIT_FAILED 1
#define EXIT_USAGE  2

static const portico_setting_help worker_settings[] = {
        {"PORTICO_TASK_QUEUE", DEFAULT_TASK_QUEUE, "the task queue polled for activity tasks"},
        {"PORTICO_WORKER_MAX_CONCURRENT", "20", "activities running at once (1 to 100000)"},
        {"PORTICO_WORKER_THREADS", "max concurrent", "threads running thread-pool activities (1 to 1024)"},
        {"PORTICO_WORKER_POLLERS", "2",
         "long polls for activity tasks at once (1 to 64; with twice the workflow pollers, 100 at most)"},
        {"PORTICO_WORKER_GRACE_SECONDS", "30", "on SIGTERM, how long activities in flight may finish (up to 1 h)"},
        {"PORTICO_WORKER_METRICS_LISTEN", "off", "host:port serving /metrics, /healthz and /readyz"},
        {"PORTICO_WORKFLOW_POLLERS", "5", "threads polling and running workflow tasks, per queue (1 to 64; see above)"},
        {"PORTICO_WORKFLOW_CACHE", "1000", "workflow runs kept in memory between their tasks (1 to 1000000)"},
        {"PORTICO_WORKFLOW_STACK_KB", "256", "stack of each workflow coroutine, in KiB (32 to 65536)"},
        {"PORTICO_FLOWS_DIR", "", "the folder of flows (--flows) a flow's `run: workflow` finds its child in"},
        {NULL, NULL, NULL},
};

static void print_help(FILE *out)
{
	fprintf(out, "usage: portico-worker [--activities lib.so]... [--workflows lib.so]... [--flows DIR] [--help]\n\n"
	             "Runs Portico's http.request and the activities of each --activities library (a shared\n"
	             "object exporting portico_register_activities) for workflows in any Temporal SDK, and\n"
	             "the C workflows of each --workflows library (exporting portico_register_workflows,\n"
	             "and portico_register_activities if it has activities too). Flows (Serverless Workflow\n"
	             "1.0) run as the dynamic workflow; --flows DIR (or PORTICO_FLOWS_DIR) loads the flows\n"
	             "that flows run by name (`run: workflow`), every one validated at start-up.\n"
	             "Settings come from the environment:\n");
	portico_settings_print(out, "Worker:", worker_settings);
	portico_settings_print(out, "Flows' expressions:", flow_expr_settings);
	portico_settings_print(out, "Temporal:", portico_settings_temporal);
	portico_settings_print(out, "Payload encryption:", portico_settings_codec);
}

typedef struct worker_settings_values {
	const char *task_queue;
	int64_t max_concurrent, threads, pollers, grace_ms;
	int64_t workflow_pollers, workflow_cache, workflow_stack_kb;
	const char *metrics_listen; /* NULL for none */
	flow_expr_options expressions;
} worker_settings_values;

static int load_settings(worker_settings_values *values, portico_error *err)
{
	const char *queue = getenv("PORTICO_TASK_QUEUE");
	values->task_queue = queue && *queue ? queue : DEFAULT_TASK_QUEUE;
	const char *listen = getenv("PORTICO_WORKER_METRICS_LISTEN");
	values->metrics_listen = listen && *listen ? listen : NULL;
	if (portico_settings_number("PORTICO_WORKER_MAX_CONCURRENT", PORTICO_WORKER_DEFAULT_MAX_CONCURRENT, 1,
	                            MAX_CONCURRENT_LIMIT, &values->max_concurrent, err) ||
	    portico_settings_number("PORTICO_WORKER_THREADS", 0, 1, THREADS_LIMIT, &values->threads, err) ||
	    portico_settings_number("PORTICO_WORKER_POLLERS", 2, 1, POLLERS_LIMIT, &values->pollers, err) ||
	    portico_settings_duration_ms("PORTICO_WORKER_GRACE_SECONDS", PORTICO_WORKER_DEFAULT_GRACE_MS, 0,
	                                 GRACE_LIMIT_MS, &values->grace_ms, err) ||
	    portico_settings_number("PORTICO_WORKFLOW_POLLERS", 5, 1, WORKFLOW_POLLERS_LIMIT, &values->workflow_pollers,
	                            err) ||
	    portico_settings_number("PORTICO_WORKFLOW_CACHE", PORTICO_WORKER_DEFAULT_WORKFLOW_CACHE, 1,
	                            WORKFLOW_CACHE_LIMIT, &values->workflow_cache, err) ||
	    portico_settings_number("PORTICO_WORKFLOW_STACK_KB", 256, WORKFLOW_STACK_KB_MIN, WORKFLOW_STACK_KB_MAX,
	                            &values->workflow_stack_kb, err) ||
	    flow_expr_options_from_env(&values->expressions, err))
		return -1;
	/* Refused here, before anything starts, by the SDK's own rule: flows always run as the
	 * dynamic workflow and the HTTP activity is always there, so both kinds of pollers poll. */
	if (portico_worker_check_long_polls((unsigned)values->pollers, (unsigned)values->workflow_pollers, err)) {
		portico_error_prefix(err, "PORTICO_WORKER_POLLERS (%lld) and PORTICO_WORKFLOW_POLLERS (%lld)",
		                     (long long)values->pollers, (long long)values->workflow_pollers);
		return -1;
	}
	return 0;
}

typedef void (*register_fn)(portico_worker *worker);

/* Calls the register function named symbol in library (loaded from path); -1 with err when it
 * has none and required. */
static int call_register(void *library, const char *path, const char *symbol, int required, portico_worker *worker,
                         portico_error *err)
{
	register_fn register_types = (register_fn)(uintptr_t)dlsym(library, symbol);
	if (register_types)
		register_types(worker);
	else if (required)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "%s has no %s function", path, symbol);
	return 0;
}

/* Loads each --activities and --workflows library and lets it register what it has. The
 * libraries stay loaded for the life of the process. The arguments were checked by
 * check_arguments. */
static int load_libraries(portico_worker *worker, int argc, char **argv, portico_error *err)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--flows"))
			continue;
		const char *path = argv[i + 1];
		int workflows = !strcmp(argv[i], "--workflows");
		void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!library)
			return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "cannot load %s: %s", path, dlerror());
		if (call_register(library, path, workflows ? REGISTER_WORKFLOWS : REGISTER_ACTIVITIES, 1, worker,
		                  err) ||
		    (workflows && call_register(library, path, REGISTER_ACTIVITIES, 0, worker, err)))
			return -1;
	}
	return 0;
}

/* 1 for --help, 0 for `--activities path`, `--workflows path` and `--flows dir` pairs, -1 (said
 * on stderr) for anything else. */
static int check_arguments(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return 1;
	for (int i = 1; i < argc; i += 2) {
		if ((strcmp(argv[i], "--activities") && strcmp(argv[i], "--workflows") && strcmp(argv[i], "--flows")) ||
		    i + 1 == argc) {
			fprintf(stderr,
			        "portico-worker: unexpected argument \"%s\"\n"
			        "usage: portico-worker [--activities lib.so]... [--workflows lib.so]... [--flows DIR] "
			        "(--help lists the settings)\n",
			        argv[i]);
			return -1;
		}
	}
	return 0;
}

/* The flows of --flows DIR (the last one given) or PORTICO_FLOWS_DIR, every one validated now: a
 * bad file stops the worker at start-up with the file and the path in it. Neither: an empty
 * catalog (inline flows still run). NULL with err. */
static flow_catalog *load_flows(int argc, char **argv, portico_error *err)
{
	const char *dir = getenv("PORTICO_FLOWS_DIR");
	for (int i = 1; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--flows"))
			dir = argv[i + 1];
	if (!dir || !*dir)
		return flow_catalog_new();
	flow_catalog *catalog = flow_catalog_load(dir, err);
	if (!catalog) {
		portico_error_prefix(err, "flows %s", dir);
		return NULL;
	}
	json_t *list = flow_catalog_list(catalog);
	json_t *names = json_array();
	size_t i;
	json_t *flow;
	json_array_foreach(list, i, flow)
	        json_array_append_new(names, json_sprintf("%s@%s", json_string_value(json_object_get(flow, "name")),
	                                                  json_string_value(json_object_get(flow, "version"))));
	portico_log("info", "flows loaded", json_pack("{s:s,s:o}", "dir", dir, "flows", names));
	json_decref(list);
	return catalog;
}

/* Says why the worker cannot go on, plainly, to whoever started it (not a log line); returns
 * status, the exit status. */
static int fatal(int status, portico_error *err)
{
	fprintf(stderr, "portico-worker: %s\n", err->message);
	portico_error_clear(err);
	return status;
}

typedef struct metrics_endpoint {
	portico_worker *worker;
	portico_metrics *metrics;
} metrics_endpoint;

static void respond_json(http_request *request, unsigned status, json_t *body)
{
	size_t length;
	char *text = portico_json_text(body, 0, &length);
	json_decref(body);
	http_respond(request, status, "application/json", text, length);
}

/* PORTICO_WORKER_METRICS_LISTEN: GET /metrics (the worker's counters for Prometheus), /healthz
 * (the process answers) and /readyz (it polls and Temporal answers: 503 with the reason if not). */
static void serve_endpoint(void *arg, http_request *request)
{
	metrics_endpoint *endpoint = arg;
	const char *path = http_request_path(request);
	if (!strcmp(path, "/healthz")) {
		respond_json(request, 200, json_pack("{s:s}", "status", "ok"));
	} else if (!strcmp(path, "/readyz")) {
		portico_error err = PORTICO_ERROR_INIT;
		if (portico_worker_ready(endpoint->worker, &err) == 0)
			respond_json(request, 200, json_pack("{s:s}", "status", "ready"));
		else
			respond_json(request, 503,
			             json_pack("{s:s,s:o}", "status", "not ready", "message",
			                       portico_log_text(err.message)));
		portico_error_clear(&err);
	} else if (!strcmp(path, "/metrics")) {
		portico_worker_metrics_update(endpoint->worker, endpoint->metrics);
		size_t length;
		char *text = portico_metrics_render(endpoint->metrics, &length);
		http_respond(request, 200, "text/plain; version=0.0.4; charset=utf-8", text, length);
	} else {
		respond_json(request, 404,
		             json_pack("{s:s}", "message", "not found: try /metrics, /healthz or /readyz"));
	}
}

static void log_totals(portico_worker *worker)
{
	portico_worker_stats stats;
	portico_worker_get_stats(worker, &stats);
	portico_log("info", "worker totals",
	            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "polls", (json_int_t)stats.polls,
	                      "tasks", (json_int_t)stats.tasks, "completed", (json_int_t)stats.completed, "failed",
	                      (json_int_t)stats.failed, "canceled", (json_int_t)stats.canceled, "runMs",
	                      (json_int_t)stats.run_ms_total, "workflowTasks", (json_int_t)stats.workflow_tasks,
	                      "workflowTasksCompleted", (json_int_t)stats.workflow_completed, "workflowTasksFailed",
	                      (json_int_t)stats.workflow_failed, "cacheHits", (json_int_t)stats.cache_hits,
	                      "cacheMisses", (json_int_t)stats.cache_misses));
}

/* `portico-worker replay`: flows' expressions run in the sandbox with the worker's limits, so a
 * history whose expression ran over its limit replays as it ran, and a hostile one cannot hang or
 * crash the replay. */
static int replay(int argc, char **argv)
{
	portico_error err = PORTICO_ERROR_INIT;
	flow_expr_options expressions;
	if (flow_expr_options_from_env(&expressions, &err) || flow_expr_start(&expressions, &err))
		return fatal(EXIT_USAGE, &err);
	int status = worker_replay_main(argc - 1, argv + 1);
	flow_expr_stop();
	return status;
}

int main(int argc, char **argv)
{
	/* This program is also the sandbox that runs flows' jq expressions (flow/expr.h). */
	if (argc > 1 && !strcmp(argv[1], FLOW_EXPR_SANDBOX_ARG))
		return flow_expr_sandbox_main();
	if (argc > 1 && !strcmp(argv[1], "replay"))
		return replay(argc, argv);
	int arguments = check_arguments(argc, argv);
	if (arguments) {
		if (arguments > 0)
			print_help(stdout);
		return arguments > 0 ? 0 : EXIT_USAGE;
	}
	portico_error err = PORTICO_ERROR_INIT;
	portico_config cfg;
	portico_codec *codec = NULL;
	worker_settings_values settings;
	if (load_settings(&settings, &err) || portico_config_from_env(&cfg, &err))
		return fatal(EXIT_USAGE, &err);
	if (portico_codec_from_env(&codec, &err)) {
		portico_config_free(&cfg);
		return fatal(EXIT_USAGE, &err);
	}
	/* The sandboxes start at the first evaluation: at start-up when flows are loaded (their
	 * expressions compile there), else with the first inline flow a run brings. */
	settings.expressions.lazy = 1;
	if (flow_expr_start(&settings.expressions, &err))
		return fatal(EXIT_FAILED, &err);
	flow_catalog *flows = load_flows(argc, argv, &err); /* its expressions compile in the sandbox */
	if (!flows)
		return fatal(EXIT_USAGE, &err);

	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	portico_client *client = portico_client_open(&cfg, &err);
	if (!client)
		return fatal(EXIT_FAILED, &err);
	portico_metrics *metrics = portico_metrics_new();
	portico_worker_metrics_define(metrics);
	portico_worker_options options = {
	        .task_queue = settings.task_queue,
	        .max_concurrent = (unsigned)settings.max_concurrent,
	        .threads = (unsigned)settings.threads,
	        .pollers = (unsigned)settings.pollers,
	        .grace_ms = settings.grace_ms,
	        .codec = codec,
	        .metrics = metrics,
	        .workflow_pollers = (unsigned)settings.workflow_pollers,
	        .workflow_cache_size = (unsigned)settings.workflow_cache,
	        .workflow_stack_bytes = (size_t)settings.workflow_stack_kb * 1024,
	};
	portico_worker *worker = portico_worker_new(client, &options);
	http_request_client *http = http_request_client_new();
	portico_worker_register_loop(worker, HTTP_REQUEST_ACTIVITY, http_request_activity, http);
	if (load_libraries(worker, argc, argv, &err))
		return fatal(EXIT_FAILED, &err);
	flow_register(worker, flows);
	if (portico_worker_start(worker, &err))
		return fatal(EXIT_FAILED, &err);
	portico_log("info", "activities registered",
	            json_pack("{s:s,s:o,s:o}", "taskQueue", settings.task_queue, "activityTypes",
	                      portico_worker_activity_types(worker), "workflowTypes",
	                      portico_worker_workflow_types(worker)));
	metrics_endpoint endpoint = {worker, metrics};
	http_server *metrics_server = NULL;
	if (settings.metrics_listen) {
		/* Two threads: a /readyz waiting on Temporal does not hold up a scrape. */
		http_server_options http_options = {.listen = settings.metrics_listen,
		                                    .threads = 2,
		                                    .max_body_bytes = 1024,
		                                    .idle_timeout_s = 30,
		                                    .handler = serve_endpoint,
		                                    .arg = &endpoint};
		if (!(metrics_server = http_server_start(&http_options, &err)))
			return fatal(EXIT_FAILED, &err);
		portico_logf("info", NULL, "metrics on http://%s/metrics (port %u), with /healthz and /readyz",
		             settings.metrics_listen, http_server_port(metrics_server));
	}
	portico_logf("info", NULL, "polling task queue \"%s\" at %s (namespace %s)%s", options.task_queue, cfg.address,
	             cfg.namespace_name, codec ? ", payloads encrypted" : "");

	int signal_number;
	sigwait(&stop_signals, &signal_number);
	portico_logf("info", NULL, "%s: finishing activities in flight", strsignal(signal_number));
	if (metrics_server)
		http_server_stop(metrics_server);
	int stuck = portico_worker_shutdown(worker);
	log_totals(worker);
	if (stuck) {
		/* An activity ignored its cancellation; its task's failure, and those of tasks that never
		 * started, have left (shutdown waited until Temporal acknowledged them or their calls
		 * timed out), and it may still use the worker's memory, so none of it is freed. */
		portico_log("warn", "stopped, leaving an activity that would not stop", NULL);
		_exit(0);
	}
	http_request_client_free(http);
	portico_worker_free(worker);
	flow_expr_stop();
	flow_catalog_free(flows); /* after the worker: its runs borrowed it */
	portico_metrics_free(metrics);
	portico_client_close(client);
	portico_codec_free(codec);
	portico_config_free(&cfg);
	curl_global_cleanup();
	portico_log("info", "stopped", NULL);
	return 0;
}
