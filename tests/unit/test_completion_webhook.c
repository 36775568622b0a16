/* Completion webhooks without a server or Temporal: the settings are read or refused by name; a
 * start's target is checked (its URL's syntax, the allowlist's boundaries, private addresses, the
 * headers it may set); a token opens to what it was sealed with and nothing else opens; the
 * signature matches one computed outside Portico; the run id is read from the link header Temporal
 * sends; and the callback attached to a start is the one the endpoint expects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "json_assert.h"

#include "alloc.h"
#include "completion_webhook.h"
#include "json_parse.h"

/* 32 bytes: "portico completion test secret!!" */
#define SECRET       "whsec_cG9ydGljbyBjb21wbGV0aW9uIHRlc3Qgc2VjcmV0ISE="
#define OTHER_SECRET "whsec_YW5vdGhlciBnYXRld2F5LCBhbm90aGVyIHNlY3JldCE="
#define BASE         "http://127.0.0.1:8080"

/* A configuration the test frees with completion_config_free; fails the test when refused. */
static completion_config *config_of(const char *secret, const char *allowed)
{
	completion_config *config;
	portico_error err = PORTICO_ERROR_INIT;
	if (completion_config_load(secret, BASE, allowed, &config, &err))
		fail_msg("configuration refused: %s", err.message);
	assert_non_null(config);
	return config;
}

/* Whether completion_config_load refuses the settings with a message naming setting. */
static void assert_config_refused(const char *secret, const char *base, const char *allowed, const char *setting)
{
	completion_config *config = (completion_config *)1;
	portico_error err = PORTICO_ERROR_INIT;
	if (completion_config_load(secret, base, allowed, &config, &err) != -1)
		fail_msg("accepted secret %s, base %s, allowed %s", secret, base, allowed ? allowed : "(none)");
	assert_null(config);
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	if (!err.message || !strstr(err.message, setting))
		fail_msg("\"%s\" does not name %s", err.message ? err.message : "(no message)", setting);
	portico_error_clear(&err);
}

/* 0 when config accepts the target given as JSON text, else -1 (with a message, checked). */
static int target_check(const completion_config *config, const char *json)
{
	json_t *value = parse(json);
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	int failed = completion_target_parse(config, value, &target, &err);
	if (failed) {
		assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
		assert_non_null(err.message);
	} else {
		assert_string_equal(target.url, json_is_string(value)
		                                        ? json_string_value(value)
		                                        : json_string_value(json_object_get(value, "url")));
		assert_true(json_is_object(target.headers));
	}
	completion_target_clear(&target);
	portico_error_clear(&err);
	json_decref(value);
	return failed;
}

/* The same for a target given as a URL string. */
static int url_check(const completion_config *config, const char *url)
{
	json_t *value = json_string(url);
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	int failed = completion_target_parse(config, value, &target, &err);
	assert_true(!failed || err.message);
	completion_target_clear(&target);
	portico_error_clear(&err);
	json_decref(value);
	return failed;
}

static void assert_urls(const completion_config *config, const char *const *urls, size_t count, int accepted)
{
	for (size_t i = 0; i < count; i++)
		if (url_check(config, urls[i]) != (accepted ? 0 : -1))
			fail_msg("%s should be %s", urls[i], accepted ? "accepted" : "refused");
}

#define ASSERT_ACCEPTED(config, urls) assert_urls(config, urls, sizeof urls / sizeof urls[0], 1)
#define ASSERT_REFUSED(config, urls)  assert_urls(config, urls, sizeof urls / sizeof urls[0], 0)

/* A target the test clears with completion_target_clear; fails the test when refused. */
static completion_target target_of(const completion_config *config, const char *json)
{
	json_t *value = parse(json);
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	if (completion_target_parse(config, value, &target, &err))
		fail_msg("%s refused: %s", json, err.message);
	json_decref(value);
	return target;
}

/* ---- Configuration ----------------------------------------------------------------------------- */

static void test_config_is_off_without_a_secret(void **state)
{
	(void)state;
	completion_config *config = (completion_config *)1;
	assert_int_equal(completion_config_load(NULL, BASE, NULL, &config, NULL), 0);
	assert_null(config);
	config = (completion_config *)1;
	assert_int_equal(completion_config_load("", NULL, "not checked", &config, NULL), 0);
	assert_null(config);
	/* With webhooks off a start that asks for one is told why. */
	json_t *url = json_string("https://hooks.example/done");
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(completion_target_parse(NULL, url, &target, &err), -1);
	assert_non_null(strstr(err.message, "PORTICO_CALLBACK_SECRET"));
	completion_target_clear(&target);
	portico_error_clear(&err);
	json_decref(url);
}

static void test_config_refuses_malformed_settings_by_name(void **state)
{
	(void)state;
	static const char *const secrets[] = {
	        "cG9ydGljbyBjb21wbGV0aW9uIHRlc3Qgc2VjcmV0ISE=", /* no whsec_ */
	        "whsec_",                                       /* no bytes */
	        "whsec_not base64!",                            /* not base64 */
	        "whsec_c2hvcnQgc2VjcmV0",                       /* "short secret": 12 bytes */
	        "WHSEC_cG9ydGljbyBjb21wbGV0aW9uIHRlc3Qgc2VjcmV0ISE=",
	};
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		assert_config_refused(secrets[i], BASE, NULL, "PORTICO_CALLBACK_SECRET");
	static const char *const bases[] = {"",
	                                    "127.0.0.1:8080",
	                                    "ftp://portico:8080",
	                                    "http://",
	                                    "http://user@portico:8080",
	                                    "http://portico:8080/?x=1",
	                                    "http://portico:8080#here",
	                                    "http://portico:99999",
	                                    "http://portico:8080/a b"};
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
		assert_config_refused(SECRET, bases[i], NULL, "PORTICO_CALLBACK_URL");
	assert_config_refused(SECRET, NULL, NULL, "PORTICO_CALLBACK_URL");
	static const char *const allowed[] = {"hooks.example", "https://hooks.example, ftp://files.example",
	                                      "https://user:pw@hooks.example", "https://", "https://a.example/../b"};
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		assert_config_refused(SECRET, BASE, allowed[i], "PORTICO_CALLBACK_ALLOWED_URLS");
}

