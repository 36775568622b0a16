/* Flow definitions as a caller sends them (a file in PORTICO_FLOWS_DIR, an inline definition in a
 * request body): the text is parsed (YAML or JSON) and, when it parses, validated as a Serverless
 * Workflow document; when the document has an input schema that loads, the document itself is
 * validated against it, which exercises the JSON Schema subset with a schema and a value the
 * fuzzer both shaped. Every refusal must carry a message, and validation must not depend on
 * anything but the tree (a second run gives the same verdict). */
#include <stdint.h>

#include "definition.h"
#include "fuzz.h"
#include "schema.h"

static void validate_against_own_schema(const json_t *document)
{
	const json_t *schema =
	        json_object_get(json_object_get(json_object_get(document, "input"), "schema"), "document");
	portico_error err = PORTICO_ERROR_INIT;
	if (!schema || flow_schema_check(schema, &err)) {
		portico_error_clear(&err);
		return;
	}
	if (flow_schema_validate(schema, document, "input", &err) && !err.message)
		fuzz_fail("a value refused by its schema without a message", NULL);
	portico_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	portico_error err = PORTICO_ERROR_INIT;
	json_t *document = flow_parse((const char *)data, size, &err);
	if (!document) {
		if (!err.message)
			fuzz_fail("a text refused without a message", NULL);
		portico_error_clear(&err);
		return 0;
	}
	int first = flow_validate(document, NULL, &err);
	if (first && !err.message)
		fuzz_fail("a document refused without a message", NULL);
	portico_error_clear(&err);
	if (flow_validate(document, NULL, &err) != first)
		fuzz_fail("a document validated twice with two verdicts", err.message);
	portico_error_clear(&err);
	validate_against_own_schema(document);
	json_decref(document);
	return 0;
}
