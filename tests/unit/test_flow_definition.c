/* Flow definitions without a server: YAML and JSON text becomes the JSON tree the YAML 1.2 core
 * schema says, within its bounds; documents shaped like the specification's examples validate;
 * every refusal names the path of the offending node and what was expected there; the JSON Schema
 * subset checks schemas and validates values with the instance path; and a directory of flows
 * loads as a catalog that refuses duplicates, missing children and cycles and finds the latest
 * version by semantic versioning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_assert.h"

#include "alloc.h"
#include "definition.h"
#include "schema.h"

#define HEAD "document: {dsl: '1.0.0', namespace: test, name: t, version: '1.0.0'}\n"

/* The tree of text, or NULL with the message in *message (the caller frees). */
static json_t *parse_text(const char *text, size_t length, char **message)
{
	portico_error err = PORTICO_ERROR_INIT;
	json_t *tree = flow_parse(text, length, &err);
	*message = tree ? NULL : portico_strdup(err.message);
	if (!tree)
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	portico_error_clear(&err);
	return tree;
}

static void assert_parses_to(const char *text, const char *expected)
{
	char *message;
	json_t *tree = parse_text(text, strlen(text), &message);
	if (!tree)
		fail_msg("%s: %s", text, message);
	assert_json_equal(tree, expected);
}

static void assert_parse_refused(const char *text, size_t length, const char *expected)
{
	char *message;
	json_t *tree = parse_text(text, length, &message);
	if (tree)
		fail_msg("accepted: %.200s", text);
	assert_string_equal(message, expected);
	free(message);
}

/* NULL when text parses and validates, else the message (the caller frees). */
static char *refusal(const char *text)
{
	portico_error err = PORTICO_ERROR_INIT;
	json_t *document = flow_parse(text, strlen(text), &err);
	char *message = NULL;
	if (!document || flow_validate(document, NULL, &err))
		message = portico_strdup(err.message ? err.message : "(no message)");
	json_decref(document);
	portico_error_clear(&err);
	return message;
}

static void test_plain_scalars_resolve_by_the_core_schema(void **state)
{
	(void)state;
	assert_parses_to("a: ~\nb: null\nc: \nd: true\ne: False\nf: 12\ng: -0x1F\nh: 0o17\ni: 1.5\nj: .5e1\n",
	                 "{\"a\":null,\"b\":null,\"c\":null,\"d\":true,\"e\":false,\"f\":12,\"g\":\"-0x1F\","
	                 "\"h\":15,\"i\":1.5,\"j\":5.0}");
	/* YAML 1.1's booleans and sexagesimals are strings in 1.2; quoting keeps anything a string. */
	assert_parses_to("a: yes\nb: on\nc: 1:30\nd: '12'\ne: \"true\"\nf: |\n  null\n",
	                 "{\"a\":\"yes\",\"b\":\"on\",\"c\":\"1:30\",\"d\":\"12\",\"e\":\"true\",\"f\":\"null\\n\"}");
	assert_parses_to("a: !!str 12\nb: !!int '12'\nc: !!float 3\nd: !!null ''\n",
	                 "{\"a\":\"12\",\"b\":12,\"c\":3.0,\"d\":null}");
	assert_parses_to("- [1, {x: y}]\n- {}\n", "[[1,{\"x\":\"y\"}],{}]");
}

static void test_json_is_read_as_json(void **state)
{
	(void)state;
	/* libyaml alone refuses surrogate pairs. */
	assert_parses_to(" {\"a\": [1, 2.5, \"\\ud83d\\ude00\", null], \"b\": {\"c\": false}}",
	                 "{\"a\":[1,2.5,\"\\ud83d\\ude00\",null],\"b\":{\"c\":false}}");
	/* A flow mapping that is not JSON is still YAML. */
	assert_parses_to("{a: 1, b: [x]}", "{\"a\":1,\"b\":[\"x\"]}");
	assert_parse_refused("{\"a\": 1, \"a\": 2}", 16, "line 1, column 10: duplicate mapping key");
}