static void test_config_appends_the_callback_path_once(void **state)
{
	(void)state;
	static const struct {
		const char *base, *url;
	} cases[] = {
	        {"http://127.0.0.1:8080", "http://127.0.0.1:8080/callbacks/completion"},
	        {"http://127.0.0.1:8080/", "http://127.0.0.1:8080/callbacks/completion"},
	        {"http://portico:8080//", "http://portico:8080/callbacks/completion"},
	        {"https://gw.example/portico/", "https://gw.example/portico/callbacks/completion"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		completion_config *config;
		assert_int_equal(completion_config_load(SECRET, cases[i].base, NULL, &config, NULL), 0);
		assert_string_equal(config->callback_url, cases[i].url);
		assert_int_equal(config->secret_length, 32);
		assert_memory_equal(config->secret, "portico completion test secret!!", 32);
		assert_int_equal(config->allowed_count, 0);
		completion_config_free(config);
	}
}

static void test_config_reads_the_allowed_list(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, " https://a.example , ,http://b.example/hooks/,");
	assert_int_equal(config->allowed_count, 2);
	assert_string_equal(config->allowed[0], "https://a.example");
	assert_string_equal(config->allowed[1], "http://b.example/hooks/");
	completion_config_free(config);
	completion_config_free(NULL);
}

/* ---- Targets ----------------------------------------------------------------------------------- */

