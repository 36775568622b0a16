/* Credentials as callers send them, checked by auth_authenticate against a fixed auth file: two
 * API keys ("fuzz-key-ci": read and start in default; "fuzz-key-ops": admin everywhere) and JWTs
 * verified with an RS256 and an ES256 key from a JWKS file and an RS256 key from a PEM file (the keys
 * and the seeds are fuzz/auth_corpus.py's; its valid tokens expire in 2100, so nothing here depends
 * on the day it runs). The input's first line is the Authorization header's value (none when the
 * line is empty), the lines after it more headers ("X-API-Key: ...").
 * Properties: a refusal is UNAUTHENTICATED with a message and leaves the caller empty; an accepted
 * API key was presented as configured and holds that key's permissions and namespaces, no more; an
 * accepted JWT was signed RS256 or ES256 (never none or HS256), gives a subject, a list of
 * namespaces and only permissions auth knows, and is refused once one byte of what it signs
 * changes. */
#include <stdint.h>
#include <unistd.h>

#include "auth.h"
#include "base64.h"
#include "fuzz.h"

#define MAX_HEADERS     8
#define ALL_PERMISSIONS ((1u << AUTH_PERMISSION_BITS) - 1)

static const char jwks[] =
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"6ax_VDdguUkeEfrQyFv6QYznnEaDkGyq1peGugF3U4"
        "5kiLvEa9xfLM7n5NY9G6Aw_kj8QMBVPFjd07kmquHhDcuUHGfcvovAYDOc8fd5gId97ZzNbS2-kx7miQfWKb5u0rZRZwGvvX"
        "KLjmzUzplQ3OFkUSkfcNlzFCMxMcZG-pg8_PF0xOhmgj1yaTPib-w2IncwhPT-xrjqGE8I1V5BptuMkE08UEUXNRoH0vsbGl"
        "7m7HvVHOReoDiWzDLjroV8HjZqn1v5435kNmUzf0fyuK4WricYGqqQgSDpQ2ejF9X_zyhClgCN6nphsov6npsjcq7oK5_jZr"
        "FLwV-t8ANKGQ\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"ec-1\",\"crv\":\"P-256\",\"x\":\"EHoPRq"
        "aJWPMt089tOUpYjekJLGCwP91vN1-FSn_qY78\",\"y\":\"aVh5-YySu-P9tLee-dapJn0h-aCDnkqpi79Wty4pD_w\"}]}";

static const char pem[] = "-----BEGIN PUBLIC KEY-----\n"
                          "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuyZADv3m6Ud4K6f18gst\n"
                          "y/5qNVzhtfIlsPz2NpeB/80OJ6ysAD00NB95jxaepvM9PRVquojL82mwo3gTPCPk\n"
                          "dBpHRN6IV53MszwLJmfdZKKIJPkUuqBPYoBTyuhy2Jo3PDFY3YwlNypXfh0g/dVm\n"
                          "1U/wXAV8w4BCY1hyxrCAYpPy7Yr80UjicmCZGb4i0+lAodCJ3whR8SjeMvBtYbhp\n"
                          "vsBtyDNZrB65o6XI21wBqoAuXD+WQGpTPJg30agbVJUyzqhTTzuvUjOvnxzeGV2K\n"
                          "S9ikgib8F3rEaYegNGWN+FTXmGlDRycsqD1c17NRqbcAHv47M5Dh0mK8WDkzKZnq\n"
                          "7QIDAQAB\n"
                          "-----END PUBLIC KEY-----\n";

/* The API keys of the auth file, as presented, and what each may do. */
static const struct {
	const char *key;
	unsigned holds;      /* auth_permission bits, admin expanded */
	int every_namespace; /* else only default */
} api_keys[] = {
        {"fuzz-key-ci", PERMISSION_READ | PERMISSION_START, 0},
        {"fuzz-key-ops", ALL_PERMISSIONS & ~(unsigned)PERMISSION_CLUSTER, 1},
};

static void write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	if (!file || fputs(text, file) == EOF || fclose(file))
		fuzz_fail("cannot write a temporary file", path);
}

/* The auth configuration, loaded once from files as the gateway loads PORTICO_AUTH_FILE. */
static auth_config *load_config(void)
{
	char dir[] = "/tmp/portico-fuzz-jwt-XXXXXX", jwks_path[64], pem_path[64], auth_path[64], auth[1024];
	if (!mkdtemp(dir))
		fuzz_fail("cannot make a temporary directory", dir);
	snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
	snprintf(pem_path, sizeof pem_path, "%s/key.pem", dir);
	snprintf(auth_path, sizeof auth_path, "%s/auth.json", dir);
	snprintf(
	        auth, sizeof auth,
	        "{\"apiKeys\": ["
	        "{\"name\": \"ci\", \"sha256\": \"ae3a3750b647e7145e4de60ffdaab1f1210929387b9c7502d27aecd7760bef7b\", "
	        "\"namespaces\": [\"default\"], \"permissions\": [\"read\", \"start\"]}, "
	        "{\"name\": \"ops\", \"sha256\": \"dd9c4c5e7160663b0ca4a4334dda8e6e3c8e10b32678118ac5c67020b0bc4b58\", "
	        "\"namespaces\": [\"*\"], \"permissions\": [\"admin\"]}], "
	        "\"jwt\": {\"jwksFile\": \"%s\", \"pemFiles\": [\"%s\"], \"issuer\": \"https://login.portico.test\", "
	        "\"audience\": \"portico\", \"namespacesClaim\": \"portico/namespaces\", "
	        "\"permissionsClaim\": \"portico/permissions\", \"leewaySeconds\": 30}}",
	        jwks_path, pem_path);
	write_file(jwks_path, jwks);
	write_file(pem_path, pem);
	write_file(auth_path, auth);
	setenv("PORTICO_AUTH", "keys", 1);
	setenv("PORTICO_AUTH_FILE", auth_path, 1);
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = auth_config_from_env(&err);
	if (!config)
		fuzz_fail("the auth file does not load", err.message);
	unlink(jwks_path);
	unlink(pem_path);
	unlink(auth_path);
	rmdir(dir);
	return config;
}

