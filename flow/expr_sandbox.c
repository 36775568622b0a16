/* The sandbox processes of runtime expressions (expr_sandbox.h). */
#define _GNU_SOURCE
#include "expr_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "expr.h"
#include "expr_jq.h"
#include "fdio.h"

/* Under AddressSanitizer the shadow memory needs far more address space than any limit worth
 * setting: the memory limit is asked of ASan's allocator instead (malloc_limit_mb). */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

#define DEFAULT_PROCESSES  2
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_MEMORY_MB  512
/* Compiled programs a sandbox process keeps: a flow's expressions, and then some. */
#define SANDBOX_CACHE 256
/* How a sandbox process says it ran out of memory (any other end is a crash). */
#define EXIT_NO_MEMORY 3
/* The limits, from the parent to the sandbox process: "<memory_mb>,<timeout_ms>". */
#define LIMITS_VARIABLE "PORTICO_FLOW_EXPR_LIMITS"
/* How long after a lazy pool failed to start calls fail at once, before one tries again. */
#define DEFERRED_RETRY_MS 5000
/* How long a process that closed its end may take to exit before it is killed. */
#define EXIT_GRACE_MS 1000

typedef struct sandbox {
	pid_t pid; /* 0: none running; the next call that checks it out starts one */
	int fd;    /* the parent's end of the socket pair (non-blocking); -1 when pid is 0 */
	int busy;  /* checked out by a call */
} sandbox;

static struct {
	pthread_mutex_t lock; /* guards the fields below but a busy sandbox's pid and fd (its caller's) */
	pthread_cond_t freed; /* a sandbox was checked in */
	int started;
	int deferred;               /* configured by a lazy flow_expr_start: the first checkout starts the processes */
	int64_t failed_until_ms;    /* after a deferred start failed: calls fail at once until then */
	portico_error last_failure; /* owned: why it failed */
	unsigned count, timeout_ms, memory_mb;
	sandbox *processes; /* owned, count of them */
	char *exe;          /* owned */
	char *name;         /* owned: the processes' argv[0], exe resolved for ps to show */
	char **env;         /* owned, NULL-terminated: the processes' whole environment */
} pool = {PTHREAD_MUTEX_INITIALIZER,
          PTHREAD_COND_INITIALIZER,
          0,
          0,
          0,
          PORTICO_ERROR_INIT,
          0,
          0,
          0,
          NULL,
          NULL,
          NULL,
          NULL};

/* --- The parent's side --------------------------------------------------------------------------- */

/* A sandbox process's environment: nothing of the parent's (no HOME, whose ~/.jq libjq would load
 * into every program; no TZ but UTC), the limits, and under sanitizers their options. A new
 * NULL-terminated array of new strings. */
static char **sandbox_env(unsigned memory_mb, unsigned timeout_ms)
{
	char **env = portico_calloc(8, sizeof(*env));
	size_t n = 0;
	env[n++] = portico_strdup("TZ=UTC");
	env[n++] = portico_strdup("LC_ALL=C");
	env[n++] = portico_sprintf(LIMITS_VARIABLE "=%u,%u", memory_mb, timeout_ms);
#ifdef SANITIZED
	const char *asan = getenv("ASAN_OPTIONS");
	env[n++] = portico_sprintf("ASAN_OPTIONS=%s%smalloc_limit_mb=%u:allocator_may_return_null=1", asan ? asan : "",
	                           asan && *asan ? ":" : "", memory_mb);
	const char *names[] = {"LSAN_OPTIONS", "UBSAN_OPTIONS"};
	for (size_t i = 0; i < 2; i++)
		if (getenv(names[i]))
			env[n++] = portico_sprintf("%s=%s", names[i], getenv(names[i]));
#endif
	return env;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Starts s's process: posix_spawn (safe in a threaded program, unlike fork) of the sandbox
 * program with the socket on its stdin and stdout. */
static int spawn(sandbox *s, portico_error *err)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair))
		return portico_error_set(err, PORTICO_UNAVAILABLE, "cannot start an expression sandbox: %s",
		                         strerror(errno));
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, pair[1], 0);
	posix_spawn_file_actions_adddup2(&actions, pair[1], 1);