static void test_target_takes_a_string_or_an_object(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	completion_target target = target_of(config, "\"https://hooks.example/done\"");
	assert_string_equal(target.url, "https://hooks.example/done");
	assert_json_equal(json_incref(target.headers), "{}");
	assert_false(target.listed);
	completion_target_clear(&target);

	target =
	        target_of(config, "{\"url\": \"https://hooks.example/done\", \"headers\": {\"Authorization\": \"Bearer "
	                          "t0k\", \"X-Tenant\": \"acme\"}}");
	assert_string_equal(target.url, "https://hooks.example/done");
	assert_json_equal(json_incref(target.headers), "{\"Authorization\": \"Bearer t0k\", \"X-Tenant\": \"acme\"}");
	completion_target_clear(&target);

	target = target_of(config, "{\"url\": \"https://hooks.example/done\"}");
	assert_json_equal(json_incref(target.headers), "{}");
	completion_target_clear(&target);

	static const char *const refused[] = {
	        "{\"url\": \"https://hooks.example/done\", \"method\": \"PUT\"}", /* unknown field */
	        "{\"URL\": \"https://hooks.example/done\"}",                      /* names are exact */
	        "{\"headers\": {}}",                                              /* no url */
	        "{}",
	        "{\"url\": 7}",
	        "{\"url\": \"https://hooks.example/done\", \"headers\": [\"a\"]}",
	        "{\"url\": \"https://hooks.example/done\", \"headers\": \"X-A: b\"}",
	        "{\"url\": \"https://hooks.example/done\", \"headers\": {\"X-A\": 1}}",
	        "{\"url\": \"https://hooks.example/done\", \"headers\": {\"X-A\": null}}",
	        "[\"https://hooks.example/done\"]",
	        "true",
	        "null",
	        "\"\"",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (!target_check(config, refused[i]))
			fail_msg("%s should be refused", refused[i]);
	completion_config_free(config);
}

/* A number the request's parser keeps raw (json_text.h) is a string starting with a NUL: no
 * header value, and no crash when the token is sealed. */
static void test_a_raw_number_is_no_header_value(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	static const char text[] = "{\"url\": \"https://hooks.example/done\", \"headers\": {\"X-A\": 1e400}}";
	json_t *value = portico_json_parse(text, sizeof text - 1, 0, NULL);
	assert_non_null(value);
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(completion_target_parse(config, value, &target, &err), -1);
	assert_non_null(strstr(err.message, "completionWebhook.headers.X-A"));
	completion_target_clear(&target);
	portico_error_clear(&err);
	json_decref(value);
	completion_config_free(config);
}

static void test_target_names_the_unknown_field(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	json_t *value = parse("{\"url\": \"https://hooks.example/done\", \"secret\": \"x\"}");
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(completion_target_parse(config, value, &target, &err), -1);
	assert_non_null(strstr(err.message, "completionWebhook.secret"));
	completion_target_clear(&target);
	portico_error_clear(&err);
	json_decref(value);
	completion_config_free(config);
}

/* {"url": …, "headers": {name: value}} as JSON text in out. */
static const char *with_header(const char *name, const char *value, char *out, size_t size)
{
	json_t *target = json_pack("{s:s,s:{s:s}}", "url", "https://hooks.example/done", "headers", name, value);
	char *text = json_dumps(target, JSON_COMPACT);
	snprintf(out, size, "%s", text);
	free(text);
	json_decref(target);
	return out;
}

static void test_target_refuses_headers_portico_sets(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	static const char *const reserved[] = {
	        "webhook-id", "Webhook-Timestamp", "WEBHOOK-SIGNATURE", "Content-Type", "content-length", "Host",
	        "HOST",       "Transfer-Encoding", "connection",        "Expect"};
	char json[256];
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (!target_check(config, with_header(reserved[i], "x", json, sizeof json)))
			fail_msg("%s should be refused", reserved[i]);
	/* The message names the header. */
	json_t *value = parse(with_header("Content-Type", "text/plain", json, sizeof json));
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(completion_target_parse(config, value, &target, &err), -1);
	assert_non_null(strstr(err.message, "completionWebhook.headers.Content-Type"));
	completion_target_clear(&target);
	portico_error_clear(&err);
	json_decref(value);
	/* Names that only look like them are the caller's. */
	assert_int_equal(target_check(config, with_header("X-Webhook-Id", "x", json, sizeof json)), 0);
	assert_int_equal(target_check(config, with_header("Hosts", "x", json, sizeof json)), 0);
	completion_config_free(config);
}

static void test_target_bounds_header_names_and_values(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	char json[2048], name[80], value[1100];
	memset(name, 'n', 64);
	name[64] = '\0';
	assert_int_equal(target_check(config, with_header(name, "x", json, sizeof json)), 0);
	name[64] = 'n';
	name[65] = '\0';
	assert_int_equal(target_check(config, with_header(name, "x", json, sizeof json)), -1);
	memset(value, 'v', 1024);
	value[1024] = '\0';
	assert_int_equal(target_check(config, with_header("X-A", value, json, sizeof json)), 0);
	value[1024] = 'v';
	value[1025] = '\0';
	assert_int_equal(target_check(config, with_header("X-A", value, json, sizeof json)), -1);

	static const char *const bad_names[] = {"", "X A", "X-A:", "X\tA", "X\r\nA", "X/A", "X(A)", "Ä", "X\"A"};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
		if (!target_check(config, with_header(bad_names[i], "x", json, sizeof json)))
			fail_msg("header name \"%s\" should be refused", bad_names[i]);
	static const char *const good_names[] = {"X-A", "x_a", "X.A", "A!#$%&'*+-.^_`|~9"};
	for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++)
		if (target_check(config, with_header(good_names[i], "x", json, sizeof json)))
			fail_msg("header name \"%s\" should be accepted", good_names[i]);
	static const char *const bad_values[] = {"a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x01", "a\x7f"};
	for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
		if (!target_check(config, with_header("X-A", bad_values[i], json, sizeof json)))
			fail_msg("header value \"%s\" should be refused", bad_values[i]);
	static const char *const good_values[] = {"", "a\tb", "Bearer abc.def", "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof good_values / sizeof good_values[0]; i++)
		if (target_check(config, with_header("X-A", good_values[i], json, sizeof json)))
			fail_msg("header value \"%s\" should be accepted", good_values[i]);

	/* COMPLETION_MAX_HEADERS of them, and no more. */
	json_t *headers = json_object();
	for (int i = 0; i < COMPLETION_MAX_HEADERS; i++) {
		snprintf(name, sizeof name, "X-H%d", i);
		json_object_set_new(headers, name, json_string("v"));
	}
	json_t *target = json_pack("{s:s,s:O}", "url", "https://hooks.example/done", "headers", headers);
	char *text = json_dumps(target, 0);
	assert_int_equal(target_check(config, text), 0);
	free(text);
	json_object_set_new(headers, "X-One-Too-Many", json_string("v"));
	json_object_set(target, "headers", headers);
	text = json_dumps(target, 0);
	assert_int_equal(target_check(config, text), -1);
	free(text);
	json_decref(target);
	json_decref(headers);
	completion_config_free(config);
}

static void test_target_url_syntax(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	static const char *const accepted[] = {
	        "https://hooks.example",
	        "https://hooks.example/",
	        "HTTPS://hooks.example/done",
	        "https://hooks.example:443/done",
	        "https://hooks.example:1/done",
	        "https://hooks.example:65535/done",
	        "https://hooks.example/done?tenant=acme&x=%41#frag",
	        "https://hooks.example?x=1",
	        "https://[2606:4700::1]/done",
	        "https://[2606:4700::1]:8443/done",
	        "https://hooks.example/a.b/.well-known/x", /* a dot that starts a name, not a segment */
	        "https://hooks.example/a..b",
	};
	ASSERT_ACCEPTED(config, accepted);
	static const char *const refused[] = {
	        "hooks.example/done",
	        "ftp://hooks.example/done",
	        "file:///etc/passwd",
	        "javascript:alert(1)",
	        "https:/hooks.example/done",
	        "https://",
	        "https:///done",
	        "https://:443/done",
	        "https://user@hooks.example/done",
	        "https://user:pw@hooks.example/done",
	        "https://@hooks.example/done",
	        "https://hooks.example:/done",
	        "https://hooks.example:65536/done",
	        "https://hooks.example:100000/done",
	        "https://hooks.example:-1/done",
	        "https://hooks.example:+443/done",
	        "https://hooks.example:44x/done",
	        "https://hooks.example:443:443/done",
	        "https://[2606:4700::1/done",
	        "https://[2606:4700::1]x/done",
	        "https://[2606:4700::1]:/done",
	        "https://[]/done",
	        "https://hooks.example/a/../admin",
	        "https://hooks.example/a/..",
	        "https://hooks.example/a/./b",
	        "https://hooks.example/a/.",
	        "https://hooks.example/./",
	        "https://hooks.example/a/%2e%2e/admin",
	        "https://hooks.example/a/%2E%2E/admin",
	        "https://hooks.example/a/.%2e/admin",
	        "https://hooks.example/a?next=/../x",
	        "https://hooks.example\\@evil.example/",
	        "https://hooks.example/a\\..\\admin",
	        "https://hooks.example/a b",
	        " https://hooks.example/done",
	        "https://hooks.example/done ",
	        "https://hooks.example/\tdone",
	        "https://hooks.example/done\r\nX-Injected: 1",
	        "https://hooks.example/\x7f",
	        "https://hooks.example/\x01",
	};
	ASSERT_REFUSED(config, refused);

	/* COMPLETION_MAX_URL_BYTES, and no more. */
	char url[COMPLETION_MAX_URL_BYTES + 2];
	size_t head = strlen("https://hooks.example/");
	memcpy(url, "https://hooks.example/", head);
	memset(url + head, 'a', COMPLETION_MAX_URL_BYTES - head);
	url[COMPLETION_MAX_URL_BYTES] = '\0';
	assert_int_equal(url_check(config, url), 0);
	url[COMPLETION_MAX_URL_BYTES] = 'a';
	url[COMPLETION_MAX_URL_BYTES + 1] = '\0';
	assert_int_equal(url_check(config, url), -1);
	/* A host name longer than DNS allows. */
	char host[300];
	memcpy(host, "https://", 8);
	memset(host + 8, 'h', 260);
	memcpy(host + 268, "/done", 6);
	assert_int_equal(url_check(config, host), -1);
	completion_config_free(config);
}

static void test_allowlist_prefixes_stop_at_a_boundary(void **state)
{
	(void)state;
	completion_config *config =
	        config_of(SECRET, "http://a.example, https://b.example/hooks/, https://c.example/in");
	static const char *const accepted[] = {
	        "http://a.example",
	        "http://a.example/",
	        "http://a.example/x",
	        "http://a.example?x=1",
	        "http://a.example#x",
	        "https://b.example/hooks/",
	        "https://b.example/hooks/x/y",
	        "https://c.example/in",
	        "https://c.example/in/x",
	        "https://c.example/in?x",
	};
	ASSERT_ACCEPTED(config, accepted);
	static const char *const refused[] = {
	        "http://a.example.evil/x",  /* another host */
	        "http://a.example.evil",    /* another host */
	        "http://a.example:8443/x",  /* another port */
	        "http://a.examplex/",       /* another host */
	        "https://a.example/x",      /* another scheme */
	        "http://A.EXAMPLE/x",       /* not written as listed */
	        "https://b.example/hooks",  /* above the listed path */
	        "https://b.example/hooksx", /* beside it */
	        "https://b.example/other",  /* beside it */
	        "https://c.example/inx",    /* beside it */
	        "https://c.example/in/../admin",
	        "https://b.example/hooks/../admin",
	        "https://b.example/hooks/%2e%2e/admin",
	        "https://hooks.example/done", /* public, but not listed */
	};
	ASSERT_REFUSED(config, refused);
	completion_target target = target_of(config, "\"http://a.example/x\"");
	assert_true(target.listed);
	completion_target_clear(&target);
	completion_config_free(config);
}

static void test_allowlist_lets_listed_http_and_private_addresses_through(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, "http://127.0.0.1:9000, http://10.1.2.3/, http://localhost/");
	static const char *const accepted[] = {"http://127.0.0.1:9000/done", "http://10.1.2.3/done",
	                                       "http://localhost/done"};
	ASSERT_ACCEPTED(config, accepted);
	static const char *const refused[] = {"http://127.0.0.1:9001/done", "http://127.0.0.1/done",
	                                      "http://10.1.2.4/done"};
	ASSERT_REFUSED(config, refused);
	completion_config_free(config);
}

