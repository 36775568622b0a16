/* Configuration from the environment names Temporal's CLI uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char *const variables[] = {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS",
        "TEMPORAL_TLS_CA",
        "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY",
        "TEMPORAL_TLS_SERVER_NAME",
        "TEMPORAL_TLS_CA_DATA",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_DATA",
        "PORTICO_IDENTITY",
};

static int clear_environment(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++)
		unsetenv(variables[i]);
	return 0;
}

static void test_defaults(void **state)
{
	(void)state;
	portico_config cfg;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_config_from_env(&cfg, &err), 0);
	assert_string_equal(cfg.address, "127.0.0.1:7233");
	assert_string_equal(cfg.namespace_name, "default");
	assert_false(cfg.tls);
	assert_null(cfg.api_key);
	assert_non_null(strstr(cfg.identity, "portico@"));
	portico_config_free(&cfg);
}

static void test_api_key_implies_tls_unless_turned_off(void **state)
{
	(void)state;
	setenv("TEMPORAL_ADDRESS", "temporal.example:7233", 1);
	setenv("TEMPORAL_NAMESPACE", "orders", 1);
	setenv("TEMPORAL_API_KEY", "secret", 1);
	portico_config cfg;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_config_from_env(&cfg, &err), 0);
	assert_string_equal(cfg.address, "temporal.example:7233");
	assert_string_equal(cfg.namespace_name, "orders");
	assert_string_equal(cfg.api_key, "secret");
	assert_true(cfg.tls);
	portico_config_free(&cfg);

	setenv("TEMPORAL_TLS", "false", 1);
	assert_int_equal(portico_config_from_env(&cfg, &err), 0);
	assert_false(cfg.tls);
	portico_config_free(&cfg);
}

static void test_tls_material_from_files_and_data(void **state)
{
	(void)state;
	char path[] = "/tmp/portico-test-ca-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "CA PEM\n", 7), 7);
	close(fd);
	setenv("TEMPORAL_TLS_CA", path, 1);
	setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", path, 1);
	setenv("TEMPORAL_TLS_CLIENT_KEY_DATA", "KEY PEM", 1);
	setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.internal", 1);
	portico_config cfg;
	portico_error err = PORTICO_ERROR_INIT;
	assert_int_equal(portico_config_from_env(&cfg, &err), 0);
	assert_true(cfg.tls);
	assert_string_equal(cfg.tls_ca_pem, "CA PEM\n");
	assert_string_equal(cfg.tls_cert_pem, "CA PEM\n");
	assert_string_equal(cfg.tls_key_pem, "KEY PEM");
	assert_string_equal(cfg.tls_server_name, "temporal.internal");
	portico_config_free(&cfg);
	unlink(path);
}

static void test_bad_settings_name_the_variable(void **state)
{
	(void)state;
	portico_config cfg;
	portico_error err = PORTICO_ERROR_INIT;

	setenv("TEMPORAL_TLS_CA", "/nonexistent/ca.pem", 1);
	assert_int_equal(portico_config_from_env(&cfg, &err), -1);
	assert_string_equal(err.message, "TEMPORAL_TLS_CA: cannot open /nonexistent/ca.pem: No such file or directory");
	unsetenv("TEMPORAL_TLS_CA");

	setenv("TEMPORAL_TLS_CERT_DATA", "CERT", 1);
	assert_int_equal(portico_config_from_env(&cfg, &err), -1);
	assert_non_null(strstr(err.message, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"));
	unsetenv("TEMPORAL_TLS_CERT_DATA");

	setenv("TEMPORAL_TLS", "maybe", 1);
	assert_int_equal(portico_config_from_env(&cfg, &err), -1);
	assert_string_equal(err.message, "TEMPORAL_TLS: expected true or false, got \"maybe\"");
	unsetenv("TEMPORAL_TLS");

	setenv("TEMPORAL_ADDRESS", "no-port", 1);
	assert_int_equal(portico_config_from_env(&cfg, &err), -1);
	assert_int_equal(err.code, PORTICO_INVALID_ARGUMENT);
	assert_non_null(strstr(err.message, "TEMPORAL_ADDRESS"));
	portico_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_defaults, clear_environment),
	        cmocka_unit_test_setup(test_api_key_implies_tls_unless_turned_off, clear_environment),
	        cmocka_unit_test_setup(test_tls_material_from_files_and_data, clear_environment),
	        cmocka_unit_test_setup(test_bad_settings_name_the_variable, clear_environment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