#ifndef SANITIZED
	/* libjq's assertion messages are not log lines; a crash is reported by the caller. */
	posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
#endif
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	/* The caller's thread may block signals; the process needs SIGALRM (its own backstop). */
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGALRM);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = {pool.name, FLOW_EXPR_SANDBOX_ARG, NULL};
	int rc = posix_spawn(&s->pid, pool.exe, &actions, &attr, argv, pool.env);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	close(pair[1]);
	if (rc) {
		close(pair[0]);
		s->pid = 0;
		return portico_error_set(err, PORTICO_UNAVAILABLE, "cannot start the expression sandbox %s: %s",
		                         pool.exe, strerror(rc));
	}
	fcntl(pair[0], F_SETFL, O_NONBLOCK);
	s->fd = pair[0];
	return 0;
}

/* Waits for s's process to end (killing it after grace_ms) and returns its wait status. */
static int reap(sandbox *s, int64_t grace_ms)
{
	int status = 0;
	int64_t until = portico_monotonic_ms() + grace_ms;
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (portico_monotonic_ms() >= until) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		usleep(2000);
	}
	close(s->fd);
	s->pid = 0;
	s->fd = -1;
	return status;
}

typedef enum { EXCHANGE_OK, EXCHANGE_TIMEOUT, EXCHANGE_CLOSED, EXCHANGE_GARBAGE } exchange_result;

/* Waits until fd is ready for events or deadline (monotonic ms) passes. */
static exchange_result wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - portico_monotonic_ms();
		if (left <= 0)
			return EXCHANGE_TIMEOUT;
		struct pollfd p = {fd, events, 0};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return EXCHANGE_OK;
		if (n < 0 && errno != EINTR)
			return EXCHANGE_CLOSED;
	}
}