static void test_without_allowlist_only_public_https(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	static const char *const accepted[] = {
	        "https://hooks.example/done", "https://8.8.8.8/done",        "https://[2606:4700::1]/done",
	        "https://[::ffff:8.8.8.8]/x", "https://localhost.example/x", "https://mylocalhost/x",
	};
	ASSERT_ACCEPTED(config, accepted);
	static const char *const refused[] = {
	        "http://hooks.example/done", /* http */
	        "http://8.8.8.8/done",
	        "https://127.0.0.1/done", /* loopback */
	        "https://127.255.0.9:8443/done",
	        "https://localhost/done",
	        "https://LocalHost:8443/done",
	        "https://api.localhost/done",
	        "https://[::1]/done",
	        "https://[::]/done",
	        "https://0.0.0.0/done",                     /* unspecified */
	        "https://10.0.0.1/done",                    /* private */
	        "https://172.16.0.1/done",                  /* private */
	        "https://172.31.255.255/x",                 /* private */
	        "https://192.168.1.1/done",                 /* private */
	        "https://100.64.0.1/done",                  /* shared */
	        "https://169.254.169.254/latest/meta-data", /* link-local: cloud metadata */
	        "https://224.0.0.1/done",                   /* multicast */
	        "https://[fd00::1]/done",                   /* unique local */
	        "https://[fe80::1]/done",                   /* link-local */
	        "https://[::ffff:127.0.0.1]/done",          /* mapped loopback */
	        "https://[::ffff:10.0.0.1]/done",           /* mapped private */
	        "https://[64:ff9b::a9fe:a9fe]/done",        /* NAT64 of 169.254.169.254 */
	};
	ASSERT_REFUSED(config, refused);
	completion_config_free(config);
}

/* The resolver (and so curl) reads IPv4 literals in the forms inet_aton takes, and a name with a
 * trailing dot as the same name: each is the address or name it stands for. */
