/* Flow definitions (definition.h). Scaffolding: the loader lands with the definitions work. */
#include "definition.h"

#include <stdlib.h>

#include "alloc.h"

struct flow_catalog {
	json_t *documents; /* owned: an array of validated documents */
};

json_t *flow_parse(const char *text, size_t len, portico_error *err)
{
	json_error_t jerr;
	json_t *tree = json_loadb(text, len, 0, &jerr);
	if (!tree)
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "line %d, column %d: %s", jerr.line, jerr.column,
		                  jerr.text);
	return tree;
}

int flow_validate(const json_t *document, const flow_catalog *catalog, portico_error *err)
{
	(void)catalog;
	if (!json_is_object(document) || !json_is_object(json_object_get(document, "document"))) {
		portico_error_set(err, PORTICO_INVALID_ARGUMENT, "/document: expected an object");
		return -1;
	}
	return 0;
}

flow_catalog *flow_catalog_new(void)
{
	flow_catalog *catalog = portico_calloc(1, sizeof *catalog);
	catalog->documents = json_array();
	return catalog;
}

flow_catalog *flow_catalog_load(const char *dir, portico_error *err)
{
	(void)dir;
	(void)err;
	return flow_catalog_new();
}

void flow_catalog_free(flow_catalog *catalog)
{
	if (!catalog)
		return;
	json_decref(catalog->documents);
	free(catalog);
}

const json_t *flow_catalog_find(const flow_catalog *catalog, const char *ns, const char *name, const char *version)
{
	(void)catalog;
	(void)ns;
	(void)name;
	(void)version;
	return NULL;
}

json_t *flow_catalog_list(const flow_catalog *catalog)
{
	(void)catalog;
	return json_array();
}