static exchange_result send_all(int fd, const char *bytes, size_t length, int64_t deadline)
{
	while (length) {
		ssize_t n = send(fd, bytes, length, MSG_NOSIGNAL);
		if (n > 0) {
			bytes += n;
			length -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return EXCHANGE_CLOSED;
		exchange_result r = wait_ready(fd, POLLOUT, deadline);
		if (r != EXCHANGE_OK)
			return r;
	}
	return EXCHANGE_OK;
}

static exchange_result receive_all(int fd, char *bytes, size_t length, int64_t deadline)
{
	while (length) {
		ssize_t n = recv(fd, bytes, length, 0);
		if (n > 0) {
			bytes += n;
			length -= (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return EXCHANGE_CLOSED;
		exchange_result r = wait_ready(fd, POLLIN, deadline);
		if (r != EXCHANGE_OK)
			return r;
	}
	return EXCHANGE_OK;
}

/* Sends request (length bytes) and reads the reply into *reply (the caller frees) before deadline. */
static exchange_result exchange(int fd, const char *request, size_t length, int64_t deadline, char **reply,
                                size_t *reply_length)
{
	unsigned char header[4] = {(unsigned char)(length >> 24), (unsigned char)(length >> 16),
	                           (unsigned char)(length >> 8), (unsigned char)length};
	exchange_result r = send_all(fd, (const char *)header, 4, deadline);
	if (r == EXCHANGE_OK)
		r = send_all(fd, request, length, deadline);
	if (r == EXCHANGE_OK)
		r = receive_all(fd, (char *)header, 4, deadline);
	if (r != EXCHANGE_OK)
		return r;
	size_t size = (size_t)header[0] << 24 | (size_t)header[1] << 16 | (size_t)header[2] << 8 | header[3];
	if (size > FLOW_SANDBOX_MAX_REPLY + 1024)
		return EXCHANGE_GARBAGE;
	*reply = portico_malloc(size);
	*reply_length = size;
	r = receive_all(fd, *reply, size, deadline);
	if (r != EXCHANGE_OK) {
		free(*reply);
		*reply = NULL;
	}
	return r;
}

/* Ends s's process after a failed exchange, says why in err, and starts another (if that fails,
 * the next call that checks s out tries again). */
static void fail(sandbox *s, exchange_result r, portico_error *err)
{
	if (r == EXCHANGE_TIMEOUT || r == EXCHANGE_GARBAGE)
		kill(s->pid, SIGKILL);
	int status = reap(s, EXIT_GRACE_MS);
	if (r == EXCHANGE_TIMEOUT)
		portico_error_set(err, PORTICO_DEADLINE_EXCEEDED, "the expression ran over its %u ms limit",
		                  pool.timeout_ms);
	else if (r == EXCHANGE_GARBAGE)
		portico_error_set(err, PORTICO_INTERNAL, "the expression sandbox answered garbage");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_NO_MEMORY)
		portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                  "the expression ran out of memory (its limit is %u MB)", pool.memory_mb);
	else if (WIFSIGNALED(status))
		portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED,
		                  "the expression crashed the jq library (signal SIG%s); its sandbox was replaced",
		                  sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
	else
		portico_error_set(err, PORTICO_RESOURCE_EXHAUSTED, "the expression sandbox exited (status %d)",
		                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	portico_error tmp = PORTICO_ERROR_INIT;
	spawn(s, &tmp);
	portico_error_clear(&tmp);
}

static int spawn_all(portico_error *err);

/* A sandbox for this call, waiting while every one is busy; NULL when the pool is not started
 * (*failed stays 0) or when a deferred pool cannot start (*failed 1, err set). */
static sandbox *checkout(int *failed, portico_error *err)
{
	pthread_mutex_lock(&pool.lock);
	if (pool.deferred) {
		/* Still deferred after a failure: the calls of the next seconds fail at once rather than
		 * each spawning and pinging processes again with the lock held. */
		int64_t now = portico_monotonic_ms();
		int failing = now < pool.failed_until_ms;
		if (!failing) {
			portico_error_clear(&pool.last_failure);
			failing = spawn_all(&pool.last_failure) != 0;
			if (failing)
				pool.failed_until_ms = now + DEFERRED_RETRY_MS;
		}
		if (failing) {
			portico_error_set(err, pool.last_failure.code, "%s", pool.last_failure.message);
			*failed = 1;
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		pool.deferred = 0;
	}
	for (;;) {
		if (!pool.started) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		for (unsigned i = 0; i < pool.count; i++)
			if (!pool.processes[i].busy) {
				pool.processes[i].busy = 1;
				pthread_mutex_unlock(&pool.lock);
				return &pool.processes[i];
			}
		pthread_cond_wait(&pool.freed, &pool.lock);
	}
}

static void checkin(sandbox *s)
{
	pthread_mutex_lock(&pool.lock);
	s->busy = 0;
	pthread_cond_broadcast(&pool.freed);
	pthread_mutex_unlock(&pool.lock);
}

/* Reads a reply ({"value"} or {"error", "code"}) into *value or err. */
static int read_reply(const char *reply, size_t length, json_t **value, portico_error *err)
{
	json_t *message = json_loadb(reply, length, JSON_ALLOW_NUL, NULL);
	json_t *v = json_object_get(message, "value");
	const char *error = json_string_value(json_object_get(message, "error"));
	json_int_t code = json_integer_value(json_object_get(message, "code"));
	int rc = -1;
	if (v) {
		if (value)
			*value = json_incref(v);
		rc = 0;
	} else if (error && code > PORTICO_OK && code <= PORTICO_UNAUTHENTICATED)
		portico_error_set(err, (portico_code)code, "%s", error);
	else
		portico_error_set(err, PORTICO_INTERNAL, "the expression sandbox answered garbage");
	json_decref(message);
	return rc;
}

int flow_sandbox_call(const char *program, const json_t *names, const json_t *data, const json_t *vars, json_t **value,
                      portico_error *err)
{
	/* jansson's dump recurses: a value as deep as jansson parses would overflow a workflow
	 * coroutine's stack before the sandbox could refuse it */
	if (flow_json_deeper_than(data, FLOW_JQ_MAX_DEPTH) || flow_json_deeper_than(vars, FLOW_JQ_MAX_DEPTH))
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "a value nests deeper than %d levels",
		                         FLOW_JQ_MAX_DEPTH);
	json_t *request = json_pack("{s:s, s:O}", "program", program, "names", names);
	if (!request)
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, "the expression is not UTF-8 text");
	if (data) {
		json_object_set(request, "data", (json_t *)data);
		if (vars)
			json_object_set(request, "vars", (json_t *)vars);
	}
	size_t length = json_dumpb(request, NULL, 0, JSON_COMPACT);
	if (!length) { /* what jansson cannot write: a raw number, whose mark is not UTF-8 */
		json_decref(request);
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT, FLOW_JQ_RAW_NUMBER_MESSAGE);
	}
	if (length > FLOW_SANDBOX_MAX_REQUEST) {
		json_decref(request);
		/* the same data on every replay: an error of the flow's, not of this worker */
		return portico_error_set(err, PORTICO_INVALID_ARGUMENT,
		                         "the expression's data and variables are larger than %d MiB",
		                         FLOW_SANDBOX_MAX_REQUEST / (1024 * 1024));
	}
	int failed = 0;
	sandbox *s = checkout(&failed, err);
	if (!s) {
		json_decref(request);
		return failed ? -1 : FLOW_SANDBOX_OFF;
	}
	char *body = portico_malloc(length ? length : 1); /* freed below */
	json_dumpb(request, body, length, JSON_COMPACT);
	json_decref(request);
	int rc = -1;
	int status;
	if (s->pid && waitpid(s->pid, &status, WNOHANG) == s->pid) {
		/* Gone while idle (killed from outside): this request has not been sent, start another. */
		close(s->fd);
		s->pid = 0;
		s->fd = -1;
	}
	if (s->pid || !spawn(s, err)) {
		char *reply = NULL;
		size_t reply_length = 0;
		exchange_result r =
		        exchange(s->fd, body, length, portico_monotonic_ms() + pool.timeout_ms, &reply, &reply_length);
		if (r == EXCHANGE_OK)
			rc = read_reply(reply, reply_length, value, err);
		else
			fail(s, r, err);
		free(reply);
	}
	free(body);
	checkin(s);
	return rc;
}