static void test_without_allowlist_other_spellings_of_private_addresses(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	static const char *const refused[] = {
	        "https://127.1/done",          "https://2130706433/done",       "https://0x7f000001/done",
	        "https://0177.0.0.1/done",     "https://0x7f.0.0.1/done",       "https://0/done",
	        "https://10.1/done",           "https://0xa9fea9fe/latest",     "https://192.168.257/done",
	        "https://localhost./done",     "https://127.0.0.1./done",       "https://LOCALHOST./done",
	        "https://api.localhost./done", "https://[fe80::1%25eth0]/done", "https://[::1%25lo]/done",
	};
	ASSERT_REFUSED(config, refused);
	static const char *const accepted[] = {"https://134744072/done", "https://8.8.8.8./done",
	                                       "https://hooks.example./done"};
	ASSERT_ACCEPTED(config, accepted);
	completion_config_free(config);
}

/* ---- Tokens ------------------------------------------------------------------------------------ */

static void test_token_opens_to_what_it_binds(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	completion_target target = target_of(
	        config,
	        "{\"url\": \"https://hooks.example/done?t=1\", \"headers\": {\"Authorization\": \"Bearer t0k\"}}");
	char *token = completion_token_seal(config, "payments", "order-17 \xc3\xa9\"/", &target);
	assert_true(strlen(token) <= COMPLETION_MAX_TOKEN_BYTES);
	/* base64url without padding: it travels in a header. */
	assert_int_equal(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	                 strlen(token));

	completion_binding binding;
	assert_int_equal(completion_token_open(config, token, &binding), 0);
	assert_string_equal(binding.namespace_name, "payments");
	assert_string_equal(binding.workflow_id, "order-17 \xc3\xa9\"/");
	assert_string_equal(binding.target.url, "https://hooks.example/done?t=1");
	assert_json_equal(json_incref(binding.target.headers), "{\"Authorization\": \"Bearer t0k\"}");
	completion_binding_clear(&binding);
	completion_binding_clear(&binding); /* clearing twice is harmless */

	/* A fresh nonce each time: two tokens for the same binding differ, and both open. */
	char *again = completion_token_seal(config, "payments", "order-17 \xc3\xa9\"/", &target);
	assert_string_not_equal(token, again);
	assert_int_equal(completion_token_open(config, again, &binding), 0);
	completion_binding_clear(&binding);
	free(again);
	free(token);
	completion_target_clear(&target);
	completion_config_free(config);
}

static void test_token_opens_only_under_its_secret(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL), *other = config_of(OTHER_SECRET, NULL);
	completion_target target = target_of(config, "\"https://hooks.example/done\"");
	char *token = completion_token_seal(other, "default", "order-17", &target);
	completion_binding binding = {.namespace_name = (char *)1};
	assert_int_equal(completion_token_open(config, token, &binding), -1);
	assert_null(binding.namespace_name); /* nothing to clear after a refusal */
	assert_int_equal(completion_token_open(other, token, &binding), 0);
	completion_binding_clear(&binding);
	free(token);
	completion_target_clear(&target);
	completion_config_free(other);
	completion_config_free(config);
}

/* The other character of base64url's alphabet at the same place. */
static char flipped(char c)
{
	return c == 'A' ? 'B' : 'A';
}

static void test_token_refuses_any_change(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	completion_target target = target_of(config, "\"https://hooks.example/done\"");
	char *token = completion_token_seal(config, "default", "order-17", &target);
	size_t length = strlen(token);
	completion_binding binding;
	/* Every character changed, one at a time (the last may only carry padding bits, which
	 * base64 decoding drops: it still opens or not, but never to something else). */
	for (size_t i = 0; i + 1 < length; i++) {
		char kept = token[i];
		token[i] = flipped(kept);
		if (completion_token_open(config, token, &binding) == 0)
			fail_msg("a token with character %zu changed opened", i);
		token[i] = kept;
	}
	/* Truncated anywhere. */
	for (size_t cut = 0; cut < length - 1; cut++) {
		char *part = portico_strndup(token, cut);
		if (completion_token_open(config, part, &binding) == 0)
			fail_msg("a token cut to %zu characters opened", cut);
		free(part);
	}
	/* Characters outside base64url, even those plain base64 takes. */
	static const char *const inserted[] = {"+", "/", "=", " ", ".", "\n", "%", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof inserted / sizeof inserted[0]; i++) {
		char *changed = portico_malloc(length + 8);
		snprintf(changed, length + 8, "%.*s%s%s", (int)(length / 2), token, inserted[i], token + length / 2);
		if (completion_token_open(config, changed, &binding) == 0)
			fail_msg("a token with \"%s\" inserted opened", inserted[i]);
		snprintf(changed, length + 8, "%s%s", token, inserted[i]);
		if (completion_token_open(config, changed, &binding) == 0)
			fail_msg("a token with \"%s\" appended opened", inserted[i]);
		free(changed);
	}
	/* The standard alphabet's padding is not base64url's. */
	char *padded = portico_malloc(length + 3);
	snprintf(padded, length + 3, "%s==", token);
	assert_int_equal(completion_token_open(config, padded, &binding), -1);
	free(padded);
	assert_int_equal(completion_token_open(config, "", &binding), -1);
	assert_int_equal(completion_token_open(config, "AAAA", &binding), -1);
	free(token);
	completion_target_clear(&target);
	completion_config_free(config);
}

static void test_token_refuses_oversized_input(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	char *token = portico_malloc(COMPLETION_MAX_TOKEN_BYTES + 2);
	memset(token, 'A', COMPLETION_MAX_TOKEN_BYTES + 1);
	token[COMPLETION_MAX_TOKEN_BYTES + 1] = '\0';
	completion_binding binding;
	assert_int_equal(completion_token_open(config, token, &binding), -1);
	token[COMPLETION_MAX_TOKEN_BYTES] = '\0';
	assert_int_equal(completion_token_open(config, token, &binding), -1);
	free(token);
	completion_config_free(config);
}

/* ---- Signatures -------------------------------------------------------------------------------- */