static void test_parse_refusals_carry_line_and_column(void **state)
{
	(void)state;
	static const struct {
		const char *text, *message;
	} cases[] = {
	        {"a: &x 1\nb: *x\n", "line 1, column 4: anchors and aliases are not supported"},
	        {"a: !!binary aGk=\n", "line 1, column 4: a tag other than the YAML core schema's (!!str, !!int, "
	                               "!!float, !!bool, !!null, !!seq, !!map) is not supported"},
	        {"a: !local x\n", "line 1, column 4: a tag other than the YAML core schema's (!!str, !!int, "
	                          "!!float, !!bool, !!null, !!seq, !!map) is not supported"},
	        {"a: !!int x\n", "line 1, column 4: a scalar that is not of its tag's type"},
	        {"a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate mapping key"},
	        {"1: x\n", "line 1, column 1: a mapping key must be a string (quote it)"},
	        {"? [a]\n: x\n", "line 1, column 3: a mapping key must be a string, not a collection"},
	        {"--- 1\n--- 2\n", "line 2, column 1: more than one document"},
	        {"a: .inf\n", "line 1, column 4: a number JSON cannot hold (out of range, infinite or NaN): quote it"},
	        {"a: 99999999999999999999\n",
	         "line 1, column 4: a number JSON cannot hold (out of range, infinite or NaN): quote it"},
	        {"a: [1, 2\n", "line 2, column 1: did not find expected ',' or ']' while parsing a flow sequence"},
	        {"\"a\\0b\": 1\n", "line 1, column 1: a mapping key holds a NUL character"},
	        {"# only a comment\n", "the text holds no document"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		assert_parse_refused(cases[i].text, strlen(cases[i].text), cases[i].message);
}

static void test_parse_bounds(void **state)
{
	(void)state;
	char *big = portico_malloc(FLOW_MAX_BYTES + 2);
	memset(big, ' ', FLOW_MAX_BYTES + 1);
	big[FLOW_MAX_BYTES + 1] = '\0';
	assert_parse_refused(big, FLOW_MAX_BYTES + 1, "a definition of 1048577 bytes is over the limit of 1048576");
	free(big);

	char deep[4 * FLOW_MAX_DEPTH + 8], *p = deep;
	for (int i = 0; i <= FLOW_MAX_DEPTH; i++)
		*p++ = '[';
	for (int i = 0; i <= FLOW_MAX_DEPTH; i++)
		*p++ = ']';
	*p = '\0';
	assert_parse_refused(deep, strlen(deep), "nested deeper than 64 levels or more than 50000 nodes");
	/* As YAML (a leading blank line is not JSON's business either way). */
	p = deep;
	for (int i = 0; i <= FLOW_MAX_DEPTH; i++)
		p += sprintf(p, "- ");
	sprintf(p, "1");
	assert_parse_refused(deep, strlen(deep), "line 1, column 129: nested deeper than 64 levels");

	/* 50001 nodes: the array and 50000 items, as JSON and as YAML. */
	char *wide = portico_malloc(2 * FLOW_MAX_NODES + 8);
	p = wide + sprintf(wide, "[0");
	for (int i = 1; i < FLOW_MAX_NODES; i++)
		p += sprintf(p, ",0");
	sprintf(p, "]");
	char *message;
	assert_null(parse_text(wide, strlen(wide), &message));
	assert_string_equal(message, "nested deeper than 64 levels or more than 50000 nodes");
	free(message);
	p = wide;
	for (int i = 0; i < FLOW_MAX_NODES; i++)
		p += sprintf(p, "-\n");
	assert_null(parse_text(wide, strlen(wide), &message));
	assert_string_equal(message, "line 50000, column 2: more than 50000 nodes");
	free(message);
	free(wide);

	/* A tree that did not come from flow_parse (an inline definition) is bounded by flow_validate. */
	json_t *tree = json_array();
	json_t *inner = tree;
	for (int i = 0; i < FLOW_MAX_DEPTH; i++) {
		json_t *next = json_array();
		json_array_append_new(inner, next);
		inner = next;
	}
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_validate(tree, NULL, &err), -1);
	assert_string_equal(err.message, "nested deeper than 64 levels or more than 50000 nodes");
	portico_error_clear(&err);
	json_decref(tree);
}

/* Documents shaped like the specification's examples (written for these tests), and one that uses
 * every field Portico supports. */
static void test_valid_documents(void **state)
{
	(void)state;
	static const char *const documents[] = {
	        /* call http, export, then */
	        "document:\n  dsl: '1.0.3'\n  namespace: examples\n  name: homeworld\n  version: '1.0.0'\n"
	        "input:\n  schema:\n    format: json\n    document:\n      type: object\n      required: [id]\n"
	        "      properties:\n        id: {type: integer, minimum: 1, description: the id}\n"
	        "do:\n  - getCharacter:\n      call: http\n      with:\n        method: get\n"
	        "        endpoint: https://example.com/api/people/{id}\n        output: response\n"
	        "      export:\n        as:\n          home: ${ .content.homeworld }\n"
	        "  - getHome:\n      call: http\n      with:\n        method: GET\n"
	        "        endpoint:\n          uri: ${ $context.home }\n        headers: {accept: application/json}\n"
	        "        query: '${ {page: 1} }'\n        redirect: true\n",
	        /* switch with then targets after it, for with while, fork compete */
	        HEAD "do:\n  - route:\n      switch:\n        - big:\n            when: .size > 10\n"
	             "            then: large\n        - fallback:\n            then: small\n"
	             "  - small:\n      set: {kind: small}\n      then: exit\n"
	             "  - large:\n      for:\n        each: pet\n        in: .pets\n        at: i\n"
	             "      while: $i < 5\n      do:\n        - check:\n            set: '${ {id: $pet.id} }'\n"
	             "  - race:\n      fork:\n        compete: true\n        branches:\n"
	             "          - a: {wait: PT1S}\n          - b: {wait: {seconds: 2, milliseconds: 5}}\n"
	             "          - c: {wait: '${ .delay }'}\n",
	        /* listen, raise of a use.errors name, try/catch with a reusable retry, run: workflow */
	        HEAD
	        "use:\n  errors:\n    notFound:\n      type: https://example.com/errors/not-found\n"
	        "      status: 404\n      title: Not found\n      detail: ${ \"missing \\(.id)\" }\n"
	        "  retries:\n    default:\n      delay: {seconds: 3}\n      backoff: {exponential: {}}\n"
	        "      limit: {attempt: {count: 5, duration: PT1M}, duration: PT10M}\n"
	        "      jitter: {from: PT0.1S, to: PT1S}\n  timeouts:\n    short: {after: PT30S}\n"
	        "do:\n  - vitals:\n      listen:\n        to:\n          all:\n            - with: {type: com.x.temp, "
	        "data: '${ .t > 38 }'}\n            - with: {type: com.x.bpm}\n        read: envelope\n"
	        "  - anyOf:\n      listen:\n        to:\n          any: []\n          until: ( . | length ) > 3\n"
	        "  - guarded:\n      timeout: short\n      try:\n        - get:\n            call: http\n"
	        "            with: {method: get, endpoint: 'https://example.com/pet'}\n"
	        "      catch:\n        errors:\n          with: {type: https://example.com/errors/x, status: 503}\n"
	        "        as: failure\n        when: $failure.status == 503\n        retry: default\n"
	        "        do:\n          - note:\n              set: {error: '${ $failure }'}\n"
	        "  - child:\n      run:\n        workflow: {namespace: test, name: child, version: 0.1.0, "
	        "input: {id: .id}}\n  - fail:\n      raise:\n        error: notFound\n",
	        /* functions (activity and http), emit with workflowid, compensation, inline raise, timeout */
	        HEAD
	        "use:\n  functions:\n    charge:\n      call: activity\n      with:\n        type: payments.charge\n"
	        "        taskQueue: payments\n        arguments: ['${ .order }', 2]\n"
	        "        startToCloseTimeout: PT10S\n        retry: {limit: {attempt: {count: 3}}}\n"
	        "    refund:\n      call: activity\n      with: {type: payments.refund}\n"
	        "    lookup:\n      input:\n        from: .order\n      call: http\n"
	        "      with: {method: post, endpoint: 'https://example.com/lookup', body: {id: '${ .id }'}}\n"
	        "timeout:\n  after: {hours: 1}\n"
	        "do:\n  - pay:\n      call: charge\n      with: {amount: '${ .total }'}\n"
	        "      x-portico-compensate:\n        - undo:\n            call: refund\n"
	        "      metadata: {owner: billing}\n"
	        "  - tell:\n      if: .notify\n      emit:\n        event:\n          with:\n"
	        "            type: com.shop.paid\n            source: https://shop.example.com\n"
	        "            workflowid: ${ .parent }\n            data: {total: '${ .total }'}\n"
	        "  - stop:\n      if: .total > 1000\n      raise:\n        error:\n"
	        "          type: https://example.com/errors/too-much\n          status: 400\n"
	        "      then: end\n  - nested:\n      do:\n        - inner: {wait: P1DT2H}\n"
	        "output:\n  as: '${ {paid: true} }'\n",
	        /* JSON */
	        "{\"document\": {\"dsl\": \"1.0.1\", \"namespace\": \"test\", \"name\": \"json\", \"version\": "
	        "\"2.0.0-rc.1+build.5\"}, \"do\": [{\"hello\": {\"set\": {\"message\": \"hi\"}}}]}",
	};
	for (size_t i = 0; i < sizeof documents / sizeof *documents; i++) {
		char *message = refusal(documents[i]);
		if (message)
			fail_msg("document %zu refused: %s", i, message);
	}
}

static void test_refusals_name_the_path(void **state)
{
	(void)state;
	static const struct {
		const char *text, *message;
	} cases[] = {
	        {"do: []\n", "/: missing field \"document\""},
	        {HEAD, "/: missing field \"do\""},
	        {HEAD "do: []\n", "/do: expected a non-empty list of tasks, each a map of one name to its task"},
	        {HEAD "do:\n  - a: {set: {x: 1}}\n    b: {set: {x: 1}}\n",
	         "/do/0: expected a map of one name to its task"},
	        {HEAD "do:\n  - a: {set: {x: 1}}\n  - a: {set: {x: 2}}\n",
	         "/do/1: a second task named \"a\" in this list (task 0 has the name)"},
	        {HEAD "do:\n  - end: {set: {x: 1}}\n", "/do/0: a task cannot be named \"end\""},
	        {HEAD "extra: 1\ndo:\n  - a: {set: {x: 1}}\n",
	         "/: unknown field \"extra\" (allowed here: document, input, use, do, timeout, output, schedule)"},
	        {"document: {dsl: '0.8', namespace: test, name: t, version: '1.0.0'}\ndo:\n  - a: {set: {x: 1}}\n",
	         "/document/dsl: expected a DSL version 1.0.x (Portico runs Serverless Workflow 1.0)"},
	        {"document: {dsl: '1.0.0', namespace: test_ns, name: t, version: '1.0.0'}\ndo:\n  - a: {set: {x: 1}}\n",
	         "/document/namespace: expected a name of 1 to 63 letters, digits and '-', not starting or ending "
	         "with '-'"},
	        {"document: {dsl: '1.0.0', namespace: test, name: t, version: '1.0'}\ndo:\n  - a: {set: {x: 1}}\n",
	         "/document/version: expected a semantic version (e.g. 1.0.0)"},
	        {"document: {dsl: '1.0.0', namespace: test, name: t, version: 01.0.0}\ndo:\n  - a: {set: {x: 1}}\n",
	         "/document/version: expected a semantic version (e.g. 1.0.0)"},
	        {HEAD "schedule: {every: PT1M}\ndo:\n  - a: {set: {x: 1}}\n",
	         "/schedule: not supported yet: start flows through the gateway (or a Temporal schedule of the flow)"},
	        {HEAD "use: {secrets: [a]}\ndo:\n  - a: {set: {x: 1}}\n", "/use/secrets: not supported by Portico"},
	        {HEAD "use: {authentications: {a: {}}}\ndo:\n  - a: {set: {x: 1}}\n",
	         "/use/authentications: not supported by Portico"},
	        {HEAD "do:\n  - a: {sett: {x: 1}}\n",
	         "/do/0/a: expected a task: an object with one of call, do, emit, for, fork, listen, raise, run, set, "
	         "switch, try, wait"},
	        {HEAD "do:\n  - a: {set: {x: 1}, wait: PT1S}\n",
	         "/do/0/a: unknown field \"wait\" (allowed here: set, if, input, output, export, timeout, then, "
	         "metadata, x-portico-compensate)"},
	        {HEAD "do:\n  - a: {set: {}}\n", "/do/0/a/set: expected at least one field to set"},
	        {HEAD "do:\n  - a: {set: .x}\n", "/do/0/a/set: expected an object or a runtime expression"},
	        {HEAD "use:\n  functions:\n    charge: {call: activity, with: {type: c}}\n    refund: {call: activity, "
	              "with: {type: r}}\ndo:\n  - a: {set: {x: 1}}\n  - b: {set: {x: 1}}\n  - c: {set: {x: 1}}\n"
	              "  - charge:\n      call: chrage\n",
	         "/do/3/charge/call: unknown function \"chrage\" (use.functions defines: charge, refund)"},
	        {HEAD "do:\n  - a: {call: pay}\n",
	         "/do/0/a/call: unknown function \"pay\" (use.functions defines none)"},
	        {HEAD "use:\n  functions:\n    f: {call: g}\n    g: {call: activity, with: {type: x}}\ndo:\n"
	              "  - a: {call: f}\n",
	         "/use/functions/f/call: a function calls http or activity, not another function"},
	        {HEAD "use:\n  functions:\n    http: {call: activity, with: {type: x}}\ndo:\n  - a: {call: http}\n",
	         "/use/functions/http: a function cannot be named \"http\" (call: http means the built-in call)"},
	        {HEAD "do:\n  - a: {call: grpc, with: {}}\n",
	         "/do/0/a/call: call: grpc is not supported by Portico (it calls http, activity and use.functions)"},
	        {HEAD "do:\n  - a: {call: http}\n", "/do/0/a: missing field \"with\" (the arguments of call: http)"},
	        {HEAD "do:\n  - a: {call: http, with: {method: fetch, endpoint: 'https://x.org'}}\n",
	         "/do/0/a/with/method: expected an HTTP method: get, post, put, patch, delete, head or options"},
	        {HEAD "do:\n  - a: {call: http, with: {method: get, endpoint: x.org/y}}\n",
	         "/do/0/a/with/endpoint: expected a URI (scheme://…, may be a template) or a runtime expression"},
	        {HEAD "do:\n  - a: {call: http, with: {method: get, endpoint: {uri: 'https://x.org', authentication: "
	              "{use: x}}}}\n",
	         "/do/0/a/with/endpoint/authentication: not supported by Portico"},
	        {HEAD "do:\n  - a: {call: http, with: {method: get, endpoint: 'https://x.org', output: body}}\n",
	         "/do/0/a/with/output: expected content, response or raw"},
	        {HEAD "do:\n  - a: {call: http, with: {method: get, endpoint: 'https://x.org', headers: {a: 1}}}\n",
	         "/do/0/a/with/headers/a: expected a string"},
	        {HEAD "do:\n  - a: {call: activity, with: {taskQueue: q}}\n", "/do/0/a/with: missing field \"type\""},
	        {HEAD "do:\n  - a: {call: activity, with: {type: t, arguments: {a: 1}}}\n",
	         "/do/0/a/with/arguments: expected a list of arguments"},
	        {HEAD "do:\n  - a: {call: activity, with: {type: t, heartbeatTimeout: 10}}\n",
	         "/do/0/a/with/heartbeatTimeout: expected a duration: an ISO 8601 string such as \"PT30S\" or "
	         "\"P1DT2H\" (no years or months), or an object of non-negative integers days, hours, minutes, "
	         "seconds, milliseconds; at most 3162240000000 ms"},
	        {HEAD "do:\n  - a: {wait: P1Y}\n",
	         "/do/0/a/wait: expected a duration: an ISO 8601 string such as \"PT30S\" or \"P1DT2H\" (no years or "
	         "months), or an object of non-negative integers days, hours, minutes, seconds, milliseconds; at most "
	         "3162240000000 ms"},
	        {HEAD "do:\n  - a: {wait: '${ .delay + }'}\n", "/do/0/a/wait: syntax error, unexpected $end at line 1"},
	        {HEAD "do:\n  - a:\n      for: {in: .xs}\n      do:\n        - b: {set: {x: '${ $pet }'}}\n",
	         "/do/0/a/do/0/b/set/x: $pet is not defined at line 1"},
	        {HEAD "do:\n  - a: {set: {x: 1}, then: a}\n",
	         "/do/0/a/then: \"a\" is at or before this task: a cycle (loop with for or while instead)"},
	        {HEAD "do:\n  - a: {set: {x: 1}}\n  - b: {set: {x: 1}, then: a}\n",
	         "/do/1/b/then: \"a\" is at or before this task: a cycle (loop with for or while instead)"},
	        {HEAD "do:\n  - a: {set: {x: 1}, then: c}\n  - b: {set: {x: 1}}\n",
	         "/do/0/a/then: unknown task \"c\" (tasks here: a, b)"},
	        {HEAD "do:\n  - a:\n      switch:\n        - x: {when: .a, then: a}\n",
	         "/do/0/a/switch/0/x/then: \"a\" is at or before this task: a cycle (loop with for or while instead)"},
	        {HEAD "do:\n  - a:\n      switch:\n        - x: {when: .a}\n",
	         "/do/0/a/switch/0/x: missing field \"then\""},
	        {HEAD "do:\n  - a:\n      switch:\n        - x: {then: end, otherwise: 1}\n",
	         "/do/0/a/switch/0/x: unknown field \"otherwise\" (allowed here: when, then)"},
	        {HEAD "do:\n  - a:\n      for: {each: 1x, in: .items}\n      do:\n        - b: {set: {x: 1}}\n",
	         "/do/0/a/for/each: expected a variable name (letters, digits and _, not starting with a digit)"},
	        {HEAD "do:\n  - a:\n      for: {each: x}\n      do:\n        - b: {set: {x: 1}}\n",
	         "/do/0/a/for: missing field \"in\""},
	        {HEAD "do:\n  - a:\n      fork:\n        branches: []\n",
	         "/do/0/a/fork/branches: expected a non-empty list of tasks, each a map of one name to its task"},
	        {HEAD "do:\n  - a:\n      listen:\n        to: {one: {with: {type: x}}, any: []}\n",
	         "/do/0/a/listen/to: expected exactly one of one, all, any"},
	        {HEAD "do:\n  - a:\n      listen:\n        to: {one: {with: {}}}\n",
	         "/do/0/a/listen/to/one/with: expected an object of event attributes (type, source, data, …)"},
	        {HEAD "do:\n  - a:\n      listen:\n        to: {all: [{with: {type: x}, correlate: {}}]}\n",
	         "/do/0/a/listen/to/all/0/correlate: not supported by Portico"},
	        {HEAD "do:\n  - a:\n      listen:\n        to: {one: {with: {type: x}}}\n        read: body\n",
	         "/do/0/a/listen/read: expected data, envelope or raw"},
	        {HEAD "do:\n  - a:\n      emit:\n        event:\n          with: {type: x}\n",
	         "/do/0/a/emit/event/with: missing field \"workflowid\" (the extension attribute naming the workflow "
	         "to signal)"},
	        {HEAD "do:\n  - a:\n      emit:\n        event:\n          with: {workflowid: w}\n",
	         "/do/0/a/emit/event/with: missing field \"type\""},
	        {HEAD "do:\n  - a:\n      raise:\n        error: nope\n",
	         "/do/0/a/raise/error: unknown error \"nope\" (use.errors defines none)"},
	        {HEAD "do:\n  - a:\n      raise:\n        error: {type: not-a-uri, status: 400}\n",
	         "/do/0/a/raise/error/type: expected a URI (scheme://…) or a runtime expression"},
	        {HEAD "do:\n  - a:\n      raise:\n        error: {type: 'https://x.org/e', status: '400'}\n",
	         "/do/0/a/raise/error/status: expected an integer"},
	        {HEAD "do:\n  - a:\n      try:\n        - b: {set: {x: 1}}\n", "/do/0/a: missing field \"catch\""},
	        {HEAD "do:\n  - a:\n      try:\n        - b: {set: {x: 1}}\n      catch:\n        retry: often\n",
	         "/do/0/a/catch/retry: unknown retry policy \"often\" (use.retries defines none)"},
	        {HEAD "do:\n  - a:\n      try:\n        - b: {set: {x: 1}}\n      catch:\n        retry:\n"
	              "          backoff: {constant: {}, linear: {}}\n",
	         "/do/0/a/catch/retry/backoff: expected exactly one of constant, linear, exponential"},
	        {HEAD "do:\n  - a:\n      try:\n        - b: {set: {x: 1}}\n      catch:\n        retry:\n"
	              "          limit: {attempt: {count: 0}}\n",
	         "/do/0/a/catch/retry/limit/attempt/count: expected a positive integer"},
	        {HEAD "do:\n  - a:\n      try:\n        - b: {set: {x: 1}}\n      catch:\n        retry:\n"
	              "          jitter: {from: PT1S}\n",
	         "/do/0/a/catch/retry/jitter: missing field \"to\""},
	        {HEAD "do:\n  - a:\n      try:\n        - b: {set: {x: 1}}\n      catch:\n        errors:\n"
	              "          with: {}\n",
	         "/do/0/a/catch/errors/with: expected at least one of type, status, instance, title, details"},
	        {HEAD "do:\n  - a:\n      run:\n        shell: {command: ls}\n", "/do/0/a/run/shell: not supported by "
	                                                                         "Portico"},
	        {HEAD "do:\n  - a:\n      run:\n        await: false\n", "/do/0/a/run: missing field \"workflow\""},
	        {HEAD "do:\n  - a:\n      run:\n        workflow: {namespace: test, name: c}\n",
	         "/do/0/a/run/workflow: missing field \"version\""},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      timeout: slow\n",
	         "/do/0/a/timeout: unknown timeout \"slow\" (use.timeouts defines none)"},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      timeout: {after: PT1S, before: PT2S}\n",
	         "/do/0/a/timeout: unknown field \"before\" (allowed here: after)"},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      input: {schema: {format: xml, document: {}}}\n",
	         "/do/0/a/input/schema/format: expected \"json\" (the one schema format Portico validates)"},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      output: {schema: {resource: {endpoint: 'https://x'}}}\n",
	         "/do/0/a/output/schema/resource: not supported by Portico"},
	        {HEAD "input:\n  schema:\n    document: {type: object, properties: {id: {$ref: '#/x'}}}\ndo:\n"
	              "  - a: {set: {x: 1}}\n",
	         "/input/schema/document/properties/id/$ref: unsupported keyword \"$ref\" (supported: type, "
	         "properties, required, additionalProperties, items, enum, const, minimum, maximum, exclusiveMinimum, "
	         "exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern, anyOf, oneOf, allOf, not)"},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      x-portico-compensate: {undo: {set: {x: 0}}}\n",
	         "/do/0/a/x-portico-compensate: expected a non-empty list of tasks, each a map of one name to its "
	         "task"},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      metadata: 1\n", "/do/0/a/metadata: expected an object"},
	        {HEAD "do:\n  - a:\n      set: {x: 1}\n      if: 1\n", "/do/0/a/if: expected a runtime expression (a "
	                                                               "string)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *message = refusal(cases[i].text);
		if (!message)
			fail_msg("case %zu accepted:\n%s", i, cases[i].text);
		if (strcmp(message, cases[i].message))
			fail_msg("case %zu:\n got      %s\n expected %s", i, message, cases[i].message);
		free(message);
	}
}

