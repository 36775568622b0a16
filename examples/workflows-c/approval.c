/* c.Approval: the human approval of examples/approval (examples/workflows/approval.py) in C, with
 * the same input, results, messages and failures. A request ({"title": …, "amount": …,
 * "timeoutSeconds": …}, amount optional) waits for a decision, sent as a signal ("approve" or
 * "reject", each with an optional {"by": …, "comment": …}), for at most "timeoutSeconds" (default
 * one hour), after which it expires. The query "state" shows where it stands; the update
 * "setAmount" changes the amount while it is pending, and its validator refuses a bad one before
 * anything is recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workflows.h"

#define MAX_AMOUNT          1000000
#define MAX_TIMEOUT_SECONDS (90 * 24 * 3600)

/* ---- The messages of the Python version, which show values as Python's repr() does ------------ */

/* A float as Python's repr(): the shortest digits that read back the same, in fixed notation
 * (with ".0" when whole) for decimal exponents from -4 to 15, else as 1.5e-05. */
static void write_float(FILE *out, double value)
{
	char text[40];
	for (int precision = 0; precision < 17; precision++) {
		snprintf(text, sizeof text, "%.*e", precision, value);
		if (strtod(text, NULL) == value)
			break;
	}
	char *exponent_at = strchr(text, 'e');
	int exponent = atoi(exponent_at + 1);
	char digits[24];
	int count = 0;
	for (const char *c = text; c < exponent_at; c++)
		if (*c >= '0' && *c <= '9')
			digits[count++] = *c;
	while (count > 1 && digits[count - 1] == '0')
		count--;
	if (text[0] == '-')
		fputc('-', out);
	if (exponent < -4 || exponent >= 16) {
		fprintf(out, "%c%s%.*se%c%02d", digits[0], count > 1 ? "." : "", count - 1, digits + 1,
		        exponent < 0 ? '-' : '+', abs(exponent));
	} else if (exponent < 0) {
		fputs("0.", out);
		for (int i = -1; i > exponent; i--)
			fputc('0', out);
		fwrite(digits, 1, (size_t)count, out);
	} else {
		for (int i = 0; i <= exponent; i++)
			fputc(i < count ? digits[i] : '0', out);
		fputc('.', out);
		if (exponent + 1 < count)
			fwrite(digits + exponent + 1, 1, (size_t)(count - exponent - 1), out);
		else
			fputc('0', out);
	}
}

/* A string as Python's repr(): single quotes unless it holds one and no double quote. Characters
 * beyond ASCII are written as they are (Python escapes the unprintable ones among them). */
static void write_string(FILE *out, const char *text, size_t length)
{
	char quote = memchr(text, '\'', length) && !memchr(text, '"', length) ? '"' : '\'';
	fputc(quote, out);
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\\' || c == (unsigned char)quote)
			fprintf(out, "\\%c", c);
		else if (c == '\n' || c == '\r' || c == '\t')
			fprintf(out, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc(quote, out);
}

static void write_repr(FILE *out, const json_t *value)
{
	const char *key;
	json_t *item;
	size_t index;
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		fputc('{', out);
		index = 0;
		json_object_foreach((json_t *)value, key, item)
		{
			fputs(index++ ? ", " : "", out);
			write_string(out, key, strlen(key));
			fputs(": ", out);
			write_repr(out, item);
		}
		fputc('}', out);
		break;
	case JSON_ARRAY:
		fputc('[', out);
		json_array_foreach(value, index, item)
		{
			fputs(index ? ", " : "", out);
			write_repr(out, item);
		}
		fputc(']', out);
		break;
	case JSON_STRING:
		write_string(out, json_string_value(value), json_string_length(value));
		break;
	case JSON_INTEGER:
		fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		break;
	case JSON_REAL:
		write_float(out, json_real_value(value));
		break;
	case JSON_TRUE:
		fputs("True", out);
		break;
	case JSON_FALSE:
		fputs("False", out);
		break;
	case JSON_NULL:
		fputs("None", out);
		break;
	}
}

/* "<what> must be a number above 0 and at most <max>, not <repr(value)>" (value NULL: None), in a
 * string the caller frees with free(). */
static char *not_a_number(const char *what, long max, const json_t *value)
{
	char *message = NULL;
	size_t length;
	FILE *out = open_memstream(&message, &length);
	if (!out)
		abort(); /* out of memory, as the SDK's allocator treats it */
	fprintf(out, "%s must be a number above 0 and at most %ld, not ", what, max);
	if (value)
		write_repr(out, value);
	else
		fputs("None", out);
	fclose(out);
	return message;
}

/* A number (not a boolean) in (0, max]. */
static int in_range(const json_t *value, double max)
{
	return json_is_number(value) && json_number_value(value) > 0 && json_number_value(value) <= max;
}

/* Python's check_amount: NULL when amount is fine (or absent and not required), else the message
 * (freed with free()). */