/* Computed outside Portico, with Python's standard library, for the secret above:
 *   key = b'portico completion test secret!!'
 *   msg = b'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231.' + BODY
 *   'v1,' + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode() */
#define VECTOR_BODY      "{\"type\":\"workflow.completed\",\"status\":\"COMPLETED\"}"
#define VECTOR_SIGNATURE "v1,wCmrs3bHpJWMMGoO/UfY8QIU0ccDNlz5hzi61UmQ5mQ="

static void test_signature_matches_an_independent_vector(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	char *signature = completion_signature(config, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, VECTOR_BODY,
	                                       strlen(VECTOR_BODY));
	assert_string_equal(signature, VECTOR_SIGNATURE);
	free(signature);
	/* The body's length is what is signed, not its text up to a NUL. */
	signature = completion_signature(config, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, VECTOR_BODY,
	                                 strlen(VECTOR_BODY) - 1);
	assert_string_not_equal(signature, VECTOR_SIGNATURE);
	free(signature);
	signature = completion_signature(config, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087232, VECTOR_BODY,
	                                 strlen(VECTOR_BODY));
	assert_string_not_equal(signature, VECTOR_SIGNATURE);
	free(signature);
	completion_config_free(config);
}

/* ---- Temporal's link header -------------------------------------------------------------------- */

#define LINK(ns, wf, run)                                                                                              \
	"<temporal:///namespaces/" ns "/workflows/" wf "/" run                                                         \
	"/history?referenceType=EventReference&eventID=1&eventType=EVENT_TYPE_WORKFLOW_EXECUTION_STARTED>; "           \
	"type=\"temporal.api.common.v1.Link.WorkflowEvent\""

static void assert_run_id(const char *link, const char *namespace_name, const char *workflow_id, const char *run_id)
{
	char *got = completion_link_run_id(link, namespace_name, workflow_id);
	if (run_id && (!got || strcmp(got, run_id)))
		fail_msg("%s: got %s, expected %s", link, got ? got : "NULL", run_id);
	if (!run_id && got)
		fail_msg("%s: got %s, expected none", link ? link : "NULL", got);
	free(got);
}

static void test_link_gives_the_run_of_the_bound_workflow(void **state)
{
	(void)state;
	/* As Temporal 1.29 sends it. */
	assert_run_id(LINK("default", "my%20wf", "0198c2f4-5a6e-7d3b-9c1f-2b8e4a6d0c71"), "default", "my wf",
	              "0198c2f4-5a6e-7d3b-9c1f-2b8e4a6d0c71");
	assert_run_id(LINK("pay%2Fments", "order%2F17%3F", "RUN%2D1"), "pay/ments", "order/17?", "RUN-1");
	/* After another link. */
	assert_run_id("<https://example/x>; rel=x, " LINK("default", "w", "RUN"), "default", "w", "RUN");
	/* The link of another workflow says nothing of this one's run. */
	assert_run_id(LINK("other", "my%20wf", "RUN"), "default", "my wf", NULL);
	assert_run_id(LINK("default", "other", "RUN"), "default", "my wf", NULL);
	assert_run_id(LINK("default", "my%20wf", "RUN"), "default", "my%20wf", NULL);
	assert_run_id(LINK("default", "my%20wfx", "RUN"), "default", "my wf", NULL);
	assert_run_id(LINK("defaultx", "w", "RUN"), "default", "w", NULL);
	assert_run_id(LINK("default", "w", "RUN"), "Default", "w", NULL);
	/* Malformed. */
	static const char *const malformed[] = {
	        LINK("default", "w", ""),
	        LINK("default", "", "RUN"),
	        LINK("", "w", "RUN"),
	        LINK("default", "w%zz", "RUN"),
	        LINK("default", "w%0", "RUN"),
	        LINK("default", "w%00x", "RUN"),
	        LINK("default", "w", "RUN%"),
	        LINK("def%00ault", "w", "RUN"),
	        "temporal:///namespaces/default/workflows/w/RUN/history",
	        "<temporal://namespaces/default/workflows/w/RUN/history>",
	        "<temporal:///namespaces/default/workflow/w/RUN/history>",
	        "<temporal:///namespaces/default/workflows/w>",
	        "<temporal:///namespaces/default/workflows/w",
	        "<temporal:///namespaces/default",
	        "<temporal:///namespaces/",
	        "",
	};
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
		assert_run_id(malformed[i], "default", "w", NULL);
	assert_run_id(NULL, "default", "w", NULL);
}

/* ---- Addresses --------------------------------------------------------------------------------- */

static int v4_public(const char *text)
{
	struct sockaddr_in address = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, text, &address.sin_addr) != 1)
		fail_msg("bad test address %s", text);
	return completion_address_public((struct sockaddr *)&address);
}

static int v6_public(const char *text)
{
	struct sockaddr_in6 address = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET6, text, &address.sin6_addr) != 1)
		fail_msg("bad test address %s", text);
	return completion_address_public((struct sockaddr *)&address);
}