/* Ends every process of the pool (killed, or told to exit: a process reads the end of its input
 * and exits) and frees what the pool holds; with the lock held. */
static void pool_clear(int kill_them)
{
	for (unsigned i = 0; i < pool.count; i++)
		if (pool.processes[i].pid) {
			if (kill_them)
				kill(pool.processes[i].pid, SIGKILL);
			else
				shutdown(pool.processes[i].fd, SHUT_RDWR);
			reap(&pool.processes[i], EXIT_GRACE_MS);
		}
	free(pool.processes);
	free(pool.exe);
	free(pool.name);
	free_env(pool.env);
	pool.processes = NULL;
	pool.exe = NULL;
	pool.name = NULL;
	pool.env = NULL;
}

/* Starts the configured pool's processes; with the lock held. On failure, none is left running. */
static int spawn_all(portico_error *err)
{
	int rc = 0;
	/* Each process answers a first program before the pool counts as started: an executable that
	 * does not dispatch FLOW_EXPR_SANDBOX_ARG fails here, not at the first run. */
	for (unsigned i = 0; i < pool.count && !rc; i++) {
		sandbox *s = &pool.processes[i];
		rc = spawn(s, err);
		if (rc)
			break;
		static const char ping[] = "{\"program\":\".\",\"names\":[]}";
		char *reply = NULL;
		size_t reply_length = 0;
		exchange_result r =
		        exchange(s->fd, ping, sizeof(ping) - 1, portico_monotonic_ms() + 10000, &reply, &reply_length);
		if (r != EXCHANGE_OK || read_reply(reply, reply_length, NULL, err))
			rc = portico_error_set(err, PORTICO_UNAVAILABLE,
			                       "the expression sandbox %s does not answer (a program whose main calls "
			                       "flow_expr_sandbox_main when argv[1] is " FLOW_EXPR_SANDBOX_ARG ")",
			                       pool.exe);
		free(reply);
	}
	for (unsigned i = 0; rc && i < pool.count; i++)
		if (pool.processes[i].pid) {
			kill(pool.processes[i].pid, SIGKILL);
			reap(&pool.processes[i], EXIT_GRACE_MS);
		}
	pool.started = !rc;
	return rc;
}

