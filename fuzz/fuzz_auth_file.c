/* The auth file (PORTICO_AUTH_FILE) and the key files its jwt section names, from arbitrary bytes
 * written to a temporary file and loaded as the gateway loads them at start-up. The input's first
 * byte picks what the rest is: 'j' a JWKS file and 'p' a PEM file, each named by a fixed auth
 * file; anything else the auth file itself. Properties: nothing crashes or leaks (ASan), and a
 * refusal is INVALID_ARGUMENT naming the auth file and, for a key file, the member that names it
 * ("/tmp/…/auth.json: jwt.jwksFile: …"). */
#include <stdint.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz.h"

static void write_file(const char *path, const char *text, size_t size)
{
	FILE *file = fopen(path, "w");
	if (!file || fwrite(text, 1, size, file) != size || fclose(file))
		fuzz_fail("cannot write a temporary file", path);
}

/* Loads the auth file PORTICO_AUTH_FILE names: refusals must start with where (the file, and the
 * member). */
static void load(const char *where)
{
	portico_error err = PORTICO_ERROR_INIT;
	auth_config *config = auth_config_from_env(&err);
	if (!config && (err.code != PORTICO_INVALID_ARGUMENT || !err.message))
		fuzz_fail("a refusal without INVALID_ARGUMENT and a message", err.message);
	if (!config && strncmp(err.message, where, strlen(where)))
		fuzz_fail("a refusal that does not say where the problem is", err.message);
	if (config && auth_config_mode(config) != AUTH_KEYS)
		fuzz_fail("an auth file loaded into another mode", NULL);
	auth_config_free(config);
	portico_error_clear(&err);
}

/* One directory per process, so that the paths, and with them the environment, stay the same:
 * a new value would make setenv keep one more string each input. */
static char dir[] = "/tmp/portico-fuzz-auth-file-XXXXXX", auth_path[64], jwks_path[64], pem_path[64];

static void remove_dir(void)
{
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (!*auth_path) {
		if (!mkdtemp(dir))
			fuzz_fail("cannot make a temporary directory", dir);
		atexit(remove_dir);
		snprintf(auth_path, sizeof auth_path, "%s/auth.json", dir);
		snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
		snprintf(pem_path, sizeof pem_path, "%s/key.pem", dir);
		setenv("PORTICO_AUTH", "keys", 1);
		setenv("PORTICO_AUTH_FILE", auth_path, 1);
	}
	char where[128];
	const char *rest = (const char *)data + 1;
	if (data[0] == 'j' || data[0] == 'p') {
		const char *key_path = data[0] == 'j' ? jwks_path : pem_path;
		char auth[256];
		int length = snprintf(
		        auth, sizeof auth,
		        data[0] == 'j' ? "{\"jwt\": {\"jwksFile\": \"%s\", \"issuer\": \"i\", \"audience\": \"a\"}}"
		                       : "{\"jwt\": {\"pemFiles\": [\"%s\"], \"issuer\": \"i\", \"audience\": \"a\"}}",
		        key_path);
		write_file(auth_path, auth, (size_t)length);
		write_file(key_path, rest, size - 1);
		snprintf(where, sizeof where, "%s: jwt.%s: ", auth_path, data[0] == 'j' ? "jwksFile" : "pemFiles");
		load(where);
		unlink(key_path);
	} else {
		write_file(auth_path, rest, size - 1);
		snprintf(where, sizeof where, "%s: ", auth_path);
		load(where);
	}
	unlink(auth_path);
	return 0;
}