static void test_address_public_ipv4(void **state)
{
	(void)state;
	static const char *const refused[] = {
	        "0.0.0.0",      "0.1.2.3",         "10.0.0.1",    "10.255.255.255",  "127.0.0.1",  "127.1.2.3",
	        "100.64.0.1",   "100.127.255.1",   "169.254.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255",
	        "192.168.0.1",  "192.168.255.255", "192.0.0.8",   "192.0.2.1",       "198.18.0.1", "198.19.255.255",
	        "198.51.100.7", "203.0.113.9",     "224.0.0.1",   "239.255.255.250", "240.0.0.1",  "255.255.255.255",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (v4_public(refused[i]))
			fail_msg("%s should not be public", refused[i]);
	static const char *const public[] = {"8.8.8.8",        "1.1.1.1",         "9.255.255.255", "11.0.0.1",
	                                     "100.63.255.255", "100.128.0.1",     "169.253.0.1",   "172.15.255.255",
	                                     "172.32.0.1",     "192.167.0.1",     "192.169.0.1",   "198.17.0.1",
	                                     "198.20.0.1",     "223.255.255.254", "93.184.216.34"};
	for (size_t i = 0; i < sizeof public / sizeof public[0]; i++)
		if (!v4_public(public[i]))
			fail_msg("%s should be public", public[i]);
}

static void test_address_public_ipv6(void **state)
{
	(void)state;
	static const char *const refused[] = {
	        "::1",
	        "::",
	        "fc00::1",
	        "fd12:3456::1",
	        "fdff:ffff::1",
	        "fe80::1",
	        "febf:ffff::1",
	        "ff00::1",
	        "ff02::1",
	        "ff05::1:3",
	        "2001:db8::1",
	        "::ffff:10.0.0.1",
	        "::ffff:127.0.0.1",
	        "::ffff:169.254.169.254",
	        "::ffff:0.0.0.0",
	        "64:ff9b::10.0.0.1",
	        "64:ff9b::7f00:1",
	        "::10.0.0.1",
	        "fec0::1",           /* site-local (deprecated, still routed privately) */
	        "2002:0a00:0001::1", /* 6to4 of 10.0.0.1 */
	        "2002:7f00:0001::1", /* 6to4 of 127.0.0.1 */
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (v6_public(refused[i]))
			fail_msg("%s should not be public", refused[i]);
	static const char *const public[] = {"2606:4700::1",     "2001:4860:4860::8888", "::ffff:8.8.8.8",
	                                     "64:ff9b::8.8.8.8", "2a00:1450:4001::1",    "fbff::1",
	                                     "2002:0808:0808::1"};
	for (size_t i = 0; i < sizeof public / sizeof public[0]; i++)
		if (!v6_public(public[i]))
			fail_msg("%s should be public", public[i]);
	struct sockaddr unix_address = {.sa_family = AF_UNIX};
	assert_int_equal(completion_address_public(&unix_address), 0);
}

/* ---- Attaching to a start ---------------------------------------------------------------------- */

/* A start request as the proxy has it: decoded, freed with protobuf_c_message_free_unpacked. */
static Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *
start_of(const char *workflow_id, Temporal__Api__Enums__V1__WorkflowIdConflictPolicy policy)
{
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = portico_malloc(sizeof *start);
	temporal__api__workflowservice__v1__start_workflow_execution_request__init(start);
	start->workflow_id = portico_strdup(workflow_id);
	start->workflow_id_conflict_policy = policy;
	return start;
}

/* Checks the one callback attached to start and that its token opens to the binding. */
static void assert_callback(const completion_config *config,
                            const Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start,
                            size_t index, const char *workflow_id, const char *url)
{
	const Temporal__Api__Common__V1__Callback *callback = start->completion_callbacks[index];
	assert_int_equal(callback->variant_case, TEMPORAL__API__COMMON__V1__CALLBACK__VARIANT_NEXUS);
	assert_string_equal(callback->nexus->url, config->callback_url);
	assert_int_equal(callback->nexus->n_header, 1);
	assert_string_equal(callback->nexus->header[0]->key, COMPLETION_TOKEN_HEADER);
	completion_binding binding;
	assert_int_equal(completion_token_open(config, callback->nexus->header[0]->value, &binding), 0);
	assert_string_equal(binding.namespace_name, "payments");
	assert_string_equal(binding.workflow_id, workflow_id);
	assert_string_equal(binding.target.url, url);
	completion_binding_clear(&binding);
}

/* start survives Temporal's wire: it packs and unpacks to the same callbacks. */
static void assert_packs(const Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start)
{
	assert_true(protobuf_c_message_check(&start->base));
	size_t size = protobuf_c_message_get_packed_size(&start->base);
	uint8_t *bytes = portico_malloc(size);
	assert_int_equal(protobuf_c_message_pack(&start->base, bytes), size);
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *copy =
	        temporal__api__workflowservice__v1__start_workflow_execution_request__unpack(NULL, size, bytes);
	assert_non_null(copy);
	assert_int_equal(copy->n_completion_callbacks, start->n_completion_callbacks);
	assert_string_equal(copy->completion_callbacks[0]->nexus->header[0]->value,
	                    start->completion_callbacks[0]->nexus->header[0]->value);
	temporal__api__workflowservice__v1__start_workflow_execution_request__free_unpacked(copy, NULL);
	free(bytes);
}

static void test_attach_adds_one_callback_to_portico(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	completion_target target = target_of(config, "\"https://hooks.example/done\"");
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = start_of(
	        "order-17", TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_FAIL);
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, NULL), 0);
	assert_int_equal(start->n_completion_callbacks, 1);
	assert_callback(config, start, 0, "order-17", "https://hooks.example/done");
	assert_null(start->on_conflict_options);
	assert_packs(start);
	protobuf_c_message_free_unpacked(&start->base, NULL);
	completion_target_clear(&target);
	completion_config_free(config);
}

static void test_attach_keeps_the_callers_callbacks(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	completion_target target = target_of(config, "\"https://hooks.example/done\"");
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = start_of(
	        "order-17",
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED);
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, NULL), 0);
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, NULL), 0);
	assert_int_equal(start->n_completion_callbacks, 2);
	assert_callback(config, start, 0, "order-17", "https://hooks.example/done");
	assert_callback(config, start, 1, "order-17", "https://hooks.example/done");
	assert_null(start->on_conflict_options);
	assert_packs(start);
	protobuf_c_message_free_unpacked(&start->base, NULL);
	completion_target_clear(&target);
	completion_config_free(config);
}