static char *check_amount(const json_t *amount, int required)
{
	if ((!amount || json_is_null(amount)) && !required)
		return NULL;
	return in_range(amount, MAX_AMOUNT) ? NULL : not_a_number("amount", MAX_AMOUNT, amount);
}

/* ---- The workflow ------------------------------------------------------------------------------ */

/* The run's state is what the query "state" answers: {"title", "amount", "status", "decision",
 * "changes"}, an object the handlers change and the run frees when it ends. */

static int pending(const json_t *state)
{
	return !strcmp(json_string_value(json_object_get(state, "status")), "pending");
}

static int decided(void *state)
{
	return !pending(state);
}

/* The first decision wins; later ones change nothing. */
static void decide(json_t *state, const char *status, json_t *args)
{
	if (!pending(state))
		return;
	json_t *decision = json_array_get(args, 0);
	json_object_set_new(state, "status", json_string(status));
	json_object_set_new(state, "decision", json_is_object(decision) ? json_deep_copy(decision) : json_object());
}

static void approve(portico_workflow *wf, json_t *args, void *state)
{
	(void)wf;
	decide(state, "approved", args);
}

static void reject(portico_workflow *wf, json_t *args, void *state)
{
	(void)wf;
	decide(state, "rejected", args);
}

static int state_query(portico_workflow *wf, json_t *args, json_t **result, char **error, void *state)
{
	(void)wf, (void)args, (void)error;
	*result = json_deep_copy(state);
	return 0;
}

static int validate_amount(portico_workflow *wf, json_t *args, char **error, void *state)
{
	(void)wf;
	json_t *change = json_array_get(args, 0);
	if (!pending(state)) {
		char message[80]; /* the status is one of a few short words */
		snprintf(message, sizeof message, "the request is %s: its amount can no longer change",
		         json_string_value(json_object_get(state, "status")));
		*error = strdup(message);
	} else if (!json_is_object(change)) {
		*error = strdup("expected {\"amount\": …, \"by\": …}");
	} else {
		*error = check_amount(json_object_get(change, "amount"), 1);
	}
	return *error ? -1 : 0;
}

static int set_amount(portico_workflow *wf, json_t *args, json_t **result, portico_workflow_failure **failure,
                      void *state)
{
	(void)wf, (void)failure;
	json_t *change = json_array_get(args, 0);
	json_t *amount = json_object_get(change, "amount");
	json_t *by = json_object_get(change, "by");
	json_array_append_new(json_object_get(state, "changes"),
	                      json_pack("{s:O,s:O,s:O}", "from", json_object_get(state, "amount"), "to", amount, "by",
	                                by ? by : json_null()));
	json_object_set(state, "amount", amount);
	*result = json_deep_copy(state);
	return 0;
}

static void release(void *json)
{
	json_decref(json);
}

int approval_workflow(portico_workflow *wf, void *user_data)
{
	(void)user_data;
	json_t *request = portico_workflow_input_json(wf, 0);
	if (!json_is_object(request)) {
		json_decref(request);
		request = json_object();
	}
	json_t *title = json_object_get(request, "title"), *amount = json_object_get(request, "amount");
	json_t *state = json_pack("{s:O,s:O,s:s,s:n,s:[]}", "title", title ? title : json_null(), "amount",
	                          amount ? amount : json_null(), "status", "pending", "decision", "changes");
	portico_workflow_on_free(wf, release, state);
	portico_workflow_on_signal(wf, "approve", approve, state);
	portico_workflow_on_signal(wf, "reject", reject, state);
	portico_workflow_on_query(wf, "state", state_query, state);
	portico_workflow_on_update(wf, "setAmount", set_amount, validate_amount, state);

	json_t *timeout = json_object_get(request, "timeoutSeconds");
	char *problem = check_amount(amount, 0);
	if (!problem && timeout && !in_range(timeout, MAX_TIMEOUT_SECONDS))
		problem = not_a_number("timeoutSeconds", MAX_TIMEOUT_SECONDS, timeout);
	double seconds = timeout ? json_number_value(timeout) : 3600;
	json_decref(request);
	if (problem) { /* a bad request fails the workflow, not just its task */
		int failed = portico_workflow_fail(wf, "InvalidRequest", 1, "%s", problem);
		free(problem);
		return failed;
	}

	int64_t timeout_ms = (int64_t)(seconds * 1000 + 0.5);
	switch (portico_workflow_wait_condition(wf, decided, state, timeout_ms > 0 ? timeout_ms : 1)) {
	case PORTICO_WAIT_TIMEOUT:
		json_object_set_new(state, "status", json_string("expired"));
		break;
	case PORTICO_WAIT_CANCELED:
	case PORTICO_WAIT_EVICTED:
		return PORTICO_WORKFLOW_CANCELED;
	}
	return portico_workflow_set_result(wf, json_deep_copy(state));
}