/* The "alg" of a token's header, as a new string (the caller frees), or NULL. */
static char *algorithm_of(const char *token)
{
	uint8_t *bytes;
	size_t length;
	if (portico_base64_decode(token, strcspn(token, "."), &bytes, &length))
		return NULL;
	json_t *header = json_loadb((const char *)bytes, length, 0, NULL);
	free(bytes);
	const char *alg = json_string_value(json_object_get(header, "alg"));
	char *copy = alg ? strdup(alg) : NULL;
	json_decref(header);
	return copy;
}

static int authenticate(const auth_config *config, const fuzz_header *headers, auth_caller *caller)
{
	portico_error err = PORTICO_ERROR_INIT;
	int refused = auth_authenticate(config, (request_headers){fuzz_header_lookup, headers}, caller, &err);
	if (refused != 0 && refused != -1)
		fuzz_fail("auth_authenticate returned neither 0 nor -1", NULL);
	if (refused && (err.code != PORTICO_UNAUTHENTICATED || !err.message || !*err.message))
		fuzz_fail("a refusal that is not UNAUTHENTICATED with a message", err.message);
	if (refused && (caller->key || caller->subject || caller->permissions || caller->namespaces))
		fuzz_fail("a refusal filled the caller", err.message);
	if (!refused && err.message)
		fuzz_fail("an acceptance with an error", err.message);
	portico_error_clear(&err);
	return refused;
}

/* What the caller may do, through auth_check: each permission alone, in namespace_name. */
static unsigned permissions_held(const auth_config *config, const auth_caller *caller, const char *namespace_name)
{
	unsigned held = 0;
	for (unsigned bit = 0; bit < AUTH_PERMISSION_BITS; bit++) {
		portico_error err = PORTICO_ERROR_INIT;
		if (auth_check(config, caller, 1u << bit, namespace_name, NULL, &err) == 0)
			held |= 1u << bit;
		portico_error_clear(&err);
	}
	return held;
}

static void check_api_key(const auth_config *config, const fuzz_header *headers, const auth_caller *caller)
{
	const char *authorization = fuzz_header_lookup(headers, "Authorization");
	const char *presented = authorization && !strncasecmp(authorization, "Bearer ", 7)
	                                ? authorization + 7
	                                : fuzz_header_lookup(headers, "X-API-Key");
	size_t k = 0;
	while (k < sizeof api_keys / sizeof api_keys[0] && (!presented || strcmp(presented, api_keys[k].key)))
		k++;
	if (k == sizeof api_keys / sizeof api_keys[0])
		fuzz_fail("a key that is not configured was accepted", presented);
	if (caller->subject || caller->permissions || caller->namespaces)
		fuzz_fail("an API key's caller carries a JWT's claims", presented);
	if (permissions_held(config, caller, "default") != api_keys[k].holds)
		fuzz_fail("an API key holds other permissions than configured", presented);
	if (auth_allows_namespace(config, caller, "billing") != api_keys[k].every_namespace)
		fuzz_fail("an API key reaches other namespaces than configured", presented);
}

static void check_jwt(const auth_config *config, const fuzz_header *headers, const auth_caller *caller)
{
	const char *token = fuzz_header_lookup(headers, "Authorization") + 7;
	char *alg = algorithm_of(token);
	if (!alg || (strcmp(alg, "RS256") && strcmp(alg, "ES256")))
		fuzz_fail("a token not signed RS256 or ES256 was accepted", token);
	free(alg);
	if (!caller->subject || !json_is_array(caller->namespaces) || (caller->permissions & ~ALL_PERMISSIONS))
		fuzz_fail("an accepted token's caller is not a subject with namespaces and known permissions", token);
	/* Admin stands for all but cluster; nothing else is held that the claims do not name. */
	unsigned given = caller->permissions;
	if (given & PERMISSION_ADMIN)
		given |= ALL_PERMISSIONS & ~(unsigned)PERMISSION_CLUSTER;
	if (permissions_held(config, caller, NULL) & ~given)
		fuzz_fail("a token holds permissions its claims do not give", token);

	/* One byte changed in the claims (the end of what the signature covers). */
	char *changed = strdup(fuzz_header_lookup(headers, "Authorization"));
	changed[7 + (size_t)(strchr(strchr(token, '.') + 1, '.') - token) - 1] ^= 1;
	const fuzz_header tampered[] = {{"Authorization", changed}, {NULL, NULL}};
	auth_caller other = {0};
	if (authenticate(config, tampered, &other) == 0)
		fuzz_fail("a token changed by one byte is still accepted", changed);
	free(changed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static auth_config *config;
	if (!config)
		config = load_config();
	char *text = fuzz_text(data, size);
	char *rest = strchr(text, '\n');
	if (rest)
		*rest++ = '\0';
	fuzz_header headers[MAX_HEADERS + 2];
	size_t first = *text != '\0';
	if (first)
		headers[0] = (fuzz_header){"Authorization", text};
	fuzz_read_headers(rest ? rest : text + strlen(text), headers + first, MAX_HEADERS);

	auth_caller caller = {0};
	if (authenticate(config, headers, &caller) == 0) {
		if (caller.key)
			check_api_key(config, headers, &caller);
		else
			check_jwt(config, headers, &caller);
	}
	auth_caller_clear(&caller);
	free(text);
	return 0;
}
