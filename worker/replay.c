/* `portico-worker replay`: the libraries register their workflows on a worker that is never
 * started (their registration function takes a worker, as when they run), and the replayer finds
 * the workflow types through that worker. Flows are its dynamic workflow, as on a running worker:
 * a flow's history replays with no library (the definition is in the history). */
#include "replay.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "codec.h"
#include "config.h"
#include "interpreter.h"
#include "replayer.h"
#include "worker.h"

#define REGISTER_SYMBOL "portico_register_workflows"
#define EXIT_FAILED     1
#define EXIT_USAGE      2

static int usage(const char *problem)
{
	fprintf(stderr,
	        "portico-worker replay: %s\n"
	        "usage: portico-worker replay [--workflows lib.so]... history.json...\n"
	        "Replays each history (temporal workflow show -w ID --output json > history.json, or the Web UI's\n"
	        "Download) against the workflows each library registers (portico_register_workflows), and flows'\n"
	        "histories against the flow interpreter; payload keys from PORTICO_CODEC_KEYS or\n"
	        "PORTICO_CODEC_KEYS_FILE.\n",
	        problem);
	return EXIT_USAGE;
}

typedef void (*register_fn)(portico_worker *worker);

/* Loads the library at path (for the life of the process) and lets it register its workflows. */
static int load_library(portico_worker *worker, const char *path)
{
	void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!library) {
		fprintf(stderr, "portico-worker replay: cannot load %s: %s\n", path, dlerror());
		return -1;
	}
	register_fn register_workflows = (register_fn)(uintptr_t)dlsym(library, REGISTER_SYMBOL);
	if (!register_workflows) {
		fprintf(stderr, "portico-worker replay: %s has no %s function\n", path, REGISTER_SYMBOL);
		return -1;
	}
	register_workflows(worker);
	return 0;
}

/* Replays one file and prints its line; returns 0 when it replays. */
static int replay_one(portico_replayer *replayer, const char *path, const portico_codec *codec)
{
	portico_replay_result result;
	portico_error err = PORTICO_ERROR_INIT;
	if (portico_replayer_replay_file(replayer, path, codec, &result, &err) == 0) {
		printf("ok %s (%zu events)\n", path, result.event_count);
		return 0;
	}
	printf("%s %s: %s\n", result.problem == PORTICO_REPLAY_NONDETERMINISM ? "NONDETERMINISM" : "FAILED", path,
	       err.message);
	portico_error_clear(&err);
	return -1;
}

/* The worker the libraries register on: over a client whose connection is never used (gRPC
 * connects on the first call, and a worker never started makes none). */
static int replay_histories(int argc, char **argv, int first_file, const portico_codec *codec)
{
	portico_error err = PORTICO_ERROR_INIT;
	portico_config cfg;
	if (portico_config_from_env(&cfg, &err)) {
		fprintf(stderr, "portico-worker replay: %s\n", err.message);
		portico_error_clear(&err);
		return EXIT_USAGE;
	}
	portico_client *client = portico_client_open(&cfg, &err);
	portico_config_free(&cfg);
	if (!client) {
		fprintf(stderr, "portico-worker replay: %s\n", err.message);
		portico_error_clear(&err);
		return EXIT_USAGE;
	}
	portico_worker_options options = {.task_queue = "replay", .codec = codec};
	portico_worker *worker = portico_worker_new(client, &options);
	int status = 0;
	flow_register(worker, NULL); /* a child flow's definition is in the history: no catalog */
	for (int i = 1; i < first_file && !status; i += 2)
		if (load_library(worker, argv[i + 1]))
			status = EXIT_USAGE;
	if (!status) {
		portico_replayer *replayer = portico_replayer_new_with_lookup(portico_worker_workflow_lookup, worker);
		for (int i = first_file; i < argc; i++)
			if (replay_one(replayer, argv[i], codec))
				status = EXIT_FAILED;
		portico_replayer_free(replayer);
	}
	fflush(stdout);
	portico_worker_free(worker);
	portico_client_close(client);
	return status;
}

int worker_replay_main(int argc, char **argv)
{
	int first_file = 1;
	while (first_file < argc && !strcmp(argv[first_file], "--workflows")) {
		if (first_file + 1 == argc)
			return usage("--workflows needs a library");
		first_file += 2;
	}
	if (first_file == argc)
		return usage("no history file");
	if (argv[first_file][0] == '-' && argv[first_file][1] == '-')
		return usage("unexpected option before the history files");
	portico_error err = PORTICO_ERROR_INIT;
	portico_codec *codec = NULL;
	if (portico_codec_from_env(&codec, &err)) {
		fprintf(stderr, "portico-worker replay: %s\n", err.message);
		portico_error_clear(&err);
		return EXIT_USAGE;
	}
	int status = replay_histories(argc, argv, first_file, codec);
	portico_codec_free(codec);
	return status;
}