static void test_expressions_are_bounded(void **state)
{
	(void)state;
	size_t length = FLOW_MAX_EXPRESSION + 1;
	char *expression = portico_malloc(length + 1);
	memset(expression, ' ', length);
	memcpy(expression, "${ .", 4);
	expression[length - 1] = '}';
	expression[length] = '\0';
	char *text = portico_sprintf(HEAD "do:\n  - a:\n      set: {x: '%s'}\n", expression);
	char *message = refusal(text);
	assert_non_null(message);
	assert_string_equal(message, "/do/0/a/set/x: an expression longer than 4096 bytes");
	free(message);
	free(text);
	expression[length - 2] = '}';
	expression[length - 1] = '\0';
	text = portico_sprintf(HEAD "do:\n  - a:\n      set: {x: '%s'}\n", expression);
	assert_null(refusal(text));
	free(text);
	free(expression);
}

/* Each distinct expression is compiled once (tens of milliseconds with jq 1.6), and a definition
 * holds at most FLOW_MAX_EXPRESSIONS of them. */
static void test_expressions_are_counted(void **state)
{
	(void)state;
	char *text = portico_strdup(HEAD "do:\n");
	for (int i = 0; i < 2 * FLOW_MAX_EXPRESSIONS; i++) {
		char *longer = portico_sprintf("%s  - t%d: {set: {x: '${ .a + 1 }'}}\n", text, i);
		free(text);
		text = longer;
	}
	assert_null(refusal(text));
	free(text);
	text = portico_strdup(HEAD "do:\n");
	for (int i = 0; i <= FLOW_MAX_EXPRESSIONS; i++) {
		char *longer = portico_sprintf("%s  - t%d: {set: {x: '${ .a + %d }'}}\n", text, i, i);
		free(text);
		text = longer;
	}
	char *message = refusal(text);
	assert_non_null(message);
	assert_string_equal(message,
	                    "/do/256/t256/set/x: more than 256 distinct runtime expressions in one definition");
	free(message);
	free(text);
}