int flow_expr_start(const flow_expr_options *options, portico_error *err)
{
	pthread_mutex_lock(&pool.lock);
	if (pool.started || pool.deferred) {
		pthread_mutex_unlock(&pool.lock);
		return 0;
	}
	pool.count = options->processes ? options->processes : DEFAULT_PROCESSES;
	pool.timeout_ms = options->timeout_ms ? options->timeout_ms : DEFAULT_TIMEOUT_MS;
	pool.memory_mb = options->memory_mb ? options->memory_mb : DEFAULT_MEMORY_MB;
	pool.exe = portico_strdup(options->sandbox_exe);
	/* Not exec'ed: /proc/self/exe stays this program's image even after an upgrade on disk. */
	pool.name = realpath(pool.exe, NULL);
	if (!pool.name)
		pool.name = portico_strdup(pool.exe);
	pool.env = sandbox_env(pool.memory_mb, pool.timeout_ms);
	pool.processes = portico_calloc(pool.count, sizeof(*pool.processes));
	for (unsigned i = 0; i < pool.count; i++)
		pool.processes[i].fd = -1;
	int rc = 0;
	if (options->lazy)
		pool.deferred = 1;
	else if ((rc = spawn_all(err)))
		pool_clear(0);
	pthread_mutex_unlock(&pool.lock);
	return rc;
}

void flow_sandbox_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	if (pool.deferred) {
		pool.deferred = 0;
		pool.failed_until_ms = 0;
		portico_error_clear(&pool.last_failure);
		pool_clear(0);
	}
	if (!pool.started) {
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	pool.started = 0; /* calls from now on run in-process */
	for (;;) {
		unsigned busy = 0;
		for (unsigned i = 0; i < pool.count; i++)
			busy += (unsigned)pool.processes[i].busy;
		if (!busy)
			break;
		pthread_cond_wait(&pool.freed, &pool.lock);
	}
	pool_clear(0);
	pthread_mutex_unlock(&pool.lock);
}

/* --- The sandbox process ------------------------------------------------------------------------- */

/* Out of memory anywhere (libjq, jansson): exit with the status the parent reads as such. No
 * stdio, no allocation. */
static void no_memory(void *data)
{
	(void)data;
	_exit(EXIT_NO_MEMORY);
}

static void *sandbox_malloc(size_t size)
{
	void *p = malloc(size);
	if (!p)
		no_memory(NULL);
	return p;
}

static json_t *error_reply(const portico_error *err)
{
	json_t *reply = json_pack("{s:s, s:i}", "error", err->message ? err->message : "", "code", (int)err->code);
	return reply ? reply
	             : json_pack("{s:s, s:i}", "error", "the expression failed with a message that is not UTF-8",
	                         "code", (int)err->code);
}

