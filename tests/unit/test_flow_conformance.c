/* The conformance documents (tests/flows/conformance/, written after the Serverless Workflow
 * specification's examples and conformance features) against flow_validate: each one listed in
 * expected.tsv as supported or partial validates; each one listed as refused is refused, the
 * message starting with the JSON-pointer path of the node it does not support. Every document in
 * the directory has a row, so a document nobody classified fails here. Run from the tree's root,
 * as make check-unit does. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "definition.h"

#define CONFORMANCE  "tests/flows/conformance/"
#define ROWS_MAX     256
#define TSV_LINE_MAX 2048

typedef struct row {
	char file[128];
	char status[16];
	char where[128];
} row;

/* The rows of expected.tsv (comments and blank lines skipped) into rows; returns their count. */
static size_t read_rows(row *rows)
{
	FILE *tsv = fopen(CONFORMANCE "expected.tsv", "r");
	assert_non_null(tsv);
	char line[TSV_LINE_MAX];
	size_t count = 0;
	while (fgets(line, sizeof line, tsv)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_true(count < ROWS_MAX);
		char *file = strtok(line, "\t"), *status = strtok(NULL, "\t"), *where = strtok(NULL, "\t");
		if (!file || !status || !where)
			fail_msg("expected.tsv: a row with fewer than 3 fields: %s", line);
		snprintf(rows[count].file, sizeof rows[count].file, "%s", file);
		snprintf(rows[count].status, sizeof rows[count].status, "%s", status);
		snprintf(rows[count].where, sizeof rows[count].where, "%s", where);
		count++;
	}
	fclose(tsv);
	return count;
}

/* The file's text parsed, or NULL with err set. The caller frees the tree. */
static json_t *parse_file(const char *name, portico_error *err)
{
	char path[256];
	snprintf(path, sizeof path, CONFORMANCE "%s", name);
	FILE *file = fopen(path, "rb");
	if (!file) {
		portico_error_set(err, PORTICO_NOT_FOUND, "cannot open %s", path);
		return NULL;
	}
	char *text = portico_malloc(FLOW_MAX_BYTES);
	size_t len = fread(text, 1, FLOW_MAX_BYTES, file);
	fclose(file);
	json_t *document = flow_parse(text, len, err);
	free(text);
	return document;
}

/* One failure line per document that is not as expected.tsv says, all of them, then the test
 * fails: a table that is out of date shows every row that is wrong at once. */
static void test_documents_as_the_table_says(void **state)
{
	(void)state;
	static row rows[ROWS_MAX];
	size_t count = read_rows(rows);
	portico_error err = PORTICO_ERROR_INIT;
	flow_catalog *catalog = flow_catalog_load(CONFORMANCE "flows", &err);
	if (!catalog)
		fail_msg("flows/: %s", err.message);
	int wrong = 0;
	for (size_t i = 0; i < count; i++) {
		const row *r = &rows[i];
		int refused = !strcmp(r->status, "refused");
		if (!refused && strcmp(r->status, "supported") && strcmp(r->status, "partial"))
			fail_msg("%s: status \"%s\" is none of supported, partial, refused", r->file, r->status);
		json_t *document = parse_file(r->file, &err);
		int status = document ? flow_validate(document, catalog, &err) : -1;
		json_decref(document);
		if (!refused && status) {
			print_error("%s (%s): refused: %s\n", r->file, r->status, err.message);
			wrong++;
		} else if (refused && !status) {
			print_error("%s (refused at %s): validates\n", r->file, r->where);
			wrong++;
		} else if (refused && strncmp(err.message, r->where, strlen(r->where))) {
			print_error("%s: refused at another path than %s: %s\n", r->file, r->where, err.message);
			wrong++;
		}
		portico_error_clear(&err);
	}
	flow_catalog_free(catalog);
	if (wrong)
		fail_msg("%d of %zu conformance documents are not as expected.tsv says", wrong, count);
}

/* Every document in the directory is in the table. */
static void test_every_document_has_a_row(void **state)
{
	(void)state;
	static row rows[ROWS_MAX];
	size_t count = read_rows(rows);
	DIR *dir = opendir(CONFORMANCE);
	assert_non_null(dir);
	for (struct dirent *entry; (entry = readdir(dir));) {
		size_t len = strlen(entry->d_name);
		if (len < 5 || strcmp(entry->d_name + len - 5, ".yaml"))
			continue;
		size_t i = 0;
		while (i < count && strcmp(rows[i].file, entry->d_name))
			i++;
		if (i == count)
			fail_msg("%s is not in expected.tsv", entry->d_name);
	}
	closedir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_documents_as_the_table_says),
	        cmocka_unit_test(test_every_document_has_a_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