/* Expressions are compiled together when the walk ends, per set of bound names, yet the refusal is
 * the one met first in the document: an expression before a refusal of another kind, or before a
 * bad expression that sees other names. */
static void test_expression_refusals_come_in_document_order(void **state)
{
	(void)state;
	static const struct {
		const char *text, *message;
	} cases[] = {
	        {HEAD "do:\n  - a: {set: {x: '${ .a + }'}}\n  - b: {set: 1}\n",
	         "/do/0/a/set/x: syntax error, unexpected $end at line 1"},
	        {HEAD "do:\n  - a: {set: {x: '${ .a }'}}\n  - b: {set: 1}\n",
	         "/do/1/b/set: expected an object or a runtime expression"},
	        {HEAD "do:\n  - a:\n      for: {in: .xs}\n      do:\n        - b: {set: {x: '${ $item | $pet }'}}\n"
	              "  - c: {set: {x: '${ .a + }'}}\n",
	         "/do/0/a/do/0/b/set/x: $pet is not defined at line 1"},
	        {HEAD "do:\n  - c: {set: {x: '${ .a + }'}}\n  - a:\n      for: {in: .xs}\n      do:\n"
	              "        - b: {set: {x: '${ $item | $pet }'}}\n",
	         "/do/0/c/set/x: syntax error, unexpected $end at line 1"},
	        /* The same text seen first without names, then with: each set compiles it. */
	        {HEAD
	         "do:\n  - c: {set: {x: '${ 1 }'}}\n  - a:\n      for: {in: .xs}\n      do:\n"
	         "        - b: {set: {x: '${ 1 }', y: '${ $index | $item.z }'}}\n  - d: {set: {x: '${ $item }'}}\n",
	         "/do/2/d/set/x: $item is not defined at line 1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *message = refusal(cases[i].text);
		if (!message)
			fail_msg("case %zu accepted:\n%s", i, cases[i].text);
		if (strcmp(message, cases[i].message))
			fail_msg("case %zu:\n got      %s\n expected %s", i, message, cases[i].message);
		free(message);
	}
}

/* What made loading slow (some 35 ms of jq 1.6 per compile, seconds for a definition) stays gone:
 * 200 distinct expressions, with and without bound names, load in well under a second of CPU
 * (compiled one by one they took some 7 s). CPU time, not wall time: the machine is shared. */
static void test_many_expressions_load_quickly(void **state)
{
	(void)state;
	char *text = portico_strdup(HEAD "do:\n");
	for (int i = 0; i < 100; i++) {
		char *longer = portico_sprintf(
		        "%s  - t%d: {set: {x: '${ .a + %d }', y: '${ [.b[] | select(. > %d)] }'}}\n", text, i, i, i);
		free(text);
		text = longer;
	}
	char *longer = portico_sprintf("%s  - loop:\n      for: {in: .xs}\n      do:\n", text);
	free(text);
	text = longer;
	for (int i = 0; i < 50; i++) {
		longer = portico_sprintf("%s        - u%d: {set: {x: '${ $item + %d }'}}\n", text, i, i);
		free(text);
		text = longer;
	}
	struct timespec start, end;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
	char *message = refusal(text);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
	if (message)
		fail_msg("refused: %s", message);
	double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	if (seconds >= 1.0)
		fail_msg("200 expressions took %.3f s of CPU to load", seconds);
	free(text);
}

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		int64_t ms;
	} cases[] = {
	        {"\"PT30S\"", 30000},
	        {"\"P1DT2H\"", 93600000},
	        {"\"PT0.5S\"", 500},
	        {"\"P2W\"", 1209600000},
	        {"\"PT1M1S\"", 61000},
	        {"\"P1Y\"", -1},
	        {"\"P1M\"", -1},
	        {"\"PT\"", -1},
	        {"\"P\"", -1},
	        {"\"PT1S1M\"", -1},
	        {"\"PT1.S\"", -1},
	        {"\"PT1e3S\"", -1},
	        {"\"PT1.5e3S\"", -1},
	        {"\"1S\"", -1},
	        {"\"P1DT\"", -1},
	        {"\"P99999999999D\"", -1},
	        {"{\"seconds\": 2, \"milliseconds\": 5}", 2005},
	        {"{\"days\": 1}", 86400000},
	        {"{}", -1},
	        {"{\"seconds\": -1}", -1},
	        {"{\"weeks\": 1}", -1},
	        {"{\"seconds\": 1.5}", -1},
	        {"3", -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *duration = parse(cases[i].json);
		if (flow_duration_ms(duration) != cases[i].ms)
			fail_msg("%s: %lld, expected %lld", cases[i].json, (long long)flow_duration_ms(duration),
			         (long long)cases[i].ms);
		json_decref(duration);
	}
}

