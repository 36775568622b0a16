/* What a caller's headers decide before anything else: "<Host header>\n<listen address>" goes
 * through the auth-off Host check (DNS rebinding), which must never read past the strings and
 * must always let loopback names through, whatever the listen address. */
#include <stdint.h>

#include "auth.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static auth_config *config;
	char *text = fuzz_text(data, size);
	char *listen = strchr(text, '\n');
	if (!listen) {
		free(text);
		return 0;
	}
	*listen++ = '\0';
	/* One configuration per process: auth_config_from_env reads the environment once. */
	if (!config) {
		portico_error err = PORTICO_ERROR_INIT;
		setenv("PORTICO_AUTH", "off", 1);
		setenv("PORTICO_ALLOWED_HOSTS", "portico-gateway,gw.example", 1);
		config = auth_config_from_env(&err);
		if (!config)
			fuzz_fail("auth off does not load", err.message);
	}
	auth_host_allowed(config, text, listen);
	if (!auth_host_allowed(config, "localhost:8080", listen) || !auth_host_allowed(config, "[::1]", listen))
		fuzz_fail("a loopback name was refused", listen);
	free(text);
	return 0;
}
