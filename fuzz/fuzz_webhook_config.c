/* Webhook configuration as an operator writes it, and the templates and JSON pointers in it: the
 * input's first byte picks what the rest is. 'c': a webhooks file (PORTICO_WEBHOOKS_FILE), loaded
 * from a file as the gateway loads it, with a catalog of one flow ("greet", for start-flow
 * routes); otherwise a template checked for syntax, and a JSON pointer looked up in a fixed push
 * body. Refusals must carry a message. */
#include <stdint.h>
#include <unistd.h>

#include "fuzz.h"
#include "webhook_config.h"

/* The catalog start-flow routes may name: one flow, "greet", in a folder made for the run. */
static flow_catalog *greet_catalog(void)
{
	static const char flow[] = "document:\n  dsl: '1.0.0'\n  namespace: fuzz\n  name: greet\n  version: '1.0.0'\n"
	                           "do:\n  - hello:\n      set:\n        greeting: hi\n";
	char dir[] = "/tmp/portico-fuzz-flows-XXXXXX";
	if (!mkdtemp(dir))
		fuzz_fail("cannot make a temporary folder", dir);
	char path[sizeof dir + 16];
	snprintf(path, sizeof path, "%s/greet.yaml", dir);
	FILE *file = fopen(path, "w");
	if (!file || fwrite(flow, 1, sizeof flow - 1, file) != sizeof flow - 1)
		fuzz_fail("cannot write the flow", path);
	fclose(file);
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load(dir, &err);
	if (!catalog)
		fuzz_fail("the flow does not load", err.message);
	unlink(path);
	rmdir(dir);
	return catalog;
}

static void load_config(const char *text, size_t size, const flow_catalog *flows)
{
	char path[] = "/tmp/portico-fuzz-webhooks-XXXXXX";
	int file = mkstemp(path);
	if (file < 0)
		fuzz_fail("cannot make a temporary file", path);
	if (write(file, text, size) != (ssize_t)size)
		fuzz_fail("cannot write the temporary file", path);
	close(file);
	portico_error err = PORTICO_ERROR_INIT;
	webhook_set *set = webhook_set_load(path, NULL, flows, &err);
	unlink(path);
	if (!set && !err.message)
		fuzz_fail("a webhooks file refused without a message", NULL);
	webhook_set_free(set);
	portico_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *body;
	static flow_catalog *flows;
	if (!body) {
		flows = greet_catalog();
		/* Secrets named by "env:" read these. */
		setenv("GITHUB_WEBHOOK_SECRET", "fuzz-secret", 1);
		body = json_loads(
		        "{\"ref\":\"refs/heads/main\",\"after\":\"9f2c\",\"repository\":{\"full_name\":\"acme/"
		        "shop\",\"a~b\":[1,{\"c/d\":null}]}}",
		        0, NULL);
	}
	if (!size)
		return 0;
	char *text = fuzz_text(data + 1, size - 1);
	if (data[0] == 'c') {
		load_config(text, size - 1, flows);
	} else {
		portico_error err = PORTICO_ERROR_INIT;
		if (webhook_template_check(text, &err) && !err.message)
			fuzz_fail("a template refused without a message", text);
		portico_error_clear(&err);
		webhook_json_pointer(body, text);
	}
	free(text);
	return 0;
}