static char *schema_refusal(const char *schema_json)
{
	json_t *schema = parse(schema_json);
	portico_error err = PORTICO_ERROR_INIT;
	char *message = flow_schema_check(schema, &err) ? portico_strdup(err.message) : NULL;
	portico_error_clear(&err);
	json_decref(schema);
	return message;
}

static void test_schema_check_refuses_what_it_cannot_assert(void **state)
{
	(void)state;
	static const struct {
		const char *schema, *message;
	} cases[] = {
	        {"{\"type\": \"text\"}", "/type: expected a type name or a non-empty list of them (null, boolean, "
	                                 "object, array, number, integer, string)"},
	        {"{\"properties\": {\"a\": {\"minLength\": -1}}}", "/properties/a/minLength: expected a non-negative "
	                                                           "integer"},
	        {"{\"items\": {\"pattern\": \"^\\\\d+$\"}}", "/items/pattern: \\d is not POSIX: write [0-9]"},
	        {"{\"pattern\": \"(a)\\\\1\"}", "/pattern: back-references are not supported"},
	        {"{\"pattern\": \"(\"}", "/pattern: not a POSIX extended regular expression"},
	        {"{\"anyOf\": []}", "/anyOf: expected a non-empty list of schemas"},
	        {"{\"oneOf\": [true, 3]}", "/oneOf/1: expected a schema (an object or a boolean)"},
	        {"{\"patternProperties\": {}}",
	         "/patternProperties: unsupported keyword \"patternProperties\" (supported: type, properties, "
	         "required, additionalProperties, items, enum, const, minimum, maximum, exclusiveMinimum, "
	         "exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern, anyOf, oneOf, allOf, not)"},
	        {"{\"required\": [1]}", "/required: expected a list of property names"},
	        {"{\"enum\": []}", "/enum: expected a non-empty list"},
	        {"{\"maximum\": \"3\"}", "/maximum: expected a number"},
	        {"[]", ": expected a schema (an object or a boolean)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *message = schema_refusal(cases[i].schema);
		if (!message)
			fail_msg("accepted %s", cases[i].schema);
		assert_string_equal(message, cases[i].message);
		free(message);
	}
	assert_null(schema_refusal("{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"title\": \"t\", "
	                           "\"format\": \"email\", \"type\": [\"string\", \"null\"], \"default\": null}"));
}

/* NULL when value matches schema, else the message (the caller frees). */
static char *mismatch(const char *schema_json, const char *value_json)
{
	json_t *schema = parse(schema_json), *value = parse(value_json);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_schema_check(schema, &err), 0);
	char *message = flow_schema_validate(schema, value, "input", &err) ? portico_strdup(err.message) : NULL;
	portico_error_clear(&err);
	json_decref(schema);
	json_decref(value);
	return message;
}