static void test_attach_to_the_existing_run_with_use_existing(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	completion_target target = target_of(config, "\"https://hooks.example/done\"");
	static const Temporal__Api__Enums__V1__WorkflowIdConflictPolicy others[] = {
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED,
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
	};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start =
		        start_of("order-17", others[i]);
		assert_int_equal(completion_webhook_attach(config, "payments", &target, start, NULL), 0);
		assert_null(start->on_conflict_options);
		protobuf_c_message_free_unpacked(&start->base, NULL);
	}

	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = start_of(
	        "order-17",
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING);
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, NULL), 0);
	assert_non_null(start->on_conflict_options);
	assert_true(start->on_conflict_options->attach_request_id);
	assert_true(start->on_conflict_options->attach_completion_callbacks);
	assert_false(start->on_conflict_options->attach_links);
	assert_callback(config, start, 0, "order-17", "https://hooks.example/done");
	assert_packs(start);
	protobuf_c_message_free_unpacked(&start->base, NULL);

	/* Options the caller gave are kept, the two callbacks need added. */
	start = start_of(
	        "order-18",
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING);
	start->on_conflict_options = portico_malloc(sizeof *start->on_conflict_options);
	temporal__api__workflow__v1__on_conflict_options__init(start->on_conflict_options);
	start->on_conflict_options->attach_links = 1;
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, NULL), 0);
	assert_true(start->on_conflict_options->attach_links);
	assert_true(start->on_conflict_options->attach_request_id);
	assert_true(start->on_conflict_options->attach_completion_callbacks);
	assert_callback(config, start, 0, "order-18", "https://hooks.example/done");
	protobuf_c_message_free_unpacked(&start->base, NULL);
	completion_target_clear(&target);
	completion_config_free(config);
}

/* Headers within every bound, but together too large for a token Temporal keeps and this gateway
 * opens: the start is refused instead of its outcome being lost. */
static void test_attach_refuses_a_token_too_large_to_open(void **state)
{
	(void)state;
	completion_config *config = config_of(SECRET, NULL);
	json_t *headers = json_object();
	char name[16], value[1001];
	memset(value, 'v', 1000);
	value[1000] = '\0';
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof name, "X-H%d", i);
		json_object_set_new(headers, name, json_string(value));
	}
	json_t *spec = json_pack("{s:s,s:o}", "url", "https://hooks.example/done", "headers", headers);
	completion_target target;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(completion_target_parse(config, spec, &target, &err), 0);
	json_decref(spec);

	char *token = completion_token_seal(config, "payments", "order-17", &target);
	assert_true(strlen(token) > COMPLETION_MAX_TOKEN_BYTES);
	free(token);
	Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest *start = start_of(
	        "order-17",
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING);
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, &err), -1);
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	assert_non_null(strstr(err.message, "completionWebhook"));
	assert_int_equal(start->n_completion_callbacks, 0);
	assert_null(start->on_conflict_options);
	protobuf_c_message_free_unpacked(&start->base, NULL);
	portico_error_clear(&err);

	/* Two of them fit: the token Temporal hands back opens. */
	for (int i = 2; i < 7; i++) {
		snprintf(name, sizeof name, "X-H%d", i);
		json_object_del(target.headers, name);
	}
	start = start_of(
	        "order-17",
	        TEMPORAL__API__ENUMS__V1__WORKFLOW_ID_CONFLICT_POLICY__WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING);
	assert_int_equal(completion_webhook_attach(config, "payments", &target, start, &err), 0);
	assert_callback(config, start, 0, "order-17", "https://hooks.example/done");
	protobuf_c_message_free_unpacked(&start->base, NULL);
	completion_target_clear(&target);
	completion_config_free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_config_is_off_without_a_secret),
	        cmocka_unit_test(test_config_refuses_malformed_settings_by_name),
	        cmocka_unit_test(test_config_appends_the_callback_path_once),
	        cmocka_unit_test(test_config_reads_the_allowed_list),
	        cmocka_unit_test(test_target_takes_a_string_or_an_object),
	        cmocka_unit_test(test_target_names_the_unknown_field),
	        cmocka_unit_test(test_a_raw_number_is_no_header_value),
	        cmocka_unit_test(test_target_refuses_headers_portico_sets),
	        cmocka_unit_test(test_target_bounds_header_names_and_values),
	        cmocka_unit_test(test_target_url_syntax),
	        cmocka_unit_test(test_allowlist_prefixes_stop_at_a_boundary),
	        cmocka_unit_test(test_allowlist_lets_listed_http_and_private_addresses_through),
	        cmocka_unit_test(test_without_allowlist_only_public_https),
	        cmocka_unit_test(test_without_allowlist_other_spellings_of_private_addresses),
	        cmocka_unit_test(test_token_opens_to_what_it_binds),
	        cmocka_unit_test(test_token_opens_only_under_its_secret),
	        cmocka_unit_test(test_token_refuses_any_change),
	        cmocka_unit_test(test_token_refuses_oversized_input),
	        cmocka_unit_test(test_signature_matches_an_independent_vector),
	        cmocka_unit_test(test_link_gives_the_run_of_the_bound_workflow),
	        cmocka_unit_test(test_address_public_ipv4),
	        cmocka_unit_test(test_address_public_ipv6),
	        cmocka_unit_test(test_attach_adds_one_callback_to_portico),
	        cmocka_unit_test(test_attach_keeps_the_callers_callbacks),
	        cmocka_unit_test(test_attach_to_the_existing_run_with_use_existing),
	        cmocka_unit_test(test_attach_refuses_a_token_too_large_to_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