/* The reply to one request (length bytes of JSON). */
static json_t *answer(flow_jq_cache *cache, const char *request_text, size_t length)
{
	portico_error err = PORTICO_ERROR_INIT;
	json_t *request = json_loadb(request_text, length, JSON_ALLOW_NUL, NULL);
	const char *program = json_string_value(json_object_get(request, "program"));
	json_t *names = json_object_get(request, "names");
	json_t *data = json_object_get(request, "data");
	json_t *reply = NULL;
	if (!program || !json_is_array(names))
		portico_error_set(&err, PORTICO_INTERNAL, "the expression sandbox received a malformed request");
	else {
		flow_jq_program *p = flow_jq_cache_get(cache, program, names, &err);
		json_t *value = p && data ? flow_jq_run(p, data, json_object_get(request, "vars"), &err)
		                : p       ? json_null()
		                          : NULL;
		if (value)
			reply = json_pack("{s:o}", "value", value);
	}
	if (!reply)
		reply = error_reply(&err);
	portico_error_clear(&err);
	json_decref(request);
	return reply;
}

int flow_expr_sandbox_main(void)
{
	/* Nothing of the parent's but the socket (0, 1) and stderr. */
	close_range(3, ~0U, 0);
	unsigned memory_mb = DEFAULT_MEMORY_MB, timeout_ms = DEFAULT_TIMEOUT_MS;
	const char *limits = getenv(LIMITS_VARIABLE);
	if (limits)
		sscanf(limits, "%u,%u", &memory_mb, &timeout_ms);
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
#ifndef SANITIZED
	struct rlimit memory = {(rlim_t)memory_mb << 20, (rlim_t)memory_mb << 20};
	setrlimit(RLIMIT_AS, &memory);
#endif
	json_set_alloc_funcs(sandbox_malloc, free);
	flow_jq_set_nomem_handler(no_memory);
	/* A backstop: should the parent be gone mid-evaluation (it would have killed the process at
	 * its limit), the process ends itself. Idle, it ends when its input does. */
	unsigned backstop_s = timeout_ms / 1000 + 2;
	flow_jq_cache *cache = flow_jq_cache_new(SANDBOX_CACHE);
	int status = 0;
	for (;;) {
		unsigned char header[4];
		if (portico_read_full(0, header, 4))
			break;
		size_t length = (size_t)header[0] << 24 | (size_t)header[1] << 16 | (size_t)header[2] << 8 | header[3];
		if (length > FLOW_SANDBOX_MAX_REQUEST) {
			status = 2;
			break;
		}
		char *request = portico_malloc(length ? length : 1); /* freed below */
		if (portico_read_full(0, request, length)) {
			free(request);
			break;
		}
		alarm(backstop_s);
		json_t *reply = answer(cache, request, length);
		free(request);
		size_t size = json_dumpb(reply, NULL, 0, JSON_COMPACT);
		if (size > FLOW_SANDBOX_MAX_REPLY) {
			portico_error err = PORTICO_ERROR_INIT;
			portico_error_set(&err, PORTICO_RESOURCE_EXHAUSTED,
			                  "the expression's value is larger than %d MiB",
			                  FLOW_SANDBOX_MAX_REPLY / (1024 * 1024));
			json_decref(reply);
			reply = error_reply(&err);
			portico_error_clear(&err);
			size = json_dumpb(reply, NULL, 0, JSON_COMPACT);
		}
		char *out = portico_malloc(size + 4); /* freed below */
		out[0] = (char)(size >> 24);
		out[1] = (char)(size >> 16);
		out[2] = (char)(size >> 8);
		out[3] = (char)size;
		json_dumpb(reply, out + 4, size, JSON_COMPACT);
		json_decref(reply);
		alarm(0);
		int written = portico_write_full(1, out, size + 4);
		free(out);
		if (written)
			break;
	}
	flow_jq_cache_free(cache);
	return status;
}