static void test_schema_validation_names_the_instance_path(void **state)
{
	(void)state;
	static const char order[] =
	        "{\"type\": \"object\", \"required\": [\"orderId\"], \"additionalProperties\": false, \"properties\": {"
	        "\"orderId\": {\"type\": \"string\", \"minLength\": 2, \"maxLength\": 4, \"pattern\": \"^o-[0-9]+$\"},"
	        "\"items\": {\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"object\", \"properties\": {"
	        "\"qty\": {\"type\": \"integer\", \"minimum\": 1, \"exclusiveMaximum\": 100}}}},"
	        "\"kind\": {\"enum\": [\"a\", 2]}, \"v\": {\"const\": 1},"
	        "\"id\": {\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}]},"
	        "\"one\": {\"oneOf\": [{\"minimum\": 0}, {\"maximum\": 10}]},"
	        "\"no\": {\"not\": {\"type\": \"null\"}}, \"all\": {\"allOf\": [{\"minimum\": 1}, {\"maximum\": 2}]}}}";
	static const struct {
		const char *value, *message;
	} cases[] = {
	        {"{\"orderId\": \"o-1\", \"items\": [{\"qty\": 3.0}], \"kind\": 2.0, \"v\": 1.0, \"id\": 5, \"one\": "
	         "-1, "
	         "\"no\": 1, \"all\": 2}",
	         NULL},
	        {"[]", "input: expected an object"},
	        {"{}", "input: the required property \"orderId\" is missing"},
	        {"{\"orderId\": 7}", "input/orderId: expected a string"},
	        {"{\"orderId\": \"o-12345\"}", "input/orderId: expected at most 4 characters, not 7"},
	        {"{\"orderId\": \"é\"}", "input/orderId: expected at least 2 characters, not 1"},
	        {"{\"orderId\": \"o-x\"}", "input/orderId: does not match the pattern ^o-[0-9]+$"},
	        {"{\"orderId\": \"o-1\", \"extra\": 1}", "input/extra: an unexpected property"},
	        {"{\"orderId\": \"o-1\", \"items\": []}", "input/items: expected at least 1 items, not 0"},
	        {"{\"orderId\": \"o-1\", \"items\": [{\"qty\": 1}, {\"qty\": 1.5}]}", "input/items/1/qty: expected an "
	                                                                              "integer"},
	        {"{\"orderId\": \"o-1\", \"items\": [{\"qty\": 100}]}", "input/items/0/qty: 100 is not less than 100"},
	        {"{\"orderId\": \"o-1\", \"items\": [{\"qty\": 0}]}", "input/items/0/qty: 0 is not at least 1"},
	        {"{\"orderId\": \"o-1\", \"kind\": \"b\"}",
	         "input/kind: not one of the values the schema's enum lists"},
	        {"{\"orderId\": \"o-1\", \"v\": 2}", "input/v: not the schema's const value"},
	        {"{\"orderId\": \"o-1\", \"id\": true}", "input/id: matches none of anyOf's schemas"},
	        {"{\"orderId\": \"o-1\", \"one\": 5}",
	         "input/one: matches more than one of oneOf's schemas, not exactly "
	         "one"},
	        {"{\"orderId\": \"o-1\", \"no\": null}", "input/no: matches the schema of not"},
	        {"{\"orderId\": \"o-1\", \"all\": 3}", "input/all: 3 is not at most 2"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *message = mismatch(order, cases[i].value);
		if (!cases[i].message && message)
			fail_msg("case %zu refused: %s", i, message);
		if (cases[i].message && !message)
			fail_msg("case %zu accepted", i);
		if (message)
			assert_string_equal(message, cases[i].message);
		free(message);
	}
	char *message = mismatch("false", "1");
	assert_string_equal(message, "input: not allowed (the schema is false)");
	free(message);
	message = mismatch("{\"type\": [\"string\", \"null\"]}", "1");
	assert_string_equal(message, "input: expected one of the types [\"string\",\"null\"]");
	free(message);
}

static void test_schema_validation_is_bounded(void **state)
{
	(void)state;
	/* anyOf of anyOf …, each of whose branches fail late: exponential without a step limit. (The
	 * subschemas are shared, which no parsed document does, so flow_schema_check, linear in the
	 * schema's nodes, is not called on it.) */
	json_t *schema = json_pack("{s:s}", "type", "string");
	for (int i = 0; i < 30; i++)
		schema = json_pack("{s:[o,o,{s:s}]}", "anyOf", json_incref(schema), schema, "type", "null");
	json_t *value = json_integer(1);
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(flow_schema_validate(schema, value, "input", &err), -1);
	assert_string_equal(err.message, "input: the schema takes too many steps (over 100000) to check");
	portico_error_clear(&err);
	json_decref(schema);
	json_decref(value);
}

/* --- The catalog --------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = portico_sprintf("%s/%s", dir, name);
	FILE *file = fopen(path, "w");
	assert_non_null(file);
	fputs(text, file);
	fclose(file);
	free(path);
}

static void remove_dir(const char *dir, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char *path = portico_sprintf("%s/%s", dir, names[i]);
		unlink(path);
		free(path);
	}
	rmdir(dir);
}

static char *flow_text(const char *ns, const char *name, const char *version, const char *body)
{
	return portico_sprintf("document: {dsl: '1.0.0', namespace: %s, name: %s, version: '%s', title: T}\n%s", ns,
	                       name, version, body);
}

static const char simple_body[] = "do:\n  - a: {set: {x: 1}}\n";

/* Loads dir after writing files (name, text) into it; the catalog, or NULL with *message set. */
static flow_catalog *load(char *dir, char **message)
{
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load(dir, &err);
	*message = catalog ? NULL : portico_strdup(err.message);
	portico_error_clear(&err);
	return catalog;
}

static void test_catalog_finds_the_latest_version(void **state)
{
	(void)state;
	char dir[] = "/tmp/portico-flows-XXXXXX";
	assert_non_null(mkdtemp(dir));
	static const char *const names[] = {"a.yaml", "b.yml",     "c.json",      "d.yaml",
	                                    "e.yaml", "notes.txt", ".hidden.yaml"};
	char *texts[] = {
	        flow_text("shop", "order", "1.2.0", simple_body),
	        flow_text("shop", "order", "1.10.0", simple_body),
	        portico_strdup("{\"document\": {\"dsl\": \"1.0.0\", \"namespace\": \"shop\", \"name\": \"order\", "
	                       "\"version\": \"1.10.0-rc.1\"}, \"do\": [{\"a\": {\"set\": {\"x\": 1}}}]}"),
	        flow_text(
	                "other", "refund", "0.1.0",
	                "do:\n  - a:\n      run:\n        workflow: {namespace: shop, name: order, version: 1.2.0}\n"),
	        flow_text("other", "order", "9.0.0", simple_body),
	        portico_strdup("not a flow"),
	        portico_strdup("not: [a flow"),
	};
	for (size_t i = 0; i < 7; i++) {
		write_file(dir, names[i], texts[i]);
		free(texts[i]);
	}
	char *message;
	flow_catalog *catalog = load(dir, &message);
	if (!catalog)
		fail_msg("%s", message);
	const json_t *found = flow_catalog_find(catalog, "shop", "order", NULL);
	assert_non_null(found);
	assert_string_equal(json_string_value(json_object_get(json_object_get(found, "document"), "version")),
	                    "1.10.0");
	found = flow_catalog_find(catalog, "shop", "order", "1.10.0-rc.1");
	assert_non_null(found);
	assert_null(flow_catalog_find(catalog, "shop", "order", "1.3.0"));
	/* Two namespaces have an "order": the namespace must say which. */
	assert_null(flow_catalog_find(catalog, NULL, "order", NULL));
	assert_non_null(flow_catalog_find(catalog, NULL, "refund", NULL));
	assert_null(flow_catalog_find(catalog, NULL, "missing", NULL));
	assert_json_equal(flow_catalog_list(catalog),
	                  "[{\"namespace\":\"shop\",\"name\":\"order\",\"version\":\"1.2.0\",\"dsl\":\"1.0.0\","
	                  "\"title\":\"T\",\"file\":\"a.yaml\"},"
	                  "{\"namespace\":\"shop\",\"name\":\"order\",\"version\":\"1.10.0-rc.1\",\"dsl\":\"1.0.0\","
	                  "\"file\":\"c.json\"},"
	                  "{\"namespace\":\"shop\",\"name\":\"order\",\"version\":\"1.10.0\",\"dsl\":\"1.0.0\","
	                  "\"title\":\"T\",\"file\":\"b.yml\"},"
	                  "{\"namespace\":\"other\",\"name\":\"order\",\"version\":\"9.0.0\",\"dsl\":\"1.0.0\","
	                  "\"title\":\"T\",\"file\":\"e.yaml\"},"
	                  "{\"namespace\":\"other\",\"name\":\"refund\",\"version\":\"0.1.0\",\"dsl\":\"1.0.0\","
	                  "\"title\":\"T\",\"file\":\"d.yaml\"}]");

	/* An inline definition's child is looked up in the catalog. */
	static const char inline_text[] = "document: {dsl: '1.0.0', namespace: x, name: y, version: '1.0.0'}\n"
	                                  "do:\n  - a:\n      run:\n        workflow: {namespace: shop, name: order, "
	                                  "version: 2.0.0}\n";
	json_t *inline_flow = flow_parse(inline_text, strlen(inline_text), NULL);
	portico_error err = PORTICO_ERROR_INIT;
	assert_non_null(inline_flow);
	assert_int_equal(flow_validate(inline_flow, catalog, &err), -1);
	assert_string_equal(err.message,
	                    "/do/0/a/run/workflow: no flow shop/order version 2.0.0 among the loaded flows");
	portico_error_clear(&err);
	assert_int_equal(flow_validate(inline_flow, NULL, &err), 0);
	json_decref(inline_flow);
	flow_catalog_free(catalog);
	remove_dir(dir, names, 7);

	catalog = flow_catalog_new();
	assert_null(flow_catalog_find(catalog, NULL, "order", NULL));
	assert_json_equal(flow_catalog_list(catalog), "[]");
	flow_catalog_free(catalog);
}

static void test_catalog_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *files[3][2];
		const char *message;
	} cases[] = {
	        {{{"a.yaml",
	           "document: {dsl: '1.0.0', namespace: s, name: a, version: '1.0.0'}\ndo:\n  - a: {set: {x: 1}}\n"},
	          {"b.yaml",
	           "document: {dsl: '1.0.0', namespace: s, name: a, version: '1.0.0'}\ndo:\n  - b: {set: {x: 1}}\n"}},
	         "b.yaml: /document: s/a version 1.0.0 is already defined by a.yaml"},
	        {{{"a.yaml", "document: {dsl: '1.0.0', namespace: s, name: a, version: '1.0.0'}\ndo:\n  - a:\n"
	                     "      run: {workflow: {namespace: s, name: b, version: 1.0.0}}\n"},
	          {"b.yaml", "document: {dsl: '1.0.0', namespace: s, name: b, version: '1.0.0'}\ndo:\n  - b:\n"
	                     "      run: {workflow: {namespace: s, name: a, version: 1.0.0}}\n"}},
	         "b.yaml: /do/0/b/run/workflow: a cycle of run: workflow: s/a 1.0.0 -> s/b 1.0.0 -> s/a 1.0.0"},
	        {{{"self.yaml", "document: {dsl: '1.0.0', namespace: s, name: a, version: '1.0.0'}\ndo:\n  - again:\n"
	                        "      run: {workflow: {namespace: s, name: a, version: 1.0.0}}\n"}},
	         "self.yaml: /do/0/again/run/workflow: a cycle of run: workflow: s/a 1.0.0 -> s/a 1.0.0"},
	        {{{"a.yaml", "document: {dsl: '1.0.0', namespace: s, name: a, version: '1.0.0'}\ndo:\n  - a:\n"
	                     "      run: {workflow: {namespace: s, name: gone, version: 1.0.0}}\n"}},
	         "a.yaml: /do/0/a/run/workflow: no flow s/gone version 1.0.0 among the loaded flows"},
	        {{{"a.yaml",
	           "document: {dsl: '1.0.0', namespace: s, name: a, version: '1.0.0'}\ndo:\n  - a: {set: {x: 1}}\n"},
	          {"z.yaml", "document: {dsl: '1.0.0', namespace: s, name: z, version: '1.0.0'}\ndo: []\n"}},
	         "z.yaml: /do: expected a non-empty list of tasks, each a map of one name to its task"},
	        {{{"bad.json", "{\"document\": "}},
	         "bad.json: line 2, column 1: did not find expected node content while "
	         "parsing a flow node"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char dir[] = "/tmp/portico-flows-XXXXXX";
		assert_non_null(mkdtemp(dir));
		const char *names[3];
		size_t count = 0;
		for (; count < 3 && cases[i].files[count][0]; count++) {
			write_file(dir, cases[i].files[count][0], cases[i].files[count][1]);
			names[count] = cases[i].files[count][0];
		}
		char *message;
		flow_catalog *catalog = load(dir, &message);
		if (catalog)
			fail_msg("case %zu loaded", i);
		if (strcmp(message, cases[i].message))
			fail_msg("case %zu:\n got      %s\n expected %s", i, message, cases[i].message);
		free(message);
		remove_dir(dir, names, count);
	}
	char *message;
	assert_null(load("/nonexistent/flows", &message));
	assert_string_equal(message, "cannot read the flows directory /nonexistent/flows: No such file or directory");
	free(message);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_scalars_resolve_by_the_core_schema),
	        cmocka_unit_test(test_json_is_read_as_json),
	        cmocka_unit_test(test_parse_refusals_carry_line_and_column),
	        cmocka_unit_test(test_parse_bounds),
	        cmocka_unit_test(test_valid_documents),
	        cmocka_unit_test(test_refusals_name_the_path),
	        cmocka_unit_test(test_expressions_are_bounded),
	        cmocka_unit_test(test_expressions_are_counted),
	        cmocka_unit_test(test_expression_refusals_come_in_document_order),
	        cmocka_unit_test(test_many_expressions_load_quickly),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_schema_check_refuses_what_it_cannot_assert),
	        cmocka_unit_test(test_schema_validation_names_the_instance_path),
	        cmocka_unit_test(test_schema_validation_is_bounded),
	        cmocka_unit_test(test_catalog_finds_the_latest_version),
	        cmocka_unit_test(test_catalog_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
